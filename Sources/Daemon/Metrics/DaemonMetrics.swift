import Foundation
import Prometheus
import StateStore
import Synchronization
import TencentCDN

/// The daemon's Prometheus series (SPEC §7), in one registry with HELP text for each.
///
/// Stages update counters and the histogram as things happen (API requests, walks, overflows);
/// the gauges that describe the state (queue, batches, quota, files) are set from a read-only
/// snapshot of the database at scrape time, so a scrape never waits on the daemon's actor.
///
/// The registry is used directly rather than through swift-metrics' facade: the facade has no
/// way to attach HELP text, and swift-prometheus refuses (fatally) a family registered twice with
/// different help.
public final class DaemonMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    static let queueStates = ["pending", "batched", "waiting_quota", "failed"]

    private let filesTracked: Gauge
    private let oldestPendingAge: Gauge
    private let lastAccepted: Gauge
    private let watches: Gauge
    private let up: Gauge
    private let overflows: Counter
    private let walkSeconds: DurationHistogram

    /// A family's full name and HELP text.
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    public init() {
        filesTracked = registry.makeGauge(descriptor: Self.named("purgewatch_files_tracked", "Files in the manifest."))
        oldestPendingAge = registry.makeGauge(
            descriptor: Self.named("purgewatch_oldest_pending_age_seconds", "Age of the oldest URL waiting to be planned (0 when none)."))
        lastAccepted = registry.makeGauge(
            descriptor: Self.named(
                "purgewatch_last_accepted_timestamp_seconds", "Unix time the API last accepted a purge batch (0 before the first)."))
        watches = registry.makeGauge(descriptor: Self.named("purgewatch_watches", "inotify watches held."))
        up = registry.makeGauge(descriptor: Self.named("purgewatch_up", "1 while the daemon runs."))
        overflows = registry.makeCounter(
            descriptor: Self.named("purgewatch_inotify_overflows_total", "inotify queue overflows (each recovered by a full walk)."))
        walkSeconds = registry.makeDurationHistogram(
            descriptor: Self.named("purgewatch_walk_seconds", "Duration of full walks of the tree against the manifest."),
            buckets: [.milliseconds(100), .milliseconds(500), .seconds(1), .seconds(5), .seconds(30), .seconds(120), .seconds(600)])
        up.set(to: 1)
        for state in Self.queueStates { _ = queueGauge(state) }
        for state in BatchState.allCases { _ = batchGauge(state.rawValue) }
        for reason in ["reconcile", "flush", "overflow", "root_replaced", "watch_failed", "other"] { _ = walkCounter(reason) }
    }

    /// A fleet's queue, batches and quota as the fleet stage last read them from the shared state
    /// (SPEC §9); nil for a single origin, whose endpoint reads its own file. The origin's own
    /// SQLite file holds no queue on a fleet: its rows would read 0.
    private let sharedQueue = Mutex<StateOverview?>(nil)

    /// A fleet's daemon: until the fleet stage has read the shared queue, its gauges read 0 (never
    /// the origin's own file).
    func sharedQueueExpected() {
        sharedQueue.withLock { $0 = $0 ?? StateOverview() }
    }

    /// The fleet stage read the site's queue from the shared state (at each heartbeat).
    func sharedQueueRead(_ overview: StateOverview) {
        sharedQueue.withLock { $0 = overview }
    }

    /// The state-derived part of a scrape: `local` (the origin's file: files tracked, meta) with
    /// the queue, batches and quota a fleet's daemon last read from the shared state.
    func overview(local: StateOverview) -> StateOverview {
        guard var shared = sharedQueue.withLock({ $0 }) else { return local }
        shared.filesTracked = local.filesTracked
        shared.meta = local.meta
        return shared
    }

    /// `purgewatch_fleet_submitter`: 1 on the daemon that holds its fleet's submitter lease
    /// (SPEC §9); only a fleet's daemons export it.
    func fleetSubmitter(_ holds: Bool) {
        registry.makeGauge(
            descriptor: Self.named("purgewatch_fleet_submitter", "1 while this daemon holds its fleet's submitter lease, else 0.")
        ).set(to: holds ? 1 : 0)
    }

    /// `purgewatch_fleet_origins{state}`: the site's origins as this daemon sees them (SPEC §9):
    /// live and holding every version, live but lagging (named by this daemon's planner: only the
    /// submitter knows), gone (silent for `origin_timeout`).
    func fleetOrigins(live: Int, lagging: Int, gone: Int) {
        for (state, count) in [("live", live), ("lagging", lagging), ("gone", gone)] {
            registry.makeGauge(
                descriptor: Self.named("purgewatch_fleet_origins", "The site's origins by state (live, lagging, gone)."),
                labels: [("state", state)]
            ).set(to: Double(count))
        }
    }

    /// `purgewatch_converge_seconds`: from the first origin's report of a URL's new version to its
    /// planning for a purge (SPEC §9).
    func converged(seconds: Double) {
        registry.makeDurationHistogram(
            descriptor: Self.named(
                "purgewatch_converge_seconds", "Seconds from the first origin's report of a new version to its purge being planned."),
            buckets: [.seconds(1), .seconds(5), .seconds(15), .seconds(30), .seconds(60), .seconds(120), .seconds(300), .seconds(900)]
        ).recordNanoseconds(Int64(seconds * 1e9))
    }

    /// `purgewatch_provider_info{product}` 1: which provider purges (SPEC §10, "the provider named").
    public func provider(_ product: String) {
        registry.makeGauge(
            descriptor: Self.named("purgewatch_provider_info", "1, labelled with the provider that purges (cdn, edgeone)."),
            labels: [("product", product)]
        ).set(to: 1)
    }

    private func queueGauge(_ state: String) -> Gauge {
        registry.makeGauge(descriptor: Self.named("purgewatch_queue_urls", "Queued URLs by state."), labels: [("state", state)])
    }

    private func batchGauge(_ state: String) -> Gauge {
        registry.makeGauge(
            descriptor: Self.named("purgewatch_batches", "Purge batches recorded (7 days of history) by state."), labels: [("state", state)])
    }

    private func walkCounter(_ reason: String) -> Counter {
        registry.makeCounter(descriptor: Self.named("purgewatch_walks_total", "Full walks of the tree, by reason."), labels: [("reason", reason)])
    }

    /// One HTTP attempt against the API (`code` is `OK` for success).
    public func apiRequest(action: String, code: String) {
        registry.makeCounter(
            descriptor: Self.named("purgewatch_api_requests_total", "Tencent Cloud API requests by action and result code (OK for success)."),
            labels: [("action", action), ("code", code)]
        ).increment()
    }

    /// A full walk of the tree finished.
    public func walked(reason: String, duration: Duration) {
        walkCounter(reason).increment()
        walkSeconds.record(duration)
    }

    public func overflowed() { overflows.increment() }

    public func setWatches(_ count: Int) { watches.set(to: Double(count)) }

    /// The state-derived gauges, from a read-only snapshot.
    public struct Snapshot: Sendable {
        public var filesTracked = 0
        /// `pending` = not yet accepted (planned or being sent included); `batched` = accepted,
        /// not yet verified.
        public var queue: [String: Int] = [:]
        public var oldestPendingAge: Double = 0
        public var batches: [BatchState: Int] = [:]
        public var quota: [(area: String, kind: QuotaKind, available: Int)] = []
        public var lastAccepted: Double = 0
    }

    /// The gauges' values from the store's overview (``StateStore/StateViews``: one read
    /// transaction, the same unit `status` reads).
    public static func snapshot(of overview: StateOverview, now: Date) -> Snapshot {
        var snapshot = Snapshot()
        snapshot.filesTracked = overview.filesTracked
        let unsent = overview.unsentURLs
        let waiting = overview.waitingQuotaURLs
        let planned = unsent - (overview.queueCounts[.pending] ?? 0)
        snapshot.queue = [
            "pending": unsent,
            "batched": max(0, (overview.queueCounts[.batched] ?? 0) - waiting - planned),
            "waiting_quota": waiting,
            "failed": overview.queueCounts[.failed] ?? 0,
        ]
        if let oldest = overview.oldestUnsentMilliseconds {
            snapshot.oldestPendingAge = max(0, now.timeIntervalSince1970 - Double(oldest) / 1_000)
        }
        snapshot.batches = overview.batchCounts
        snapshot.quota = QuotaBook.effective(overview.quotaRows, now: now).map { ($0.area, $0.kind, $0.available) }
        snapshot.lastAccepted = overview.lastAcceptedMilliseconds.map { Double($0) / 1_000 } ?? 0
        return snapshot
    }

    /// The text exposition format, with the gauges set from `snapshot` first.
    public func exposition(_ snapshot: Snapshot) -> String {
        filesTracked.set(to: Double(snapshot.filesTracked))
        for state in Self.queueStates { queueGauge(state).set(to: Double(snapshot.queue[state] ?? 0)) }
        oldestPendingAge.set(to: snapshot.oldestPendingAge)
        for state in BatchState.allCases { batchGauge(state.rawValue).set(to: Double(snapshot.batches[state] ?? 0)) }
        for row in snapshot.quota {
            registry.makeGauge(
                descriptor: Self.named(
                    "purgewatch_quota_available",
                    "Purges left today by area and kind (url, path), as last read from DescribePurgeQuota and counted since."),
                labels: [("area", row.area), ("kind", row.kind.rawValue)]
            ).set(to: Double(row.available))
        }
        lastAccepted.set(to: snapshot.lastAccepted)
        return registry.emitToString()
    }
}
