import Logging
import PostgresNIO
import StateStore

/// One store unit's connection inside its transaction, scoped to the store's site: the SQL of
/// the queue, as `Database+Queue.swift` is SQLite's. Every value is a bind (`PostgresQuery`'s
/// interpolation); only the fixed column lists are spliced in.
struct PostgresUnit {
    let connection: PostgresConnection
    let site: String
    /// Whose quota the unit counts: a ledger shared by the sites of an account that purge through
    /// the same provider (SPEC §9, "one account, one budget"), or — opened without one — the
    /// site's own.
    let ledger: QuotaLedger?
    let logger: Logger

    static let queueColumns = "id, url, area, path, kind, first_seen, state, batch_id, retries, error_code, failed_at"
    static let batchColumns =
        "id, action, area, state, targets, task_id, request_id, attempts, next_attempt_at, last_error_code, last_error_message, dry_run, created_at, updated_at, accepted_at, polls"

    @discardableResult
    func run(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await connection.query(query, logger: logger)
    }

    /// Counts what a data-modifying statement wrapped as `WITH d AS (… RETURNING 1) SELECT count(*) FROM d` did.
    func count(_ query: PostgresQuery) async throws -> Int {
        for try await value in try await run(query).decode(Int.self) { return value }
        return 0
    }

    // MARK: - Rows

    typealias QueueTuple = (Int64, String, String, ByteBuffer?, String, Int64, String, Int64?, Int, String?, Int64?)

    func queueRows(_ query: PostgresQuery) async throws -> [QueueRow] {
        var rows: [QueueRow] = []
        for try await t in try await run(query).decode(QueueTuple.self) {
            rows.append(
                QueueRow(
                    id: t.0, url: t.1, area: t.2, path: t.3.map { Array($0.readableBytesView) },
                    kind: QueueKind(rawValue: t.4) ?? .modified, firstSeenMilliseconds: t.5,
                    state: QueueState(rawValue: t.6) ?? .failed, batchID: t.7, retries: t.8, errorCode: t.9,
                    failedMilliseconds: t.10))
        }
        return rows
    }

    typealias BatchTuple = (
        Int64, String, String, String, [String], String?, String?, Int, Int64?, String?, String?, Bool, Int64, Int64, Int64?, Int
    )

    func batchRows(_ query: PostgresQuery) async throws -> [BatchRow] {
        var rows: [BatchRow] = []
        for try await t in try await run(query).decode(BatchTuple.self) {
            rows.append(
                BatchRow(
                    id: t.0, action: BatchAction(rawValue: t.1) ?? .urls, area: t.2, state: BatchState(rawValue: t.3) ?? .failed,
                    targets: t.4, taskID: t.5, requestID: t.6, attempts: t.7, nextAttemptMilliseconds: t.8, lastErrorCode: t.9,
                    lastErrorMessage: t.10, isDryRun: t.11, createdMilliseconds: t.12, updatedMilliseconds: t.13,
                    acceptedMilliseconds: t.14, polls: t.15))
        }
        return rows
    }

    // MARK: - Queue

    /// Queues a URL unless the same (url, area) is already pending for the site: the partial unique
    /// index decides, so concurrent enqueuers leave one row. Returns whether a row was added.
    func enqueue(url: String, area: String, path: [UInt8]?, kind: QueueKind, nowMilliseconds: Int64) async throws -> Bool {
        let bytes = path.map { ByteBuffer(bytes: $0) }
        let rows = try await run(
            """
            INSERT INTO queue (site, url, area, path, kind, first_seen) VALUES (\(site), \(url), \(area), \(bytes), \(kind.rawValue), \(nowMilliseconds))
            ON CONFLICT (site, url, area) WHERE state = 'pending' DO NOTHING RETURNING id
            """)
        for try await _ in rows { return true }
        return false
    }

