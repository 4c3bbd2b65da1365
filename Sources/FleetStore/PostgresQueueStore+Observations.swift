import PostgresNIO
import StateStore

/// What one origin found at one path: the SHA-256 of the file's bytes, or that it is gone.
public struct Observation: Sendable, Hashable {
    public enum Content: Sendable, Hashable {
        case bytes([UInt8])
        case deleted
    }

    public var path: [UInt8]
    public var content: Content

    public init(path: [UInt8], content: Content) {
        self.path = path
        self.content = content
    }
}

/// One origin of the site as a path's convergence sees it: when it was last heard of, what it
/// last reported at the path (nil: never reported it), and since when it has reported that
/// content (a report of the same content again does not move it: the earliest of the origins'
/// is when the version was first reported, where `converge` counts from).
public struct OriginReport: Sendable, Hashable {
    public var origin: String
    public var lastSeenMilliseconds: Int64
    public var content: Observation.Content?
    public var sinceMilliseconds: Int64?

    public init(origin: String, lastSeenMilliseconds: Int64, content: Observation.Content?, sinceMilliseconds: Int64? = nil) {
        self.origin = origin
        self.lastSeenMilliseconds = lastSeenMilliseconds
        self.content = content
        self.sinceMilliseconds = sinceMilliseconds
    }
}

/// The origins' reports (schema version 2, SPEC §9): each origin records what it detected per
/// path under its own name, with a heartbeat; the convergence of a URL version is computed from
/// every origin's latest report and heartbeat.
extension PostgresQueueStore {
    /// `origin` is alive at `nowMilliseconds` (its heartbeat); the first one also registers it.
    public nonisolated(nonsending) func heartbeat(origin: String, nowMilliseconds: Int64) async throws {
        try await transaction { try await $0.heartbeat(origin: origin, nowMilliseconds: nowMilliseconds) }
    }

    /// Records what `origin` found at these paths, replacing its earlier report of each, with its
    /// heartbeat: one transaction, one statement per 5,000 paths. A path listed twice keeps the
    /// later report.
    public nonisolated(nonsending) func recordObservations(_ observations: [Observation], origin: String, nowMilliseconds: Int64)
        async throws
    {
        try await transaction { unit in
            try await unit.heartbeat(origin: origin, nowMilliseconds: nowMilliseconds)
            try await unit.recordObservations(observations, origin: origin, nowMilliseconds: nowMilliseconds)
        }
    }

    /// What a fleet origin's comparison commits (SPEC §9), in one transaction: its heartbeat, the
    /// URLs queued for the site (each unless the same (url, area) is already pending: one origin's
    /// report of a version queues it, the others' find it pending), and what it found at each
    /// path. One transaction, so a planner never sees the report without the URL — which would
    /// let it purge the version before the last origin's URL lands as a second pending row.
    /// Returns how many rows were added.
    public nonisolated(nonsending) func enqueue(
        _ urls: [NewQueueRow], observations: [Observation], origin: String, nowMilliseconds: Int64
    ) async throws -> Int {
        try await transaction { unit in
            try await unit.heartbeat(origin: origin, nowMilliseconds: nowMilliseconds)
            let added = urls.isEmpty ? 0 : try await unit.enqueue(urls, nowMilliseconds: nowMilliseconds)
            try await unit.recordObservations(observations, origin: origin, nowMilliseconds: nowMilliseconds)
            try await unit.notifyQueueChanged()
            return added
        }
    }

    /// The channel the store notifies (at commit, the site's name as payload) when it queues URLs,
    /// records an origin's reports or registers the site: the lease holder listens
    /// (``listenForQueueChanges(_:)``) and looks at once instead of at its next heartbeat.
    /// LISTEN/NOTIFY is only a speed-up over that look: a notification lost while no one listens
    /// (the listener reconnecting, the database away) is found at the next look.
    public static let queueChannel = "purgewatch_queue"

    /// Calls `changed` with the site named by each notification on ``queueChannel``, on a connection
    /// of its own (not the pool's: it is held for good), until that connection ends (it throws) or
    /// the task is cancelled (it returns).
    public nonisolated(nonsending) func listenForQueueChanges(_ changed: @escaping @Sendable (String) -> Void) async throws {
        guard let listenConfiguration else { return }
        do {
            let connection = try await PostgresConnection.connect(configuration: listenConfiguration, id: 1, logger: logger)
            do {
                try await connection.listen(on: Self.queueChannel) { notifications in
                    for try await notification in notifications { changed(notification.payload) }
                }
            } catch {
                try? await connection.close()
                throw error
            }
            try? await connection.close()
        } catch is CancellationError {
            return
        } catch {
            if Task.isCancelled { return }
            throw PostgresStoreError.wrapping(error, url: url)
        }
    }

