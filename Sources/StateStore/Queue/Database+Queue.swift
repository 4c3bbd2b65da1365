/// Where a queued URL stands. StateStore alone maps these to the `queue.state` column.
///
/// `pending` → `batched` (in a batch) → `done` | `failed`; `superseded` when the same URL is
/// pending again in a newer row (one pending row per URL and area, and `failures --retry`);
/// `forgotten` when a human acknowledged a failure (`failures --forget`).
public enum QueueState: String, Sendable, CaseIterable {
    case pending, batched, done, failed, superseded, forgotten
}

/// A URL that failed permanently, with what the API said (SPEC §2 `failures`).
public struct FailureRow: Sendable, Hashable {
    public var row: QueueRow
    /// The failing batch's last error message, when the batch is still recorded.
    public var message: String?

    public init(row: QueueRow, message: String?) {
        self.row = row
        self.message = message
    }
}

/// Where a purge request stands. StateStore alone maps these to the `batches.state` column.
///
/// `planned` → `sending` → `accepted` → `done` | `failed` | `unverified` (still `process`, or
/// not found, 30 minutes after it was accepted: polled no more); `waiting-quota` until the
/// daily reset (or a quota reading that shows room), when it is dissolved and planned again.
public enum BatchState: String, Sendable, CaseIterable {
    case planned, sending, accepted, done, failed, unverified
    case waitingQuota = "waiting-quota"
}

/// Why a URL was queued: how its file changed (SPEC §3 `on`), or a human's `purge`.
/// StateStore alone maps these to the `queue.kind` column.
public enum QueueKind: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    case created, modified, deleted, manual

    public var description: String { rawValue }
}

/// What a batch purges: URLs, or directories (the fallback when the URL quota cannot cover the
/// queue). StateStore alone maps these to the `batches.action` column; the column keeps the
/// names it has always held, so state files of earlier releases read the same.
public enum BatchAction: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    case urls = "PurgeUrlsCache"
    case directories = "PurgePathCache"

    /// The daily quota a batch of this action counts against.
    public var quotaKind: QuotaKind { self == .urls ? .url : .path }
    /// The column's name for it, which logs and `status` print.
    public var description: String { rawValue }
}

/// The two daily purge quotas (SPEC §6). StateStore alone maps these to the `quota.kind` column.
public enum QuotaKind: String, Sendable, CaseIterable, Hashable, CustomStringConvertible {
    case url, path

    public var description: String { rawValue }
}

/// A pending URL as the planner needs it: its row and the URL, nothing else (a deploy's 5,000
/// pending rows read whole were the 50k benchmark's peak, issue 23).
public struct PendingURL: Sendable, Hashable {
    public var id: Int64
    public var url: String

    public init(id: Int64, url: String) {
        self.id = id
        self.url = url
    }
}

/// A URL waiting in (or moving through) the queue.
public struct QueueRow: Sendable, Hashable {
    public var id: Int64
    public var url: String
    public var area: String
    public var path: [UInt8]?
    public var kind: QueueKind
    public var firstSeenMilliseconds: Int64
    public var state: QueueState
    public var batchID: Int64?
    public var retries: Int
    public var errorCode: String?
    /// When it failed permanently (nil for rows that failed before this was recorded).
    public var failedMilliseconds: Int64?

    /// A row as a store read it (every store builds them: the SQLite file and the fleet's PostgreSQL).
    public init(
        id: Int64, url: String, area: String, path: [UInt8]? = nil, kind: QueueKind, firstSeenMilliseconds: Int64, state: QueueState,
        batchID: Int64? = nil, retries: Int, errorCode: String? = nil, failedMilliseconds: Int64? = nil
    ) {
        self.id = id
        self.url = url
        self.area = area
        self.path = path
        self.kind = kind
        self.firstSeenMilliseconds = firstSeenMilliseconds
        self.state = state
        self.batchID = batchID
        self.retries = retries
        self.errorCode = errorCode
        self.failedMilliseconds = failedMilliseconds
    }
}

