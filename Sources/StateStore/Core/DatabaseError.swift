import CSQLite

/// An error from the state database, carrying SQLite's result code and message.
///
/// `resultCode` is SQLite's primary result code (`SQLITE_BUSY` = 5, `SQLITE_CONSTRAINT` = 19, …);
/// `extendedResultCode` the extended one. See <https://www.sqlite.org/rescode.html>.
public struct DatabaseError: Error, CustomStringConvertible, Sendable, Equatable {
    /// SQLite's primary result code (the low byte of the extended code).
    public var resultCode: Int32 { extendedResultCode & 0xFF }
    /// SQLite's extended result code.
    public let extendedResultCode: Int32
    /// SQLite's message (`sqlite3_errmsg`) or our own.
    public let message: String
    /// The statement that failed, when there was one.
    public let sql: String?
    /// The database file.
    public let path: String?

    public init(extendedResultCode: Int32, message: String, sql: String? = nil, path: String? = nil) {
        self.extendedResultCode = extendedResultCode
        self.message = message
        self.sql = sql
        self.path = path
    }

    public var description: String {
        var text = "SQLite error \(resultCode)"
        if extendedResultCode != resultCode { text += " (extended \(extendedResultCode))" }
        text += ": \(message)"
        if let path { text += " [database \(path)]" }
        if let sql { text += " while executing `\(sql)`" }
        return text
    }

    /// `SQLITE_BUSY` / `SQLITE_LOCKED`: another connection held the lock past the busy timeout.
    public var isBusy: Bool { resultCode == SQLITE_BUSY || resultCode == SQLITE_LOCKED }

    /// The storage is in trouble: `SQLITE_FULL` (disk full), `SQLITE_IOERR`, `SQLITE_READONLY`,
    /// `SQLITE_CANTOPEN` mid-run. Worth retrying once the operator has made room.
    public var isStorageTrouble: Bool {
        resultCode == SQLITE_FULL || resultCode == SQLITE_IOERR || resultCode == SQLITE_READONLY
            || resultCode == SQLITE_CANTOPEN
    }
}