    /// Queues `urls` for this site in one statement (a deploy's thousands of URLs in one round
    /// trip, not one each), oldest first by the order given, except a (url, area) already pending
    /// — or earlier in `urls` — which the partial unique index turns away. Returns how many rows
    /// were added.
    func enqueue(_ urls: [NewQueueRow], nowMilliseconds: Int64) async throws -> Int {
        var added = 0
        var start = urls.startIndex
        while start < urls.endIndex {
            let slice = urls[start..<min(start + Self.enqueueStatementRows, urls.endIndex)]
            start = slice.endIndex
            let rows = try await run(
                """
                INSERT INTO queue (site, url, area, path, kind, first_seen)
                SELECT \(site), u.url, u.area, CASE WHEN u.has_path THEN u.path END, u.kind, \(nowMilliseconds)
                FROM unnest(\(slice.map(\.url))::text[], \(slice.map(\.area))::text[],
                            \(slice.map { ByteBuffer(bytes: $0.path ?? []) })::bytea[], \(slice.map { $0.path != nil })::boolean[],
                            \(slice.map(\.kind.rawValue))::text[]) WITH ORDINALITY AS u(url, area, path, has_path, kind, n)
                ORDER BY u.n
                ON CONFLICT (site, url, area) WHERE state = 'pending' DO NOTHING RETURNING id
                """)
            for try await _ in rows { added += 1 }
        }
        return added
    }

    /// URLs per `INSERT` of ``enqueue(_:nowMilliseconds:)``.
    static let enqueueStatementRows = 5_000

    /// Pending rows, oldest first; locked for the transaction when `forUpdate`.
    func pendingQueue(forUpdate: Bool) async throws -> [QueueRow] {
        let lock = forUpdate ? " FOR UPDATE" : ""
        return try await queueRows(
            "SELECT \(unescaped: Self.queueColumns) FROM queue WHERE site = \(site) AND state = 'pending' ORDER BY id\(unescaped: lock)")
    }

    /// This site's pending URLs, oldest first, with only what planning needs; locked for the
    /// transaction when `forUpdate`.
    func pendingToPlan(forUpdate: Bool) async throws -> [PendingURL] {
        let lock = forUpdate ? " FOR UPDATE" : ""
        var urls: [PendingURL] = []
        let query: PostgresQuery =
            "SELECT id, url FROM queue WHERE site = \(site) AND state = 'pending' ORDER BY id\(unescaped: lock)"
        for try await (id, url) in try await run(query).decode((Int64, String).self) {
            urls.append(PendingURL(id: id, url: url))
        }
        return urls
    }

    /// A batch's rows, oldest first; locked for the transaction when `forUpdate`.
    func queueRows(batchID: Int64, forUpdate: Bool) async throws -> [QueueRow] {
        let lock = forUpdate ? " FOR UPDATE" : ""
        return try await queueRows(
            "SELECT \(unescaped: Self.queueColumns) FROM queue WHERE site = \(site) AND batch_id = \(batchID) ORDER BY id\(unescaped: lock)")
    }

    /// Sets rows' state as SQLite's `setQueueState` does: `failed` records when, any other state
    /// clears that; the error code is written as given (nil clears it).
    func setQueueState(ids: [Int64], state: QueueState, errorCode: String?, nowMilliseconds: Int64? = nil) async throws {
        guard !ids.isEmpty else { return }
        let failedAt = state == .failed ? nowMilliseconds : nil
        try await run(
            """
            UPDATE queue SET state = \(state.rawValue), error_code = \(errorCode), failed_at = \(failedAt)
            WHERE site = \(site) AND id = ANY(\(ids))
            """)
    }