/// A purge request, planned or sent.
public struct BatchRow: Sendable, Hashable {
    public var id: Int64
    public var action: BatchAction
    public var area: String
    public var state: BatchState
    /// The URLs or directories sent, in order.
    public var targets: [String]
    public var taskID: String?
    public var requestID: String?
    public var attempts: Int
    public var nextAttemptMilliseconds: Int64?
    public var lastErrorCode: String?
    public var lastErrorMessage: String?
    public var isDryRun: Bool
    public var createdMilliseconds: Int64
    public var updatedMilliseconds: Int64
    /// When the API accepted it (the verification deadline counts from here).
    public var acceptedMilliseconds: Int64?
    /// DescribePurgeTasks polls so far (durable: the backoff survives a restart).
    public var polls: Int

    /// A batch as a store read it (every store builds them).
    public init(
        id: Int64, action: BatchAction, area: String, state: BatchState, targets: [String], taskID: String? = nil,
        requestID: String? = nil, attempts: Int, nextAttemptMilliseconds: Int64? = nil, lastErrorCode: String? = nil,
        lastErrorMessage: String? = nil, isDryRun: Bool, createdMilliseconds: Int64, updatedMilliseconds: Int64,
        acceptedMilliseconds: Int64? = nil, polls: Int
    ) {
        self.id = id
        self.action = action
        self.area = area
        self.state = state
        self.targets = targets
        self.taskID = taskID
        self.requestID = requestID
        self.attempts = attempts
        self.nextAttemptMilliseconds = nextAttemptMilliseconds
        self.lastErrorCode = lastErrorCode
        self.lastErrorMessage = lastErrorMessage
        self.isDryRun = isDryRun
        self.createdMilliseconds = createdMilliseconds
        self.updatedMilliseconds = updatedMilliseconds
        self.acceptedMilliseconds = acceptedMilliseconds
        self.polls = polls
    }
}

/// A cached DescribePurgeQuota entry, decremented locally as batches are accepted.
public struct QuotaRow: Sendable, Hashable {
    public var area: String
    public var kind: QuotaKind
    public var batch: Int
    public var total: Int
    public var available: Int
    public var fetchedMilliseconds: Int64

    public init(area: String, kind: QuotaKind, batch: Int, total: Int, available: Int, fetchedMilliseconds: Int64) {
        self.area = area
        self.kind = kind
        self.batch = batch
        self.total = total
        self.available = available
        self.fetchedMilliseconds = fetchedMilliseconds
    }
}

extension Database {
    private static let queueColumns = "id, url, area, path, kind, first_seen, state, batch_id, retries, error_code, failed_at"
    private static let batchColumns =
        "id, action, area, state, targets, task_id, request_id, attempts, next_attempt_at, last_error_code, last_error_message, dry_run, created_at, updated_at, accepted_at, polls"

    fileprivate func queueRow(_ s: Statement) -> QueueRow {
        QueueRow(
            id: s.int64(0), url: s.text(1) ?? "", area: s.text(2) ?? "", path: s.isNull(3) ? nil : s.blob(3),
            kind: QueueKind(rawValue: s.text(4) ?? "") ?? .modified, firstSeenMilliseconds: s.int64(5),
            state: QueueState(rawValue: s.text(6) ?? "") ?? .failed,
            batchID: s.isNull(7) ? nil : s.int64(7), retries: Int(s.int64(8)), errorCode: s.text(9),
            failedMilliseconds: s.isNull(10) ? nil : s.int64(10))
    }

    private func batchRow(_ s: Statement) -> BatchRow {
        BatchRow(
            id: s.int64(0), action: BatchAction(rawValue: s.text(1) ?? "") ?? .urls, area: s.text(2) ?? "",
            state: BatchState(rawValue: s.text(3) ?? "") ?? .failed,
            targets: (s.text(4) ?? "").split(separator: "\n").map(String.init),
            taskID: s.text(5), requestID: s.text(6), attempts: Int(s.int64(7)),
            nextAttemptMilliseconds: s.isNull(8) ? nil : s.int64(8), lastErrorCode: s.text(9),
            lastErrorMessage: s.text(10), isDryRun: s.int64(11) != 0, createdMilliseconds: s.int64(12),
            updatedMilliseconds: s.int64(13), acceptedMilliseconds: s.isNull(14) ? nil : s.int64(14),
            polls: Int(s.int64(15)))
    }

