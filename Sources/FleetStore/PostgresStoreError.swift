import PostgresNIO
import StateStore
import _ConnectionPoolModule

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
        /// A value came back in a shape the store does not expect, or postgres-nio and the server
        /// disagreed on the protocol.
        public static let unexpected = Code(name: "unexpected")
        /// The server refused the user or the password (SQLSTATE class 28), or no password was
        /// found for a method that needs one.
        public static let authentication = Code(name: "authentication")
        /// A submitter's write refused: its lease's term is no longer the account's (another daemon
        /// took the lease over). Not trouble to retry: the daemon stops submitting.
        public static let fenced = Code(name: "fenced")

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
                return PostgresStoreError(code: code(forSQLState: state), message: scrub(message), sqlState: state, database: database)
            }
            // A cancelled query or a pool closed under a cancelled task is the stop, not trouble.
            if error.code == .queryCancelled || (Task.isCancelled && [.poolClosed, .clientClosedConnection].contains(error.code)) {
                return CancellationError()
            }
            var message = "\(error.code)"
            if let underlying = error.underlying { message += ": \(underlying)" }
            let code: Code
            switch error.code {
            case .authMechanismRequiresPassword, .unsupportedAuthMechanism, .saslError: code = .authentication
            case .tooManyParameters, .invalidCommandTag, .unexpectedBackendMessage, .messageDecodingFailure: code = .unexpected
            default: code = .connection
            }
            return PostgresStoreError(code: code, message: scrub(message), database: database)
        }
        if let error = error as? ConnectionPoolError {
            // postgres-nio's pool: no connection for a minute (the circuit breaker), or shut down.
            if error == .requestCancelled || Task.isCancelled { return CancellationError() }
            return PostgresStoreError(code: .connection, message: "\(error)", database: database)
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

    /// The code of a server's refusal: class 28 is the user's or password's, a connection-level
    /// one (class 08, 57P01–57P03 the server stopping or starting, 3D000 no such database) is
    /// `connection`, the rest `server`.
    static func code(forSQLState state: String?) -> Code {
        guard let state else { return .server }
        if state.hasPrefix("28") { return .authentication }
        if state.hasPrefix("08") || ["57P01", "57P02", "57P03", "3D000"].contains(state) { return .connection }
        return .server
    }

    /// True for a unique-index violation (SQLSTATE 23505).
    static func isUniqueViolation(_ error: any Error) -> Bool {
        (error as? PSQLError)?.serverInfo?[.sqlState] == "23505"
    }
}

/// A store error the daemon's stages ride out, by SQLSTATE when the server gave one
/// (<https://www.postgresql.org/docs/15/errcodes-appendix.html>): busy — 40001 serialization
/// failure, 40P01 deadlock, 55P03 lock not available — is retried at once; unavailable — class 08
/// connection exception, 53 insufficient resources, 58 system error, 57P01–57P03 the server
/// stopping or starting, 25006 a read-only transaction (a standby after a failover) — is retried
/// with a backoff and tolerated at start; without a SQLSTATE, a lost connection is unavailable.
/// A refused password or a missing database is neither: a start refuses it, and a stage that
/// meets it mid-run rides it out like any store trouble, saying what to fix.
extension PostgresStoreError: StoreTrouble {
    public var isBusy: Bool { ["40001", "40P01", "55P03"].contains(sqlState ?? "") }

    public var isUnavailable: Bool {
        guard let state = sqlState else { return code == .connection }
        return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("58")
            || ["57P01", "57P02", "57P03", "25006"].contains(state)
    }

    public var remedy: String {
        let named = database ?? "in [state] url"
        if code == .authentication {
            return
                "check the user and password for \(named) (PGPASSWORD, the credential postgresql-password or the passfile; the server's pg_hba.conf), then restart the daemon: it reads the password at start"
        }
        if sqlState == "3D000" { return "create the database \(named), or correct [state] url" }
        if code == .schemaTooNew { return "upgrade this daemon to the release that wrote the database's schema" }
        if code == .fenced { return "nothing: another daemon of the account submits now, and this one claims the lease again when it lapses" }
        if isUnavailable { return "check that the database \(named) is up and reachable; the daemon reconnects by itself" }
        if isBusy { return "nothing: it is retried at once" }
        return "see the database server's log" + (sqlState.map { " for SQLSTATE \($0)" } ?? "")
    }
}
