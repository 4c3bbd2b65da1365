import FleetStore
import Foundation
import Logging
import PurgeCore

/// `check-config` with a PostgreSQL `[state] url` (SPEC §9): the URL read in full, where the
/// password would come from (never the password), and — with `--require-database` — whether the
/// database answers and which schema it holds, without writing to it.
enum FleetCheck {
    /// `[state] url` read in full (host, port, `sslmode`), before the config is called valid.
    /// - Throws: exit 78, having said why.
    static func parse(_ config: SiteConfig) throws -> PostgresURL? {
        guard let text = config.state.url else { return nil }
        do {
            return try PostgresURL(text)
        } catch {
            Console.err("\(config.sourcePath): state.url: \(error)")
            throw SysExit.config
        }
    }

    static func report(url: PostgresURL, requireDatabase: Bool) async throws {
        let password = PostgresPassword.resolve(for: url, environment: ProcessInfo.processInfo.environment)
        Console.out("# database: \(url); password: \(password.source)")
        for note in password.notes { Console.err("warning: \(note)") }
        guard requireDatabase else { return }
        var logger = Logger(label: "purgewatch.check-config")
        logger.logLevel = .critical
        let installed: Int?
        do {
            installed = try await PostgresSchema.installedVersion(url: url, password: password.value, logger: logger)
        } catch {
            Console.err("cannot use the database: \(error)")
            throw SysExit.unavailable
        }
        switch installed {
        case nil:
            Console.out("# database: reachable; no purgewatch schema yet (the first daemon creates version \(PostgresSchema.latestVersion))")
        case let version? where version > PostgresSchema.latestVersion:
            Console.err(
                "the database's schema is version \(version), newer than this purgewatch knows (\(PostgresSchema.latestVersion)): upgrade this daemon"
            )
            throw SysExit.config
        case let version?:
            Console.out("# database: reachable; schema version \(version) (this build knows \(PostgresSchema.latestVersion))")
        }
    }
}
