import ControlProtocol
import Daemon
import FleetStore
import Foundation
import Logging
import PurgeCore
import StateStore

/// `purgewatch failures` (SPEC §2): the URLs that failed permanently, and `--retry` / `--forget`
/// for all of them or the URLs named. Both go through the running daemon when there is one (its
/// control socket), else they write the state under its lock.
public enum Failures {
    public typealias Action = FailureAction

    /// The result of an action: how many failures it applied to, and the named URLs that were not
    /// among the failures.
    public typealias Outcome = FailureActions.Outcome

    /// The command for the running daemon.
    public static func command(_ action: Action, urls: [String]) -> ControlCommand { .failures(action, urls: urls) }

    /// The outcome in the daemon's answer; nil for any other answer (a refusal).
    public static func outcome(from answer: ControlAnswer) -> Outcome? {
        guard case .failuresApplied(let applied, let unmatched) = answer else { return nil }
        return Outcome(applied: applied, unmatched: unmatched)
    }

    /// Without a daemon: applies `action` to the real state under its single-writer lock.
    /// - Throws: ``DaemonError/stateLocked(_:)`` when another process writes the state.
    public static func applyDirectly(_ action: Action, urls: [String], config: SiteConfig) throws -> Outcome {
        try ManualQueue.withLockedState(config) {
            try FailureActions.apply(action, urls: urls, in: $0, nowMilliseconds: DaemonClock.system.wallMilliseconds())
        }
    }

    /// The failures recorded in the state (read-only; works while the daemon runs).
    /// - Throws: ``StateStore/StateNotMigrated`` for a state an older release wrote ("no failed
    ///   URLs" would be a guess).
    public static func list(config: SiteConfig, dryRun: Bool) async throws -> [FailureRow] {
        if let text = config.state.url, let fleet = config.fleet {
            // The site's failures are in the fleet's shared state.
            let url = try PostgresURL(text)
            let store = try await PostgresQueueStore.connect(
                url: url, site: fleet.site, password: PostgresPassword.resolve(for: url, environment: ProcessInfo.processInfo.environment).value,
                migrating: false, logger: Logger(label: "purgewatch.failures") { _ in SwiftLogNoOpLogHandler() })
            do {
                let rows = try await store.failures()
                await store.close()
                return rows
            } catch {
                await store.close()
                throw error
            }
        }
        return try await SQLiteStateViews(path: dryRun ? config.dryRunStatePath : config.state.path).failures()
    }

    /// `failures --json`: `[{"url", "path", "error_code", "message", "batch_id", "failed_at"}]`.
    public static func json(_ failures: [FailureRow]) -> String {
        typealias J = JSONText
        func string(_ value: String?) -> String { value.map(J.string) ?? "null" }
        return J.array(
            failures.map { failure in
                J.object([
                    ("url", J.string(failure.row.url)),
                    ("path", string(failure.row.path.map { RelativePath($0).description })),
                    ("error_code", string(failure.row.errorCode)), ("message", string(failure.message)),
                    ("batch_id", failure.row.batchID.map { "\($0)" } ?? "null"),
                    ("failed_at", string(failure.row.failedMilliseconds.map { iso8601(Date(timeIntervalSince1970: Double($0) / 1_000)) })),
                ])
            })
    }

    /// The readable list.
    public static func text(_ failures: [FailureRow]) -> String {
        guard !failures.isEmpty else { return "no failed URLs" }
        return failures.map { failure in
            let when = failure.row.failedMilliseconds.map { iso8601(Date(timeIntervalSince1970: Double($0) / 1_000)) } ?? "?"
            var line = "\(failure.row.url)  \(failure.row.errorCode ?? "?")  \(when)"
            if let batch = failure.row.batchID { line += "  batch \(batch)" }
            if let message = failure.message { line += "\n    \(message)" }
            return line
        }.joined(separator: "\n")
    }
}
