import PostgresNIO
import StateStore

/// One origin of the site as `status` lists it (SPEC §9).
public struct FleetOrigin: Sendable, Hashable {
    public var name: String
    public var firstSeenMilliseconds: Int64
    public var lastSeenMilliseconds: Int64
    /// Paths whose newest version another origin reported and this one does not hold: reported
    /// within `converge` (the purge waits for it), and longer ago (it lags past `converge`).
    public var laggingPaths = 0
    public var laggingPastConverge = 0

    public init(name: String, firstSeenMilliseconds: Int64, lastSeenMilliseconds: Int64) {
        self.name = name
        self.firstSeenMilliseconds = firstSeenMilliseconds
        self.lastSeenMilliseconds = lastSeenMilliseconds
    }
}

/// The operator's read of a fleet's shared state: the site's queue as ``StateOverview`` holds a
/// single origin's (counts, recent batches, failures, the account's quota), its origins, and the
/// submitter lease of `leaseKey`.
extension PostgresQueueStore {
    /// The queue part of an overview, the origins and the lease, in one read-only transaction
    /// (one snapshot). `filesTracked` and `meta` are left to the origin's own state.
    /// - Parameters:
    ///   - convergeMilliseconds: `converge`, and `nowMilliseconds`: what lags past it.
    public nonisolated(nonsending) func fleetOverview(
        _ request: OverviewRequest, leaseKey: String, convergeMilliseconds: Int64, nowMilliseconds: Int64
    ) async throws -> (queue: StateOverview, origins: [FleetOrigin], lease: LeaseClaim?) {
        try await transaction(fenced: false) { unit in
            try await unit.run("SET TRANSACTION READ ONLY, ISOLATION LEVEL REPEATABLE READ")
            let overview = try await unit.queueOverview(request)
            var origins: [FleetOrigin] = []
            for try await (name, first, last) in try await unit.run(
                "SELECT origin, first_seen, last_seen FROM origins WHERE site = \(site) ORDER BY origin COLLATE \"C\""
            ).decode((String, Int64, Int64).self) {
                origins.append(FleetOrigin(name: name, firstSeenMilliseconds: first, lastSeenMilliseconds: last))
            }
            // An origin lags on a path when it reported other bytes than the newest report of it,
            // or reported nothing since it joined while the path changed (it missed the change);
            // the version counts from its first report, as the planner's convergence does.
            let overdue = nowMilliseconds - convergeMilliseconds
            var lagging: [String: (Int, Int)] = [:]
            for try await (origin, within, past) in try await unit.run(
                """
                WITH newest AS (
                    SELECT DISTINCT ON (path) path, hash FROM observations WHERE site = \(site)
                    ORDER BY path, observed_at DESC, origin DESC
                ), latest AS (
                    SELECT n.path, n.hash, min(o.observed_at) AS since FROM newest n
                    JOIN observations o ON o.site = \(site) AND o.path = n.path AND o.hash IS NOT DISTINCT FROM n.hash
                    GROUP BY n.path, n.hash
                )
                SELECT r.origin, count(*) FILTER (WHERE l.since > \(overdue)), count(*) FILTER (WHERE l.since <= \(overdue))
                FROM origins r CROSS JOIN latest l
                LEFT JOIN observations o ON o.site = r.site AND o.origin = r.origin AND o.path = l.path
                WHERE r.site = \(site)
                  AND ((o.origin IS NULL AND l.since >= r.first_seen) OR (o.origin IS NOT NULL AND o.hash IS DISTINCT FROM l.hash))
                GROUP BY r.origin
                """
            ).decode((String, Int, Int).self) {
                lagging[origin] = (within, past)
            }
            for index in origins.indices {
                if let (within, past) = lagging[origins[index].name] {
                    origins[index].laggingPaths = within
                    origins[index].laggingPastConverge = past
                }
            }
            let lease = try await unit.lease(account: leaseKey)
            return (overview, origins, lease)
        }
    }

    /// The site's queue as the metrics endpoint shows it (``fleetOverview(_:leaseKey:convergeMilliseconds:nowMilliseconds:)``'s
    /// queue part, without the origins' lag): one read-only snapshot.
    public nonisolated(nonsending) func queueOverview(_ request: OverviewRequest) async throws -> StateOverview {
        try await transaction(fenced: false) { unit in
            try await unit.run("SET TRANSACTION READ ONLY, ISOLATION LEVEL REPEATABLE READ")
            return try await unit.queueOverview(request)
        }
    }

    /// The task ids recorded on the site's batches updated since `milliseconds`: a lookup of an
    /// in-flight batch must not take one of them for its own.
    public nonisolated(nonsending) func recordedTaskIDs(since milliseconds: Int64) async throws -> Set<String> {
        try await read { unit in
            var ids = Set<String>()
            for try await id in try await unit.run(
                "SELECT task_id FROM batches WHERE site = \(site) AND task_id IS NOT NULL AND updated_at >= \(milliseconds)"
            ).decode(String.self) {
                ids.insert(id)
            }
            return ids
        }
    }