    // MARK: - Queue

    /// Queues each of `urls` unless the same (url, area) is already pending; returns how many
    /// rows were added. Call it inside a transaction (with what must commit with it).
    public func enqueue(_ urls: [NewQueueRow], nowMilliseconds: Int64) throws -> Int {
        var added = 0
        for url in urls where try enqueue(url: url.url, area: url.area, path: url.path, kind: url.kind, nowMilliseconds: nowMilliseconds) {
            added += 1
        }
        return added
    }

    /// Queues a URL unless the same (url, area) is already pending. Returns whether a row was added.
    @discardableResult
    public func enqueue(url: String, area: String, path: [UInt8]?, kind: QueueKind, nowMilliseconds: Int64) throws -> Bool {
        try run(
            "INSERT OR IGNORE INTO queue (url, area, path, kind, first_seen) VALUES (?, ?, ?, ?, ?)",
            [.text(url), .text(area), path.map { .blob($0) } ?? .null, .text(kind.rawValue), .integer(nowMilliseconds)]) > 0
    }

    /// Pending URLs, oldest first.
    public func pendingQueue(limit: Int = Int.max) throws -> [QueueRow] {
        try query(
            "SELECT \(Self.queueColumns) FROM queue WHERE state = 'pending' ORDER BY id LIMIT ?",
            [.integer(Int64(min(limit, Int(Int64.max))))], queueRow)
    }

    /// Pending URLs, oldest first, with only what planning needs.
    public func pendingToPlan() throws -> [PendingURL] {
        try query("SELECT id, url FROM queue WHERE state = 'pending' ORDER BY id") { s in
            PendingURL(id: s.int64(0), url: s.text(1) ?? "")
        }
    }

    public func queueRows(batchID: Int64) throws -> [QueueRow] {
        try query("SELECT \(Self.queueColumns) FROM queue WHERE batch_id = ? ORDER BY id", [.integer(batchID)], queueRow)
    }

    public func queueRows(state: QueueState, limit: Int = 1_000) throws -> [QueueRow] {
        try query(
            "SELECT \(Self.queueColumns) FROM queue WHERE state = ? ORDER BY id DESC LIMIT ?",
            [.text(state.rawValue), .integer(Int64(limit))], queueRow)
    }

    /// URLs that failed permanently and were neither retried nor forgotten, newest first; only
    /// those among `urls` when given.
    public func failures(urls: [String]? = nil, limit: Int = 10_000) throws -> [FailureRow] {
        let rows = try query(
            """
            SELECT q.id, q.url, q.area, q.path, q.kind, q.first_seen, q.state, q.batch_id, q.retries, q.error_code,
                   q.failed_at, b.last_error_message
            FROM queue q LEFT JOIN batches b ON b.id = q.batch_id
            WHERE q.state = 'failed' ORDER BY q.id DESC LIMIT ?
            """, [.integer(Int64(limit))]
        ) { s in
            FailureRow(row: queueRow(s), message: s.text(11))
        }
        guard let urls else { return rows }
        let wanted = Set(urls)
        return rows.filter { wanted.contains($0.row.url) }
    }

    /// `failures --retry`: each failed row is superseded by a new pending row for the same URL
    /// (deduplicated against one already pending). Returns how many failures were retried.
    @discardableResult
    public func retryFailures(_ failures: [FailureRow], nowMilliseconds: Int64) throws -> Int {
        for failure in failures {
            try run("UPDATE queue SET state = 'superseded', batch_id = NULL WHERE id = ? AND state = 'failed'", [.integer(failure.row.id)])
            try enqueue(
                url: failure.row.url, area: failure.row.area, path: failure.row.path, kind: failure.row.kind,
                nowMilliseconds: nowMilliseconds)
        }
        return failures.count
    }

    /// `failures --forget`: the failures are acknowledged and stop counting in `status`.
    @discardableResult
    public func forgetFailures(_ failures: [FailureRow]) throws -> Int {
        for failure in failures {
            try run("UPDATE queue SET state = 'forgotten' WHERE id = ? AND state = 'failed'", [.integer(failure.row.id)])
        }
        return failures.count
    }

