import ControlProtocol
import StateStore

/// `failures --retry | --forget` on the state (SPEC §2): the one transaction both the daemon (for
/// a command on its socket) and the CLI (when no daemon runs, under the state's lock) apply.
public enum FailureActions {
    /// What an action did: how many failures it applied to, and the URLs named that were not
    /// among the failures.
    public struct Outcome: Sendable, Equatable {
        public var applied: Int
        public var unmatched: [String]

        public init(applied: Int, unmatched: [String]) {
            self.applied = applied
            self.unmatched = unmatched
        }
    }

    /// Applies `action` inside `tx` to the failures named by `urls` (none: all of them).
    public static func apply(_ action: FailureAction, urls: [String], in tx: Database, nowMilliseconds: Int64) throws
        -> Outcome
    {
        let matching = try tx.failures(urls: urls.isEmpty ? nil : urls)
        let found = Set(matching.map(\.row.url))
        let unmatched = urls.filter { !found.contains($0) }
        switch action {
        case .retry: try tx.retryFailures(matching, nowMilliseconds: nowMilliseconds)
        case .forget: try tx.forgetFailures(matching)
        }
        return Outcome(applied: matching.count, unmatched: unmatched)
    }
}
