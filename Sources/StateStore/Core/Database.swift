import CSQLite

/// `SQLITE_TRANSIENT`: SQLite copies the bound bytes before `sqlite3_bind_*` returns.
/// (The C macro is a cast of -1 and is not imported into Swift.)
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// The open SQLite connection, lent to the closures of ``StateDatabase/transaction(_:)`` and
/// ``StateDatabase/read(_:)``.
///
/// A `Database` is only valid inside the closure it is passed to: do not store it and do not
/// use it from another thread. It is the only type in purgewatch that calls the SQLite C API.
public final class Database {
    let handle: OpaquePointer
    let path: String
    private var statementCache: [String: Statement] = [:]

    init(handle: OpaquePointer, path: String) {
        self.handle = handle
        self.path = path
    }

    func finalizeAll() {
        for statement in statementCache.values { statement.finalize() }
        statementCache.removeAll()
    }

    func error(_ code: Int32, sql: String? = nil) -> DatabaseError {
        DatabaseError(
            extendedResultCode: sqlite3_extended_errcode(handle) == 0 ? code : sqlite3_extended_errcode(handle),
            message: String(cString: sqlite3_errmsg(handle)),
            sql: sql,
            path: path
        )
    }

    /// Runs one or more statements separated by `;`, discarding any rows.
    ///
    /// - Throws: ``DatabaseError``.
    public func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if code != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(errorMessage)
            throw DatabaseError(
                extendedResultCode: sqlite3_extended_errcode(handle), message: message, sql: sql, path: path)
        }
    }

    /// Prepares a statement, or returns the cached one for the same SQL (reset, bindings cleared).
    ///
    /// Cached statements live as long as the connection; prepare once, bind and step many times.
    /// - Throws: ``DatabaseError`` on a syntax error or an unknown table.
    public func prepare(_ sql: String) throws -> Statement {
        if let cached = statementCache[sql] {
            cached.reset()
            cached.clearBindings()
            return cached
        }
        var pointer: OpaquePointer?
        let code = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &pointer, nil)
        guard code == SQLITE_OK, let pointer else { throw error(code, sql: sql) }
        let statement = Statement(pointer: pointer, database: self, sql: sql)
        statementCache[sql] = statement
        return statement
    }

    /// Runs one statement with positional bindings (`?`), returning the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ bindings: [SQLValue] = []) throws -> Int {
        let statement = try prepare(sql)
        try statement.bind(bindings)
        while try statement.step() {}
        statement.reset()
        return changes
    }

    /// Runs a query with positional bindings and maps each row.
    public func query<T>(_ sql: String, _ bindings: [SQLValue] = [], _ row: (Statement) throws -> T) throws -> [T] {
        let statement = try prepare(sql)
        try statement.bind(bindings)
        var result: [T] = []
        while try statement.step() { result.append(try row(statement)) }
        statement.reset()
        return result
    }

    /// The first row of a query, mapped; `nil` when there is none.
    public func queryFirst<T>(_ sql: String, _ bindings: [SQLValue] = [], _ row: (Statement) throws -> T) throws -> T? {
        let statement = try prepare(sql)
        try statement.bind(bindings)
        defer { statement.reset() }
        return try statement.step() ? try row(statement) : nil
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changes: Int { Int(sqlite3_changes64(handle)) }

    /// The rowid of the last successful INSERT.
    public var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(handle) }

    /// `PRAGMA user_version`: the last migration applied.
    public var userVersion: Int {
        get throws { try queryFirst("PRAGMA user_version") { Int($0.int64(0)) } ?? 0 }
    }
}

/// A prepared statement. Bind with 1-based indexes (SQLite's), read columns with 0-based ones.
public final class Statement {
    private var pointer: OpaquePointer?
    unowned let database: Database
    public let sql: String

    init(pointer: OpaquePointer, database: Database, sql: String) {
        self.pointer = pointer
        self.database = database
        self.sql = sql
    }

    func finalize() {
        sqlite3_finalize(pointer)
        pointer = nil
    }

    private func check(_ code: Int32) throws {
        if code != SQLITE_OK { throw database.error(code, sql: sql) }
    }

    /// Binds all positional parameters in order.
    public func bind(_ values: [SQLValue]) throws {
        for (offset, value) in values.enumerated() { try bind(value, at: Int32(offset + 1)) }
    }

    /// Binds one value at a 1-based parameter index.
    public func bind(_ value: SQLValue, at index: Int32) throws {
        switch value {
        case .null: try check(sqlite3_bind_null(pointer, index))
        case .integer(let v): try bind(v, at: index)
        case .real(let v): try check(sqlite3_bind_double(pointer, index, v))
        case .text(let v): try bind(v, at: index)
        case .blob(let v): try bind(v, at: index)
        }
    }

    public func bind(_ value: Int64, at index: Int32) throws {
        try check(sqlite3_bind_int64(pointer, index, value))
    }

    public func bind(_ value: String, at index: Int32) throws {
        try check(sqlite3_bind_text(pointer, index, value, -1, sqliteTransient))
    }

    /// Binds bytes as a BLOB (an empty array binds a zero-length blob, not NULL).
    public func bind(_ value: [UInt8], at index: Int32) throws {
        try value.withUnsafeBytes { raw in
            if raw.count == 0 {
                try check(sqlite3_bind_zeroblob(pointer, index, 0))
            } else {
                try check(
                    sqlite3_bind_blob64(pointer, index, raw.baseAddress, sqlite3_uint64(raw.count), sqliteTransient))
            }
        }
    }

    /// Advances to the next row: `true` while there is a row to read, `false` when done.
    public func step() throws -> Bool {
        let code = sqlite3_step(pointer)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default:
            sqlite3_reset(pointer)
            throw database.error(code, sql: sql)
        }
    }

    /// Steps to completion, ignoring rows (for INSERT/UPDATE/DELETE), then resets.
    public func run() throws {
        while try step() {}
        reset()
    }

    public func reset() { sqlite3_reset(pointer) }
    public func clearBindings() { sqlite3_clear_bindings(pointer) }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(pointer, column) == SQLITE_NULL }
    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(pointer, column) }
    public func double(_ column: Int32) -> Double { sqlite3_column_double(pointer, column) }

    public func text(_ column: Int32) -> String? {
        guard let cString = sqlite3_column_text(pointer, column) else { return nil }
        return String(cString: cString)
    }

    /// The column's bytes (a BLOB, or a TEXT's UTF-8); empty for NULL.
    public func blob(_ column: Int32) -> [UInt8] {
        guard let base = sqlite3_column_blob(pointer, column) else { return [] }
        let count = Int(sqlite3_column_bytes(pointer, column))
        return Array(UnsafeRawBufferPointer(start: base, count: count))
    }

    /// The column as a typed value.
    public func value(_ column: Int32) -> SQLValue {
        switch sqlite3_column_type(pointer, column) {
        case SQLITE_INTEGER: return .integer(int64(column))
        case SQLITE_FLOAT: return .real(double(column))
        case SQLITE_TEXT: return .text(text(column) ?? "")
        case SQLITE_BLOB: return .blob(blob(column))
        default: return .null
        }
    }
}