    /// Rows in `state`, counted.
    public func queueCount(state: QueueState) throws -> Int {
        try count("SELECT COUNT(*) FROM queue WHERE state = ?", [.text(state.rawValue)])
    }

    /// URLs not yet accepted by the API and not parked for the quota: `pending` rows and rows in
    /// `planned` or `sending` batches (during an outage they sit there, and they are late).
    public func unsentURLCount() throws -> Int {
        try count(
            """
            SELECT (SELECT COUNT(*) FROM queue WHERE state = 'pending')
                 + (SELECT COUNT(*) FROM queue q JOIN batches b ON b.id = q.batch_id
                    WHERE q.state = 'batched' AND b.state IN ('planned', 'sending'))
            """)
    }

    /// When the oldest unsent URL (see ``unsentURLCount()``) was first seen, in ms.
    public func oldestUnsentMilliseconds() throws -> Int64? {
        try queryFirst(
            """
            SELECT MIN(first_seen) FROM (
              SELECT first_seen FROM queue WHERE state = 'pending'
              UNION ALL
              SELECT q.first_seen FROM queue q JOIN batches b ON b.id = q.batch_id
              WHERE q.state = 'batched' AND b.state IN ('planned', 'sending'))
            """
        ) { $0.isNull(0) ? nil : $0.int64(0) } ?? nil
    }

    /// URLs parked in `waiting-quota` batches.
    public func waitingQuotaURLCount() throws -> Int {
        try count(
            """
            SELECT COUNT(*) FROM queue q JOIN batches b ON b.id = q.batch_id
            WHERE q.state = 'batched' AND b.state = 'waiting-quota'
            """)
    }

    /// The earliest time a `waiting-quota` batch is due.
    public func earliestQuotaWaitMilliseconds() throws -> Int64? {
        try queryFirst("SELECT MIN(next_attempt_at) FROM batches WHERE state = 'waiting-quota'") {
            $0.isNull(0) ? nil : $0.int64(0)
        } ?? nil
    }

    /// Moves queue rows into a batch.
    public func assign(queueIDs: [Int64], toBatch batchID: Int64) throws {
        for id in queueIDs {
            try run("UPDATE queue SET state = 'batched', batch_id = ? WHERE id = ?", [.integer(batchID), .integer(id)])
        }
    }

    /// Sets a row's state; `failed` also records when (``flushProgress(upTo:failuresSince:)``).
    public func setQueueState(id: Int64, state: QueueState, errorCode: String? = nil, nowMilliseconds: Int64? = nil)
        throws
    {
        try run(
            "UPDATE queue SET state = ?, error_code = ?, failed_at = ? WHERE id = ?",
            [
                .text(state.rawValue), errorCode.map { .text($0) } ?? .null,
                state == .failed ? nowMilliseconds.map { .integer($0) } ?? .null : .null, .integer(id),
            ])
    }

    /// Puts a URL whose purge did not take back in the queue (retries + 1). When the same URL is
    /// already pending again, this row is marked `superseded` instead: one pending row per URL.
    public func requeue(id: Int64, errorCode: String?) throws {
        let changed = try run(
            """
            UPDATE OR IGNORE queue SET state = 'pending', batch_id = NULL, retries = retries + 1, error_code = ?
            WHERE id = ?
            """, [errorCode.map { .text($0) } ?? .null, .integer(id)])
        if changed == 0 {
            try run(
                "UPDATE queue SET state = 'superseded', batch_id = NULL, error_code = ? WHERE id = ?",
                [errorCode.map { .text($0) } ?? .null, .integer(id)])
        }
    }

    public func highestQueueID() throws -> Int64 {
        try queryFirst("SELECT COALESCE(MAX(id), 0) FROM queue") { $0.int64(0) } ?? 0
    }