    /// Rows go back to `pending` — one pending row per (url, area): a row whose URL is already
    /// pending again (or another of these rows, the oldest winning) becomes `superseded` instead.
    /// `retry` counts a retry and writes `errorCode` on every row (SQLite's `requeue`); without it
    /// only the state and the batch change (`dissolveBatch`). A concurrent enqueue of the same URL
    /// that commits between the check and the write makes the index refuse the statement: it is
    /// then run again from a savepoint, and sees that row.
    func release(ids: [Int64], retry: Bool, errorCode: String?) async throws {
        guard !ids.isEmpty else { return }
        var attempt = 0
        while true {
            attempt += 1
            try await run("SAVEPOINT purgewatch_release")
            do {
                try await run(
                    """
                    WITH rows AS (
                        SELECT id, url, area FROM queue WHERE site = \(site) AND id = ANY(\(ids)) ORDER BY id FOR UPDATE
                    ), winners AS (
                        SELECT DISTINCT ON (url, area) id FROM rows r
                        WHERE NOT EXISTS (
                            SELECT 1 FROM queue p
                            WHERE p.site = \(site) AND p.url = r.url AND p.area = r.area AND p.state = 'pending' AND p.id <> r.id)
                        ORDER BY url, area, id
                    )
                    UPDATE queue q SET
                        state = CASE WHEN q.id IN (SELECT id FROM winners) THEN 'pending' ELSE 'superseded' END,
                        retries = q.retries + CASE WHEN \(retry) AND q.id IN (SELECT id FROM winners) THEN 1 ELSE 0 END,
                        error_code = CASE WHEN \(retry) THEN \(errorCode) ELSE q.error_code END,
                        batch_id = NULL
                    FROM rows WHERE q.id = rows.id
                    """)
                try await run("RELEASE SAVEPOINT purgewatch_release")
                return
            } catch  where PostgresStoreError.isUniqueViolation(error) && attempt < 5 {
                logger.debug(
                    "A released URL was queued again by another writer meanwhile: released again from the savepoint",
                    metadata: ["purge.url_count": "\(ids.count)", "store.attempt": "\(attempt)"])
                try await run("ROLLBACK TO SAVEPOINT purgewatch_release")
            }
        }
    }

    func highestQueueID() async throws -> Int64 {
        for try await id in try await run("SELECT COALESCE(MAX(id), 0)::bigint FROM queue WHERE site = \(site)").decode(Int64.self) {
            return id
        }
        return 0
    }

    // MARK: - Batches

    /// Records a planned batch and moves its queue rows into it.
    @discardableResult
    func insertBatch(
        action: BatchAction, area: String, state: BatchState, targets: [String], queueIDs: [Int64], dryRun: Bool,
        nextAttemptMilliseconds: Int64?, nowMilliseconds: Int64
    ) async throws -> Int64 {
        var id: Int64?
        let rows = try await run(
            """
            INSERT INTO batches (site, action, area, state, targets, dry_run, next_attempt_at, created_at, updated_at)
            VALUES (\(site), \(action.rawValue), \(area), \(state.rawValue), \(targets), \(dryRun), \(nextAttemptMilliseconds), \(nowMilliseconds), \(nowMilliseconds))
            RETURNING id
            """)
        for try await value in rows.decode(Int64.self) { id = value }
        guard let id else { throw PostgresStoreError(code: .unexpected, message: "INSERT INTO batches returned no id") }
        if !queueIDs.isEmpty {
            try await run("UPDATE queue SET state = 'batched', batch_id = \(id) WHERE site = \(site) AND id = ANY(\(queueIDs))")
        }
        return id
    }

    /// Dissolves a batch that was never accepted: its batched rows are released (pending, or
    /// superseded), every row's reference to it is cleared and it is deleted.
    func dissolveBatch(id: Int64) async throws {
        let batched = try await queueRows(batchID: id, forUpdate: true).filter { $0.state == .batched }.map(\.id)
        try await release(ids: batched, retry: false, errorCode: nil)
        try await run("UPDATE queue SET batch_id = NULL WHERE site = \(site) AND batch_id = \(id)")
        try await run("DELETE FROM batches WHERE site = \(site) AND id = \(id)")
    }

