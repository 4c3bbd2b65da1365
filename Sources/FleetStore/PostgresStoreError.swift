import PostgresNIO
import StateStore

/// An error from the fleet's PostgreSQL state: what went wrong, in words an operator can act on,
/// with the server's SQLSTATE when the server said it.
///
/// Its description never holds a password: the database is named by its redacted URL
/// (``PostgresURL/description``), and every message is scrubbed of the password it was given
/// before it is stored. postgres-nio's own `PSQLError` prints only a generic text (by design); the
/// store turns it into this, keeping the server's message, detail and hint.
public struct PostgresStoreError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure, for a caller that branches on it.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let name: String

        /// The URL could not be read (``PostgresURL/init(_:allowingPassword:)``).
        public static let invalidURL = Code(name: "invalid URL")
        /// A password was written in the URL outside a test.
        public static let passwordInURL = Code(name: "password in URL")
        /// No connection: refused, unreachable, TLS or authentication failed, or lost.
        public static let connection = Code(name: "connection")
        /// The server refused a statement (``PostgresStoreError/sqlState`` says why).
        public static let server = Code(name: "server")
        /// The database's schema is newer than this purgewatch knows: it writes nothing.
        public static let schemaTooNew = Code(name: "schema too new")
        /// A value came back in a shape the store does not expect.
        public static let unexpected = Code(name: "unexpected")

        public var description: String { name }
    }

    public let code: Code
    public let message: String
    /// The server's SQLSTATE (`23505` unique_violation, `40001` serialization_failure, …), when
    /// the server answered. See <https://www.postgresql.org/docs/15/errcodes-appendix.html>.
    public let sqlState: String?
    /// The database, as its redacted URL.
    public let database: String?

    public init(code: Code, message: String, sqlState: String? = nil, database: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.database = database
    }

    public var description: String {
        var text = "PostgreSQL \(code) error"
        if let sqlState { text += " \(sqlState)" }
        text += ": \(message)"
        if let database { text += " [database \(database)]" }
        return text
    }

    /// postgres-nio's errors, and anything else a query threw, in this shape; the password is
    /// scrubbed from every text kept. An error already of this type passes through.
    static func wrapping(_ error: any Error, url: PostgresURL) -> any Error {
        if let error = error as? PostgresStoreError { return error }
        let database = url.description
        func scrub(_ text: String) -> String { url.redacting(text) }
        if let error = error as? PSQLError {
            if error.code == .server, let info = error.serverInfo {
                var message = info[.message] ?? "the server refused the statement"
                if let detail = info[.detail] { message += " (\(detail))" }
                if let hint = info[.hint] { message += "; hint: \(hint)" }
                let state = info[.sqlState]
                // Authentication and connection-level refusals (28xxx, 08xxx, 57P0x, 3D000 no such
                // database) are the operator's to fix: say so by the code.
                let connectionStates = ["28", "08", "3D", "57"]
                let code: Code = state.map { s in connectionStates.contains { s.hasPrefix($0) } } == true ? .connection : .server
                return PostgresStoreError(code: code, message: scrub(message), sqlState: state, database: database)
            }
            var message = "\(error.code)"
            if let underlying = error.underlying { message += ": \(underlying)" }
            return PostgresStoreError(code: .connection, message: scrub(message), database: database)
        }
        if let error = error as? PostgresDecodingError {
            return PostgresStoreError(
                code: .unexpected,
                message: scrub("column \(error.columnName) (\(error.postgresType)) is not a \(error.targetType): \(error.code)"),
                database: database)
        }
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError ?? error.beginError ?? error.commitError ?? error.rollbackError {
                return wrapping(inner, url: url)
            }
        }
        return error
    }

    /// True for a unique-index violation (SQLSTATE 23505).
    static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }
}

/// A store error the daemon's stages ride out: a server that is away, restarting or out of
/// resources is unavailable (retried with a backoff, degraded meanwhile); a serialization failure,
/// a deadlock or a lock not available is busy (retried at once). SQLSTATE classes: 08 connection
/// exception, 53 insufficient resources, 57P01–57P03 the server shutting down or starting, 58
/// system error; <https://www.postgresql.org/docs/15/errcodes-appendix.html>.
extension PostgresStoreError: StoreTrouble {
    public var isBusy: Bool { ["40001", "40P01", "55P03"].contains(sqlState ?? "") }

    public var isUnavailable: Bool {
        if code == .connection { return true }
        guard code == .server, let state = sqlState else { return false }
        return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("58") || ["57P01", "57P02", "57P03"].contains(state)
    }

    public var remedy: String? {
        guard isUnavailable else { return nil }
        let named = database ?? "in [state] url"
        switch sqlState {
        case let state? where state.hasPrefix("28"):
            return "check the password for \(named) (PGPASSWORD, the credential postgresql-password or the passfile); the daemon retries"
        case "3D000":
            return "create the database \(named) or correct [state] url; the daemon retries"
        default:
            return "check that the database \(named) is up and reachable; the daemon reconnects by itself"
        }
    }
}