    /// For `flush --wait` (SPEC §6): of the rows with id ≤ `upTo` — the URLs queued when the
    /// window was closed — how many are not yet submitted, and which failed permanently: the
    /// rows queued since the previous flush's watermark (`after`, this deploy's own URLs) that
    /// failed at any time, and older rows that failed at or after `failuresSince` (older
    /// failures belong to earlier deploys and do not count). Submitted = in a batch the API
    /// accepted (or a dry run logged). Reads only unsettled and failed rows (indexed by state).
    public func flushProgress(upTo: Int64, after: Int64 = Int64.max, failuresSince: Int64) throws
        -> (unsettled: Int, failed: [String])
    {
        let unsettled = try count(
            """
            SELECT COUNT(*) FROM queue q LEFT JOIN batches b ON b.id = q.batch_id
            WHERE q.state IN ('pending', 'batched') AND q.id <= ?
              AND NOT (q.state = 'batched' AND b.state IN ('accepted', 'done', 'failed', 'unverified'))
            """, [.integer(upTo)])
        let failed = try query(
            "SELECT url FROM queue WHERE state = 'failed' AND id <= ? AND (id > ? OR failed_at >= ?) ORDER BY id",
            [.integer(upTo), .integer(after), .integer(failuresSince)]
        ) { $0.text(0) ?? "" }
        return (unsettled, failed)
    }

    // MARK: - Batches