    /// The site's origins with their heartbeats, by name (the fleet stage's metrics).
    public nonisolated(nonsending) func origins() async throws -> [FleetOrigin] {
        try await read { unit in
            var origins: [FleetOrigin] = []
            for try await (name, first, last) in try await unit.run(
                "SELECT origin, first_seen, last_seen FROM origins WHERE site = \(site) ORDER BY origin COLLATE \"C\""
            ).decode((String, Int64, Int64).self) {
                origins.append(FleetOrigin(name: name, firstSeenMilliseconds: first, lastSeenMilliseconds: last))
            }
            return origins
        }
    }

    /// Every failed URL of the site not retried or forgotten, newest first, with its batch's last
    /// error (`purgewatch failures`).
    public nonisolated(nonsending) func failures() async throws -> [FailureRow] {
        try await read { try await $0.failures(limit: 10_000) }
    }

}

extension PostgresUnit {
    func failures(limit: Int) async throws -> [FailureRow] {
        var rows: [FailureRow] = []
        for try await t in try await run(
            """
            SELECT q.id, q.url, q.area, q.path, q.kind, q.first_seen, q.state, q.batch_id, q.retries, q.error_code, q.failed_at,
                   b.last_error_message
            FROM queue q LEFT JOIN batches b ON b.id = q.batch_id
            WHERE q.site = \(site) AND q.state = 'failed' ORDER BY q.id DESC LIMIT \(limit)
            """
        ).decode((Int64, String, String, ByteBuffer?, String, Int64, String, Int64?, Int, String?, Int64?, String?).self) {
            rows.append(
                FailureRow(
                    row: QueueRow(
                        id: t.0, url: t.1, area: t.2, path: t.3.map { Array($0.readableBytesView) },
                        kind: QueueKind(rawValue: t.4) ?? .modified, firstSeenMilliseconds: t.5,
                        state: QueueState(rawValue: t.6) ?? .failed, batchID: t.7, retries: t.8, errorCode: t.9, failedMilliseconds: t.10),
                    message: t.11))
        }
        return rows
    }
}

extension PostgresUnit {
    /// The site's queue, batches, failures and the quota rows, as ``StateOverview`` holds a single
    /// origin's (`filesTracked` and `meta` are the origin's own).
    func queueOverview(_ request: OverviewRequest) async throws -> StateOverview {
        var overview = StateOverview()
        for try await (count, oldest) in try await run(
            """
            SELECT count(*), min(q.first_seen) FROM queue q LEFT JOIN batches b ON b.id = q.batch_id
            WHERE q.site = \(site) AND (q.state = 'pending' OR (q.state = 'batched' AND b.state IN ('planned', 'sending')))
            """
        ).decode((Int, Int64?).self) {
            overview.unsentURLs = count
            overview.oldestUnsentMilliseconds = oldest
        }
        for try await (count, earliest) in try await run(
            """
            SELECT count(*), min(b.next_attempt_at) FROM queue q JOIN batches b ON b.id = q.batch_id
            WHERE q.site = \(site) AND q.state = 'batched' AND b.state = 'waiting-quota'
            """
        ).decode((Int, Int64?).self) {
            overview.waitingQuotaURLs = count
            overview.earliestQuotaWaitMilliseconds = earliest
        }
        for try await (state, count) in try await run(
            "SELECT state, count(*) FROM queue WHERE site = \(site) AND state IN ('pending', 'batched', 'failed') GROUP BY state"
        ).decode((String, Int).self) {
            if let state = QueueState(rawValue: state) { overview.queueCounts[state] = count }
        }
        for state in [QueueState.pending, .batched, .failed] where overview.queueCounts[state] == nil { overview.queueCounts[state] = 0 }
        for try await (state, count, accepted) in try await run(
            "SELECT state, count(*), max(accepted_at) FROM batches WHERE site = \(site) GROUP BY state"
        ).decode((String, Int, Int64?).self) {
            if let state = BatchState(rawValue: state) { overview.batchCounts[state] = count }
            if let accepted { overview.lastAcceptedMilliseconds = max(overview.lastAcceptedMilliseconds ?? accepted, accepted) }
        }
        if let since = request.batchesUpdatedSinceMilliseconds, request.batchLimit > 0 {
            overview.recentBatches = try await batchRows(
                """
                SELECT \(unescaped: PostgresUnit.batchColumns) FROM batches WHERE site = \(site) AND (updated_at >= \(since)
                    OR state IN ('planned', 'sending', 'accepted', 'waiting-quota', 'failed', 'unverified'))
                ORDER BY id DESC LIMIT \(request.batchLimit)
                """)
        }
        if request.failureLimit > 0 { overview.failures = try await failures(limit: request.failureLimit) }
        overview.quotaRows = try await quotaRows()
        return overview
    }
}