    // MARK: - Quota

    func quotaRows() async throws -> [QuotaRow] {
        var rows: [QuotaRow] = []
        let query: PostgresQuery =
            if let ledger {
                """
                SELECT area, kind, batch, total, available, fetched_at FROM account_quota WHERE account = \(ledger.account) AND provider = \(ledger.provider)
                ORDER BY area COLLATE "C", kind COLLATE "C"
                """
            } else {
                """
                SELECT area, kind, batch, total, available, fetched_at FROM quota WHERE site = \(site)
                ORDER BY area COLLATE "C", kind COLLATE "C"
                """
            }
        for try await (area, kind, batch, total, available, fetched) in try await run(query).decode(
            (String, String, Int, Int, Int, Int64).self)
        {
            // A kind this release does not know is not a quota it plans with.
            guard let kind = QuotaKind(rawValue: kind) else { continue }
            rows.append(QuotaRow(area: area, kind: kind, batch: batch, total: total, available: available, fetchedMilliseconds: fetched))
        }
        return rows
    }

    func replaceQuota(_ rows: [QuotaRow]) async throws {
        if let ledger {
            // Sites of the account replacing it at once (both read the quota at the reset) take
            // turns: a second DELETE-then-INSERT would otherwise hit the first one's rows.
            _ = try await count(
                "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtext('purgewatch quota ' || \(ledger.account) || ' ' || \(ledger.provider)))) AS l"
            )
            try await run("DELETE FROM account_quota WHERE account = \(ledger.account) AND provider = \(ledger.provider)")
        } else {
            try await run("DELETE FROM quota WHERE site = \(site)")
        }
        for row in rows {
            if let ledger {
                try await run(
                    """
                    INSERT INTO account_quota (account, provider, area, kind, batch, total, available, fetched_at)
                    VALUES (\(ledger.account), \(ledger.provider), \(row.area), \(row.kind.rawValue), \(row.batch), \(row.total), \(row.available), \(row.fetchedMilliseconds))
                    ON CONFLICT (account, provider, area, kind) DO UPDATE SET batch = excluded.batch, total = excluded.total,
                        available = excluded.available, fetched_at = excluded.fetched_at
                    """)
            } else {
                try await run(
                    """
                    INSERT INTO quota (site, area, kind, batch, total, available, fetched_at)
                    VALUES (\(site), \(row.area), \(row.kind.rawValue), \(row.batch), \(row.total), \(row.available), \(row.fetchedMilliseconds))
                    """)
            }
        }
    }

    /// Counts an accepted batch against the cached quota of `areas` (every area when empty).
    func consumeQuota(kind: QuotaKind, count: Int, areas: [String]) async throws {
        if let ledger {
            try await run(
                """
                UPDATE account_quota SET available = GREATEST(0, available - \(Int64(count)))
                WHERE account = \(ledger.account) AND provider = \(ledger.provider) AND kind = \(kind.rawValue) AND (cardinality(\(areas)::text[]) = 0 OR area = ANY(\(areas)))
                """)
        } else {
            try await run(
                """
                UPDATE quota SET available = GREATEST(0, available - \(Int64(count)))
                WHERE site = \(site) AND kind = \(kind.rawValue) AND (cardinality(\(areas)::text[]) = 0 OR area = ANY(\(areas)))
                """)
        }
    }

    /// The planner's batch size of `kind` (a `batch too big` refusal lowers it).
    func setBatchSize(kind: QuotaKind, to size: Int) async throws {
        if let ledger {
            try await run(
                "UPDATE account_quota SET batch = \(max(1, size)) WHERE account = \(ledger.account) AND provider = \(ledger.provider) AND kind = \(kind.rawValue)"
            )
        } else {
            try await run("UPDATE quota SET batch = \(max(1, size)) WHERE site = \(site) AND kind = \(kind.rawValue)")
        }
    }
}
