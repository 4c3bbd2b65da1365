import FleetStore
import Logging
import PurgeCore
import StateStore

/// Which pending URLs the planner may take now (the single origin: all of them).
protocol PlanReadiness: AnyObject {
    /// Of the pending `rows`, the ids that may be planned at `now`, and when to look again for
    /// the others (nil: not by time).
    nonisolated(nonsending) func ready(_ rows: [QueueRow], now: Int64) async throws -> (ready: Set<Int64>, lookAgain: Int64?)
}

/// SPEC §9's "purge once, and only after every origin has the new bytes", as the submitter's
/// planner applies it: a pending URL mapped from a path is planned once every live origin of the
/// site reported the same content for that path, or once `converge` has passed since the first
/// origin reported it — then with a warning naming the origins that lag (``Convergence``).
///
/// "Purged again once they catch up" needs no state here: a laggard that catches up detects the
/// change itself and queues the URL again (it is no longer pending), and that row is ready at
/// once. A URL given by hand (no path), or a path no origin reported, is ready at once.
///
/// The other origins' reports arrive in the shared state without a wake-up here, so while URLs
/// wait the planner looks again every ``pollWhileWaiting`` (and at the converge deadline, and when
/// a laggard's heartbeat ends); with nothing waiting it does not look at all.
final class ConvergenceGate: PlanReadiness {
    let store: PostgresQueueStore
    let identity: FleetIdentity
    let logger: Logger
    let metrics: DaemonMetrics
    /// The fleet stage's grace after a database outage (``FleetMember/livenessGrace(now:)``).
    let livenessGrace: (Int64) -> Int64?

    init(
        store: PostgresQueueStore, identity: FleetIdentity, logger: Logger, metrics: DaemonMetrics,
        livenessGrace: @escaping (Int64) -> Int64? = { _ in nil }
    ) {
        self.store = store
        self.identity = identity
        self.logger = logger
        self.metrics = metrics
        self.livenessGrace = livenessGrace
    }

    /// The live origins the last look found lagging (none while nothing waits).
    private(set) var laggards: Set<String> = []

    /// How often URLs waiting for the origins are looked at again.
    var pollWhileWaiting: Int64 { min(1_000, identity.heartbeatEvery) }

    nonisolated(nonsending) func ready(_ rows: [QueueRow], now: Int64) async throws -> (ready: Set<Int64>, lookAgain: Int64?) {
        var ready = Set<Int64>()
        var byPath: [[UInt8]: [Int64]] = [:]
        for row in rows {
            if let path = row.path { byPath[path, default: []].append(row.id) } else { ready.insert(row.id) }
        }
        guard !byPath.isEmpty else {
            laggards = []
            return (ready, nil)
        }
        let reports = try await store.originsObserving(Array(byPath.keys))
        var lookAgain: Int64?
        let grace = livenessGrace(now)
        var lagging = Set<String>()
        for (_, origins) in reports {
            guard let newest = origins.filter({ $0.content != nil }).max(by: { ($0.sinceMilliseconds ?? 0) < ($1.sinceMilliseconds ?? 0) })
            else { continue }
            for origin in origins
            where origin.content != newest.content && origin.lastSeenMilliseconds + identity.originTimeoutMilliseconds > now {
                lagging.insert(origin.origin)
            }
        }
        laggards = lagging
        for (path, ids) in byPath {
            switch Self.decide(reports[path] ?? [], identity: identity, now: now, graceFrom: grace) {
            case .ready(let laggards, let firstReported):
                ready.formUnion(ids)
                if let firstReported { metrics.converged(seconds: Double(max(0, now - firstReported)) / 1_000) }
                if !laggards.isEmpty {
                    logger.warning(
                        "purging \(RelativePath(bytes: path)) before every origin holds it: \(laggards.joined(separator: ", ")) still lag(s) after converge (\(identity.convergeMilliseconds / 1_000)s); it is purged again when they catch up",
                        metadata: ["purge.lagging_origins": "\(laggards.joined(separator: ","))"])
                }
            case .wait(let until):
                let next = min(until ?? Int64.max, now + pollWhileWaiting)
                lookAgain = min(lookAgain ?? next, next)
            }
        }
        return (ready, lookAgain)
    }

    enum Decision: Equatable {
        /// Plan it; `laggards` lag still (converge passed); `firstReported` when the version was
        /// first reported (nil: nobody reported the path).
        case ready(laggards: [String], firstReported: Int64?)
        case wait(until: Int64?)
    }

    /// One path's decision from every origin's report of it. The version to converge on is the
    /// most recently reported content; it was first reported when the earliest origin that holds
    /// it reported it.
    /// - Parameter graceFrom: after a database outage, origins live at this instant count as live
    ///   (heard of now): their silence was the database's.
    static func decide(_ reports: [OriginReport], identity: FleetIdentity, now: Int64, graceFrom: Int64? = nil) -> Decision {
        let reported = reports.filter { $0.content != nil }
        guard let newest = reported.max(by: { ($0.sinceMilliseconds ?? 0, $0.origin) < ($1.sinceMilliseconds ?? 0, $1.origin) }),
            let target = newest.content
        else { return .ready(laggards: [], firstReported: nil) }
        let first = reported.filter { $0.content == target }.compactMap(\.sinceMilliseconds).min() ?? now
        var machine = Convergence(
            target: Self.content(target), firstReportedMilliseconds: first, convergeMilliseconds: identity.convergeMilliseconds,
            originTimeoutMilliseconds: identity.originTimeoutMilliseconds)
        let origins = reports.map { report in
            var seen = report.lastSeenMilliseconds
            if let graceFrom, seen + identity.originTimeoutMilliseconds > graceFrom { seen = max(seen, now) }
            return Convergence.Origin(name: report.origin, lastSeenMilliseconds: seen, observed: report.content.map(Self.content))
        }
        switch machine.step(origins: origins, now: now) {
        case .purge, .purgeAgain: return .ready(laggards: [], firstReported: first)
        case .purgeLagging(let laggards): return .ready(laggards: laggards, firstReported: first)
        case .wait(let until): return .wait(until: until)
        }
    }

    static func content(_ content: Observation.Content) -> Convergence.Content {
        switch content {
        case .bytes(let hash): .bytes(hash)
        case .deleted: .deleted
        }
    }
}