    /// For each of `paths`, every origin of the site — with its last heartbeat, live or not, and
    /// its report of the path if it made one — sorted by origin name. Paths are returned as given,
    /// each once.
    public nonisolated(nonsending) func originsObserving(_ paths: [[UInt8]]) async throws -> [[UInt8]: [OriginReport]] {
        guard !paths.isEmpty else { return [:] }
        return try await read { try await $0.originsObserving(paths) }
    }
}

extension PostgresUnit {
    /// A fleet's reports do not grow without end (paths come and go with every deploy of a site
    /// whose file names carry a hash): a path every origin reported deleted, none of them since
    /// `milliseconds`, has nothing left to converge on and its rows go; an origin silent since
    /// `milliseconds` (decommissioned) goes with its reports (`ON DELETE CASCADE`) — if it comes
    /// back it joins anew, and a path it never reported since does not count against it.
    func pruneObservations(olderThan milliseconds: Int64) async throws {
        try await run(
            """
            DELETE FROM observations WHERE site = \(site) AND path IN (
                SELECT path FROM observations WHERE site = \(site) GROUP BY path
                HAVING bool_and(hash IS NULL) AND max(observed_at) < \(milliseconds))
            """)
        try await run("DELETE FROM origins WHERE site = \(site) AND last_seen < \(milliseconds)")
    }

    /// Notifies ``PostgresQueueStore/queueChannel`` with the site's name, delivered at commit (the
    /// same payload twice in one transaction is delivered once).
    func notifyQueueChanged() async throws {
        try await run("SELECT pg_notify(\(PostgresQueueStore.queueChannel), \(site))")
    }

    func heartbeat(origin: String, nowMilliseconds: Int64) async throws {
        try await run(
            """
            INSERT INTO origins (site, origin, first_seen, last_seen) VALUES (\(site), \(origin), \(nowMilliseconds), \(nowMilliseconds))
            ON CONFLICT (site, origin) DO UPDATE SET last_seen = greatest(origins.last_seen, excluded.last_seen)
            """)
    }

    func recordObservations(_ observations: [Observation], origin: String, nowMilliseconds: Int64) async throws {
        // The last report of a path wins; one INSERT may not touch a row twice.
        var latest: [[UInt8]: Observation.Content] = [:]
        var order: [[UInt8]] = []
        for observation in observations {
            if latest.updateValue(observation.content, forKey: observation.path) == nil { order.append(observation.path) }
        }
        var start = order.startIndex
        while start < order.endIndex {
            let paths = order[start..<min(start + Self.enqueueStatementRows, order.endIndex)]
            start = paths.endIndex
            let hashes = paths.map { path -> ByteBuffer in
                if case .bytes(let hash) = latest[path] { return ByteBuffer(bytes: hash) }
                return ByteBuffer()
            }
            let deleted = paths.map { latest[$0] == .deleted }
            try await run(
                """
                INSERT INTO observations (site, path, origin, hash, observed_at)
                SELECT \(site), o.path, \(origin), CASE WHEN o.deleted THEN NULL ELSE o.hash END, \(nowMilliseconds)
                FROM unnest(\(paths.map { ByteBuffer(bytes: $0) })::bytea[], \(hashes)::bytea[], \(deleted)::boolean[]) AS o(path, hash, deleted)
                ON CONFLICT (site, path, origin) DO UPDATE SET hash = excluded.hash,
                    observed_at = CASE WHEN observations.hash IS NOT DISTINCT FROM excluded.hash THEN observations.observed_at
                                       ELSE excluded.observed_at END
                """)
        }
    }

    func originsObserving(_ paths: [[UInt8]]) async throws -> [[UInt8]: [OriginReport]] {
        var reports: [[UInt8]: [OriginReport]] = [:]
        let unique = Array(Set(paths))
        var start = unique.startIndex
        while start < unique.endIndex {
            let slice = unique[start..<min(start + Self.enqueueStatementRows, unique.endIndex)]
            start = slice.endIndex
            for path in slice { reports[path] = [] }
            let rows = try await run(
                """
                SELECT p.path, r.origin, r.last_seen, o.hash IS NOT NULL, o.hash, o.origin IS NOT NULL, o.observed_at
                FROM unnest(\(slice.map { ByteBuffer(bytes: $0) })::bytea[]) AS p(path)
                CROSS JOIN origins r
                LEFT JOIN observations o ON o.site = r.site AND o.origin = r.origin AND o.path = p.path
                WHERE r.site = \(site)
                ORDER BY r.origin COLLATE "C"
                """)
            for try await (path, origin, lastSeen, hasHash, hash, reported, since) in rows.decode(
                (ByteBuffer, String, Int64, Bool, ByteBuffer?, Bool, Int64?).self)
            {
                let content: Observation.Content? =
                    !reported ? nil : hasHash ? .bytes(Array(hash?.readableBytesView ?? ByteBuffer().readableBytesView)) : .deleted
                reports[Array(path.readableBytesView), default: []].append(
                    OriginReport(origin: origin, lastSeenMilliseconds: lastSeen, content: content, sinceMilliseconds: since))
            }
        }
        return reports
    }
}
