import Foundation
import PurgeCore
import StateStore

/// `purgewatch failures` (SPEC §2): the URLs that failed permanently, and `--retry` / `--forget`
/// for all of them or the URLs named. Both go through the running daemon when there is one (its
/// control socket), else they write the state under its lock.
public enum Failures {
    public enum Action: String, Sendable {
        case retry, forget
    }

    /// The result of an action: how many failures it applied to, and the named URLs that were not
    /// among the failures.
    public struct Outcome: Sendable, Equatable {
        public var applied: Int
        public var unmatched: [String]
    }

    /// The control-socket line: `failures-retry` / `failures-forget`, then tab-separated URLs
    /// (none: all).
    public static func command(_ action: Action, urls: [String]) -> String {
        (["failures-\(action.rawValue)"] + urls).joined(separator: "\t")
    }

    /// Parses a control line back into its action and URLs.
    static func parse(_ line: String) -> (Action, [String])? {
        let parts = line.split(separator: "\t").map(String.init)
        guard let verb = parts.first, verb.hasPrefix("failures-"),
            let action = Action(rawValue: String(verb.dropFirst("failures-".count)))
        else { return nil }
        return (action, Array(parts.dropFirst()))
    }

    /// Applies `action` inside `tx`.
    static func apply(_ action: Action, urls: [String], in tx: Database, nowMilliseconds: Int64) throws -> Outcome {
        let matching = try tx.failures(urls: urls.isEmpty ? nil : urls)
        let found = Set(matching.map(\.row.url))
        let unmatched = urls.filter { !found.contains($0) }
        switch action {
        case .retry: try tx.retryFailures(matching, nowMilliseconds: nowMilliseconds)
        case .forget: try tx.forgetFailures(matching)
        }
        return Outcome(applied: matching.count, unmatched: unmatched)
    }

    /// The answer line for an outcome, and back.
    static func answer(_ outcome: Outcome) -> String {
        (["done", "\(outcome.applied)"] + outcome.unmatched).joined(separator: "\t")
    }

    public static func outcome(fromAnswer answer: String) -> Outcome? {
        let parts = answer.split(separator: "\t").map(String.init)
        guard parts.first == "done", parts.count >= 2, let applied = Int(parts[1]) else { return nil }
        return Outcome(applied: applied, unmatched: Array(parts.dropFirst(2)))
    }

    /// Without a daemon: applies `action` to the real state under its single-writer lock.
    /// - Throws: ``DaemonError/stateLocked(_:)`` when another process writes the state.
    public static func applyDirectly(_ action: Action, urls: [String], config: SiteConfig) throws -> Outcome {
        try ManualQueue.withLockedState(config) { try apply(action, urls: urls, in: $0, nowMilliseconds: DaemonClock.system.wallMilliseconds()) }
    }

    /// The failures recorded in the state (read-only; works while the daemon runs).
    public static func list(config: SiteConfig, dryRun: Bool) throws -> [FailureRow] {
        let path = dryRun ? config.dryRunStatePath : config.state.path
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let db = try StateDatabase.openReadOnly(path: path)
        defer { db.close() }
        guard let latest = QueueSchema.migrations.last?.version, try db.userVersion() >= latest else {
            throw NotMigrated(path: path)  // "no failed URLs" would be a guess
        }
        return try db.read { try $0.failures() }
    }

    /// The state was written by an older purgewatch and the daemon has not migrated it yet.
    public struct NotMigrated: Error, CustomStringConvertible {
        public var path: String
        public var description: String {
            "the state \(path) was written by an older purgewatch; start the daemon (it migrates the state) and ask again"
        }
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
