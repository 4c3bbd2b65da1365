import FleetStore
import Foundation
import StateStore
import Testing

/// Both stores' errors are store trouble the daemon's stages ride out (degraded, retried,
/// nothing lost): what is busy is retried at once, what is unavailable with a backoff, and the
/// rest (a schema too new, a bad URL, a refused statement) is neither. SQLSTATEs from
/// <https://www.postgresql.org/docs/15/errcodes-appendix.html>.
@Suite struct StoreTroubleTests {
    static let database = "postgresql://purgewatch@db.example/purgewatch"

    static func server(_ state: String) -> any StoreTrouble {
        PostgresStoreError(code: .server, message: "refused", sqlState: state, database: database)
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
        ("23505", false, false),  // unique_violation: a bug, not weather
        ("42P01", false, false),  // undefined_table
        ("57014", false, false),  // query_canceled
    ])
    func aServersRefusalIsBusyUnavailableOrNeither(_ state: String, _ busy: Bool, _ unavailable: Bool) {
        let error = Self.server(state)
        #expect(error.isBusy == busy)
        #expect(error.isUnavailable == unavailable)
        #expect((error.remedy != nil) == unavailable)
    }

    @Test func whatIsNotWeatherIsNotRiddenOut() {
        for code in [PostgresStoreError.Code.schemaTooNew, .invalidURL, .passwordInURL, .unexpected] {
            let error: any StoreTrouble = PostgresStoreError(code: code, message: "no", database: Self.database)
            #expect(!error.isBusy && !error.isUnavailable && error.remedy == nil, "must not: \(code) retried as if it passed")
        }
    }

    /// A refused password and a missing database say what to fix, and name the database only as
    /// its redacted URL.
    @Test func theRemedySaysWhatToFix() throws {
        let auth = PostgresStoreError(code: .connection, message: "password authentication failed", sqlState: "28P01", database: Self.database)
        #expect(auth.isUnavailable)
        #expect(try #require(auth.remedy).contains("password"))
        let missing = PostgresStoreError(code: .connection, message: "no such database", sqlState: "3D000", database: Self.database)
        #expect(try #require(missing.remedy).contains("create the database \(Self.database)"))
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
        #expect(try #require(trouble.remedy).contains("127.0.0.1:1"))
        #expect(!"\(error) \(trouble.remedy ?? "")".contains("secret-pw"))
    }

    /// SQLite's errors keep their meaning: busy is busy, a full disk is unavailable.
    @Test func theSQLiteFilesErrorsAreStoreTroubleToo() {
        let busy: any StoreTrouble = DatabaseError(extendedResultCode: 5, message: "database is locked")
        let full: any StoreTrouble = DatabaseError(extendedResultCode: 13, message: "database or disk is full")
        let constraint: any StoreTrouble = DatabaseError(extendedResultCode: 19, message: "constraint failed")
        #expect(busy.isBusy && !busy.isUnavailable)
        #expect(full.isUnavailable && !full.isBusy && full.remedy == nil)
        #expect(!constraint.isBusy && !constraint.isUnavailable)
    }
}
