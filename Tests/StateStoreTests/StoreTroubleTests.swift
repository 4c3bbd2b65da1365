import Foundation
import StateStore
import TestPostgres
import Testing
import _ConnectionPoolModule

@testable import FleetStore

/// Both stores' errors are store trouble the daemon's stages ride out (degraded, retried,
/// nothing lost): what is busy is retried at once, what is unavailable with a backoff, and the
/// rest (a schema too new, a bad URL, a refused statement) is neither. SQLSTATEs from
/// <https://www.postgresql.org/docs/15/errcodes-appendix.html>.
@Suite struct StoreTroubleTests {
    static let database = "postgresql://purgewatch@db.example/purgewatch"

    /// A server's refusal as the store makes it (the code from the SQLSTATE, as `wrapping` does).
    static func server(_ state: String) -> any StoreTrouble {
        PostgresStoreError(code: PostgresStoreError.code(forSQLState: state), message: "refused", sqlState: state, database: database)
    }

    @Test(arguments: [
        ("40001", true, false),  // serialization_failure
        ("40P01", true, false),  // deadlock_detected
        ("55P03", true, false),  // lock_not_available
        ("53100", false, true),  // disk_full
        ("53300", false, true),  // too_many_connections
        ("57P01", false, true),  // admin_shutdown
        ("57P03", false, true),  // cannot_connect_now
        ("58030", false, true),  // io_error
        ("08006", false, true),  // connection_failure
        ("25006", false, true),  // read_only_sql_transaction: a standby after a failover
        ("23505", false, false),  // unique_violation: a bug, not weather
        ("42P01", false, false),  // undefined_table
        ("57014", false, false),  // query_canceled
        ("57P04", false, false),  // database_dropped
        ("25P02", false, false),  // in_failed_sql_transaction
        ("28P01", false, false),  // invalid_password: the operator's to fix, refused at start
        ("3D000", false, false),  // invalid_catalog_name: no such database
    ])
    func aServersRefusalIsBusyUnavailableOrNeither(_ state: String, _ busy: Bool, _ unavailable: Bool) {
        let error = Self.server(state)
        #expect(error.isBusy == busy)
        #expect(error.isUnavailable == unavailable)
        #expect(!error.remedy.contains("free space"), "must not: a database told to free disk space")
    }

    /// What does not pass by itself is not tolerated at start: the start refuses it, saying what
    /// to do (a stage that meets it mid-run still rides it out, degraded).
    @Test func whatDoesNotPassByItselfIsRefusedAtStart() {
        for code in [PostgresStoreError.Code.schemaTooNew, .invalidURL, .passwordInURL, .unexpected, .authentication] {
            let error: any StoreTrouble = PostgresStoreError(code: code, message: "no", database: Self.database)
            #expect(!error.isBusy && !error.isUnavailable, "must not: \(code) waited for as if it passed")
            #expect(!error.remedy.isEmpty)
        }
    }

    /// postgres-nio's pool, while the database is away: a minute without a connection trips its
    /// circuit breaker — unavailable, not an unknown error that would end a stage; a cancelled
    /// request is the stop.
    @Test func thePoolsErrorsAreStoreTrouble() throws {
        let url = try PostgresURL("postgresql://purgewatch@db.example/purgewatch")
        let tripped = PostgresStoreError.wrapping(ConnectionPoolError.connectionCreationCircuitBreakerTripped, url: url)
        let trouble = try #require(tripped as? any StoreTrouble)
        #expect(trouble.isUnavailable && !trouble.isBusy)
        #expect(PostgresStoreError.wrapping(ConnectionPoolError.requestCancelled, url: url) is CancellationError)
    }

    /// A refused password and a missing database say what to fix, and name the database only as
    /// its redacted URL.
    @Test func theRemedySaysWhatToFix() throws {
        let auth = Self.server("28P01")
        #expect(auth.remedy.contains("password") && auth.remedy.contains("restart"))
        #expect(Self.server("3D000").remedy.contains("create the database \(Self.database)"))
        #expect(Self.server("08006").remedy.contains("up and reachable"))
    }

    /// A real refusal: nothing listens on the port. The store's error is unavailable, not busy,
    /// and its remedy names the database without a password.
    @Test func aDatabaseThatIsNotThereIsUnavailable() async throws {
        let url = try PostgresURL("postgresql://purgewatch:secret-pw@127.0.0.1:1/purgewatch", allowingPassword: true)
        let error = try await #require(throws: PostgresStoreError.self) {
            try await PostgresQueueStore.connect(url: url, site: "www", logger: TemporaryPostgres.quietLogger)
        }
        let trouble: any StoreTrouble = error
        #expect(error.code == .connection && trouble.isUnavailable && !trouble.isBusy)
        #expect(trouble.remedy.contains("127.0.0.1:1"))
        #expect(!"\(error) \(trouble.remedy)".contains("secret-pw"))
    }

    /// SQLite's errors keep their meaning: busy is busy, a full disk is unavailable.
    @Test func theSQLiteFilesErrorsAreStoreTroubleToo() {
        let busy: any StoreTrouble = DatabaseError(extendedResultCode: 5, message: "database is locked")
        let full: any StoreTrouble = DatabaseError(extendedResultCode: 13, message: "database or disk is full")
        let constraint: any StoreTrouble = DatabaseError(extendedResultCode: 19, message: "constraint failed")
        #expect(busy.isBusy && !busy.isUnavailable)
        #expect(full.isUnavailable && !full.isBusy && full.remedy.hasPrefix("free space on the state's file system"))
        #expect(!constraint.isBusy && !constraint.isUnavailable)
    }
}