    /// Records a planned batch and moves its queue rows into it.
    public func insertBatch(
        action: BatchAction, area: String, state: BatchState, targets: [String], queueIDs: [Int64], dryRun: Bool,
        nextAttemptMilliseconds: Int64? = nil, nowMilliseconds: Int64
    ) throws -> Int64 {
        try run(
            """
            INSERT INTO batches (action, area, state, targets, dry_run, next_attempt_at, created_at, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                .text(action.rawValue), .text(area), .text(state.rawValue), .text(targets.joined(separator: "\n")),
                .integer(dryRun ? 1 : 0),
                nextAttemptMilliseconds.map { .integer($0) } ?? .null, .integer(nowMilliseconds), .integer(nowMilliseconds),
            ])
        let id = lastInsertRowID
        try assign(queueIDs: queueIDs, toBatch: id)
        return id
    }

    public func batch(id: Int64) throws -> BatchRow? {
        try queryFirst("SELECT \(Self.batchColumns) FROM batches WHERE id = ?", [.integer(id)], batchRow)
    }

    public func batches(state: BatchState) throws -> [BatchRow] {
        try query("SELECT \(Self.batchColumns) FROM batches WHERE state = ? ORDER BY id", [.text(state.rawValue)], batchRow)
    }

    /// Batches in `state` due at `nowMilliseconds` (no next attempt, or one that has come),
    /// oldest first. The per-tick reads of the submitter and the verifier: only the due rows
    /// (and their targets) are loaded, by the (state, next_attempt_at) index.
    public func dueBatches(state: BatchState, nowMilliseconds: Int64) throws -> [BatchRow] {
        try query(
            """
            SELECT \(Self.batchColumns) FROM batches
            WHERE state = ? AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id
            """, [.text(state.rawValue), .integer(nowMilliseconds)], batchRow)
    }

    /// Batches in `states` due at `nowMilliseconds` (no next attempt, or one that has come).
    public func dueBatchCount(states: [BatchState], nowMilliseconds: Int64) throws -> Int {
        let list = states.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        return try count(
            "SELECT COUNT(*) FROM batches WHERE state IN (\(list)) AND COALESCE(next_attempt_at, 0) <= ?",
            [.integer(nowMilliseconds)])
    }

    /// The earliest `next_attempt_at` among batches in `states` (a batch with none counts as
    /// due at 0), or nil when there is no such batch: when a stage has work next, so it can sleep
    /// until then instead of polling.
    public func earliestAttemptMilliseconds(states: [BatchState]) throws -> Int64? {
        let list = states.map { "'\($0.rawValue)'" }.joined(separator: ", ")
        return try query(
            "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM batches WHERE state IN (\(list))", [],
            { $0.isNull(0) ? nil : $0.int64(0) }
        ).first ?? nil
    }

    /// Batches by state (every state present, 0 for none).
    public func batchCounts() throws -> [BatchState: Int] {
        var counts = Dictionary(uniqueKeysWithValues: BatchState.allCases.map { ($0, 0) })
        for (state, count) in try query("SELECT state, COUNT(*) FROM batches GROUP BY state", [], { ($0.text(0) ?? "", Int($0.int64(1))) }) {
            if let state = BatchState(rawValue: state) { counts[state] = count }
        }
        return counts
    }

    /// When the API last accepted a batch (ms), or nil.
    public func lastAcceptedMilliseconds() throws -> Int64? {
        try queryFirst("SELECT MAX(accepted_at) FROM batches") { $0.isNull(0) ? nil : $0.int64(0) } ?? nil
    }

    public func batchCount(state: BatchState) throws -> Int {
        try count("SELECT COUNT(*) FROM batches WHERE state = ?", [.text(state.rawValue)])
    }

    public func batches(updatedSince milliseconds: Int64) throws -> [BatchRow] {
        try query(
            """
            SELECT \(Self.batchColumns) FROM batches WHERE updated_at >= ?
            UNION SELECT \(Self.batchColumns) FROM batches WHERE state IN ('planned', 'sending', 'accepted', 'waiting-quota', 'failed', 'unverified')
            ORDER BY id DESC
            """,
            [.integer(milliseconds)], batchRow)
    }

    /// Updates a batch's state and whatever else is given.
    public func updateBatch(
        id: Int64, state: BatchState, taskID: String? = nil, requestID: String? = nil, attempts: Int? = nil,
        nextAttemptMilliseconds: Int64?? = nil, errorCode: String?? = nil, errorMessage: String?? = nil,
        targets: [String]? = nil, acceptedMilliseconds: Int64? = nil, polls: Int? = nil, nowMilliseconds: Int64
    ) throws {
        var sets = ["state = ?", "updated_at = ?"]
        var values: [SQLValue] = [.text(state.rawValue), .integer(nowMilliseconds)]
        if let acceptedMilliseconds { sets.append("accepted_at = ?"); values.append(.integer(acceptedMilliseconds)) }
        if let polls { sets.append("polls = ?"); values.append(.integer(Int64(polls))) }
        if let taskID { sets.append("task_id = ?"); values.append(.text(taskID)) }
        if let requestID { sets.append("request_id = ?"); values.append(.text(requestID)) }
        if let attempts { sets.append("attempts = ?"); values.append(.integer(Int64(attempts))) }
        if let nextAttemptMilliseconds {
            sets.append("next_attempt_at = ?"); values.append(nextAttemptMilliseconds.map { .integer($0) } ?? .null)
        }
        if let errorCode { sets.append("last_error_code = ?"); values.append(errorCode.map { .text($0) } ?? .null) }
        if let errorMessage { sets.append("last_error_message = ?"); values.append(errorMessage.map { .text($0) } ?? .null) }
        if let targets { sets.append("targets = ?"); values.append(.text(targets.joined(separator: "\n"))) }
        values.append(.integer(id))
        try run("UPDATE batches SET \(sets.joined(separator: ", ")) WHERE id = ?", values)
    }

    /// Replaces a batch's targets (a URL that failed alone leaves it), its state untouched.
    public func setBatchTargets(id: Int64, _ targets: [String], nowMilliseconds: Int64) throws {
        try run(
            "UPDATE batches SET targets = ?, updated_at = ? WHERE id = ?",
            [.text(targets.joined(separator: "\n")), .integer(nowMilliseconds), .integer(id)])
    }

    /// Dissolves a batch that was never accepted: its rows go back to `pending` (or become
    /// `superseded` when the same URL is pending again), every row's reference to the batch is
    /// cleared — superseded and failed rows included — and the batch is deleted. Safe at the
    /// quota reset, when many URLs of a parked batch were changed again meanwhile.
    public func dissolveBatch(id: Int64) throws {
        let rows = try queueRows(batchID: id)
        for row in rows where row.state == .batched {
            let changed = try run(
                "UPDATE OR IGNORE queue SET state = 'pending', batch_id = NULL WHERE id = ?", [.integer(row.id)])
            if changed == 0 { try run("UPDATE queue SET state = 'superseded', batch_id = NULL WHERE id = ?", [.integer(row.id)]) }
        }
        try run("UPDATE queue SET batch_id = NULL WHERE batch_id = ?", [.integer(id)])
        try run("DELETE FROM batches WHERE id = ?", [.integer(id)])
    }

    /// Shrinks the believed per-request `batch` of a quota kind (an API batch-limit rejection).
    public func lowerQuotaBatch(kind: QuotaKind, to batch: Int) throws {
        try run("UPDATE quota SET batch = MAX(1, ?) WHERE kind = ?", [.integer(Int64(max(1, batch))), .text(kind.rawValue)])
    }

    /// History older than `olderThan` (SPEC §6: 7 days): settled queue rows, and batches that
    /// ended (`done`, `failed`, `unverified`) with no unsettled row left. Returns the rows
    /// deleted (queue, batches).
    @discardableResult
    public func pruneHistory(olderThan milliseconds: Int64, limit: Int = 5_000) throws -> (queue: Int, batches: Int) {
        // At most `limit` rows of each per call: the caller commits and yields between calls, so
        // a first prune of a long history never holds the daemon for seconds.
        let queue = try run(
            """
            DELETE FROM queue WHERE id IN (
              SELECT id FROM queue WHERE state IN ('done', 'superseded', 'failed', 'forgotten')
                AND COALESCE(failed_at, first_seen) < ?
                AND (batch_id IS NULL OR batch_id IN (SELECT id FROM batches WHERE updated_at < ?))
              LIMIT ?)
            """, [.integer(milliseconds), .integer(milliseconds), .integer(Int64(limit))])
        let batches = try run(
            """
            DELETE FROM batches WHERE id IN (
              SELECT id FROM batches WHERE state IN ('done', 'failed', 'unverified') AND updated_at < ?
                AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.batch_id = batches.id)
              LIMIT ?)
            """, [.integer(milliseconds), .integer(Int64(limit))])
        return (queue, batches)
    }

    // MARK: - Counts for status

    public func count(_ sql: String, _ bindings: [SQLValue] = []) throws -> Int {
        try queryFirst(sql, bindings) { Int($0.int64(0)) } ?? 0
    }

    public func oldestPendingMilliseconds() throws -> Int64? {
        try queryFirst("SELECT MIN(first_seen) FROM queue WHERE state = 'pending'") { $0.isNull(0) ? nil : $0.int64(0) } ?? nil
    }

    // MARK: - Quota cache

    public func quotaRows() throws -> [QuotaRow] {
        // A kind this release does not know (none is written today) is not a quota it plans with.
        try query("SELECT area, kind, batch, total, available, fetched_at FROM quota ORDER BY area, kind") { row -> QuotaRow? in
            guard let kind = QuotaKind(rawValue: row.text(1) ?? "") else { return nil }
            return QuotaRow(
                area: row.text(0) ?? "", kind: kind, batch: Int(row.int64(2)), total: Int(row.int64(3)),
                available: Int(row.int64(4)), fetchedMilliseconds: row.int64(5))
        }.compactMap { $0 }
    }

    public func replaceQuota(_ rows: [QuotaRow]) throws {
        try run("DELETE FROM quota")
        for row in rows {
            try run(
                "INSERT INTO quota (area, kind, batch, total, available, fetched_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    .text(row.area), .text(row.kind.rawValue), .integer(Int64(row.batch)), .integer(Int64(row.total)),
                    .integer(Int64(row.available)), .integer(row.fetchedMilliseconds),
                ])
        }
    }

    /// Counts an accepted batch against the cached quota of `areas` (every area when empty).
    public func consumeQuota(kind: QuotaKind, count: Int, areas: [String]) throws {
        if areas.isEmpty {
            try run("UPDATE quota SET available = MAX(0, available - ?) WHERE kind = ?", [.integer(Int64(count)), .text(kind.rawValue)])
        } else {
            for area in areas {
                try run(
                    "UPDATE quota SET available = MAX(0, available - ?) WHERE kind = ? AND area = ?",
                    [.integer(Int64(count)), .text(kind.rawValue), .text(area)])
            }
        }
    }
}
