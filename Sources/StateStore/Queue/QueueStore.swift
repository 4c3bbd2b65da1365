/// The durable queue as the submitter and the verifier use it (SPEC §6): queued URLs, purge
/// batches and the quota cache, in transactional units named after what they do — never SQL.
///
/// The stages decide (``BatchState`` from the batch lifecycle, which rows are done, retried or
/// failed); a store only applies each decision atomically. The SQLite store (``SQLiteQueueStore``)
/// is the embedded one; a second implementation (the fleet's PostgreSQL state) implements the
/// same units, so the stages need no change.
///
/// Every requirement is `nonisolated(nonsending)`: it runs on its caller's executor (the
/// daemon's own thread), so a blocking implementation never lands on the cooperative pool.
public protocol QueueStore: Sendable {
    // MARK: Queueing

    /// Queues `urls` in one transaction, each unless the same (url, area) is already pending
    /// (a database-enforced uniqueness); returns how many rows were added.
    nonisolated(nonsending) func enqueue(_ urls: [NewQueueRow], nowMilliseconds: Int64) async throws -> Int

    // MARK: Planning

    /// Pending URLs, oldest first.
    nonisolated(nonsending) func pendingURLs() async throws -> [QueueRow]
    /// Inserts the planner's batches in one transaction, each taking its queue rows.
    nonisolated(nonsending) func insertBatches(_ batches: [NewBatch], nowMilliseconds: Int64) async throws
    /// Plans the pending URLs in one transaction: `plan` is handed them (oldest first) and the
    /// batches it returns are inserted before anything else can change the queue. A pending
    /// URL read here is in a batch or still pending when it returns, never lost between a read
    /// and a write. `plan` is not called when nothing is pending.
    nonisolated(nonsending) func planBatches(nowMilliseconds: Int64, _ plan: ([PendingURL]) throws -> [NewBatch]) async throws
    /// Batches in `state` (all of them, or only those due by `dueBy`), oldest first.
    nonisolated(nonsending) func batches(in state: BatchState, dueBy: Int64?) async throws -> [BatchRow]
    /// Deletes a batch that was never accepted; its rows are pending again (or superseded).
    nonisolated(nonsending) func dissolve(batch: Int64) async throws

    // MARK: Sending

    /// The batch is being sent: its state, one attempt more.
    nonisolated(nonsending) func markSending(batch: Int64, state: BatchState, attempts: Int, nowMilliseconds: Int64) async throws
    /// The API accepted the batch: its state, task and request ids, the first poll, and the
    /// quota counted — one transaction.
    nonisolated(nonsending) func recordAccepted(_ batch: BatchRow, acceptance: Acceptance, nowMilliseconds: Int64) async throws
    /// A dry run's batch: its state, a made-up task id, its rows done, the local quota counted.
    nonisolated(nonsending) func recordSimulated(_ batch: BatchRow, state: BatchState, areas: [String], nowMilliseconds: Int64) async throws
    /// A failed send, in one transaction: the batch's new state, when it is due again, the API's
    /// error, and what follows (``FailedSend``) — so a stop between them can never leave a
    /// `failed` batch whose URLs are still `batched` (never sent, never reported). Returns false
    /// when ``FailedSend/failAlone`` names a URL the batch does not hold (that part then changed
    /// nothing; the rest was applied).
    @discardableResult
    nonisolated(nonsending) func recordFailure(_ batch: BatchRow, _ failure: FailedSend, nowMilliseconds: Int64) async throws -> Bool
    /// The API refused a batch as too big: the believed per-request size of `kind` shrinks
    /// (`defaults` are written first when no quota was ever read).
    nonisolated(nonsending) func lowerBatchSize(kind: QuotaKind, to size: Int, defaults: [QuotaRow]) async throws
    /// The batch is replaced by one `planned` batch per part, each taking the rows it covers
    /// (by prefix for a directory batch).
    nonisolated(nonsending) func split(_ batch: BatchRow, into parts: [[String]], nowMilliseconds: Int64) async throws

    // MARK: Verifying

    /// The batch's queue rows.
    nonisolated(nonsending) func urls(ofBatch batch: Int64) async throws -> [QueueRow]
    /// Polled, not settled: its state, the next poll and the count so far.
    nonisolated(nonsending) func schedulePoll(batch: Int64, state: BatchState, atMilliseconds: Int64, polls: Int, nowMilliseconds: Int64) async throws
    /// Never confirmed in time: its state, the reason, its rows settled as `Unverified`.
    nonisolated(nonsending) func markUnverified(batch: Int64, state: BatchState, message: String, nowMilliseconds: Int64) async throws
    /// DescribePurgeTasks settled the batch, in one transaction: `decide` is handed the batch's
    /// rows and says how each ends and the batch's state (nil: leave it as it is); that is
    /// applied before anything else can change them.
    nonisolated(nonsending) func settle(
        batch: Int64, nowMilliseconds: Int64, _ decide: ([QueueRow]) throws -> Settlement?
    ) async throws

    /// Deletes settled history (`done`, `failed`, forgotten rows and their batches) older than
    /// `olderThan`, at most a few thousand rows per call: the caller calls again until it
    /// returns zeros, yielding between calls.
    nonisolated(nonsending) func prune(olderThan milliseconds: Int64) async throws -> (queue: Int, batches: Int)

    // MARK: Scheduling

    /// How much work waits at `nowMilliseconds`: what the submitter and its timer ask.
    nonisolated(nonsending) func workload(nowMilliseconds: Int64) async throws -> Workload
    /// The earliest next attempt of a batch in `states` (nil: none has one).
    nonisolated(nonsending) func earliestAttempt(in states: [BatchState]) async throws -> Int64?
    /// The newest queue row's id (0 for an empty queue): a flush answers for rows up to it.
    nonisolated(nonsending) func highestQueueID() async throws -> Int64
    /// Rows up to `upTo` (and above `after`) not yet accepted or failed, and the URLs among them
    /// that failed since `failuresSince`.
    nonisolated(nonsending) func flushProgress(upTo: Int64, after: Int64, failuresSince: Int64) async throws -> FlushProgress

    // MARK: Quota cache

    nonisolated(nonsending) func quota() async throws -> [QuotaRow]
    nonisolated(nonsending) func replaceQuota(_ rows: [QuotaRow]) async throws
}

/// How much work waits (``QueueStore/workload(nowMilliseconds:)``).
public struct Workload: Sendable, Equatable {
    /// Queued URLs not yet planned.
    public var pending = 0
    /// Batches `planned` (due or not) and `waiting-quota`.
    public var planned = 0
    public var waitingQuota = 0
    /// Of those, the ones whose time has come.
    public var plannedDue = 0
    public var waitingQuotaDue = 0

    public init() {}
}

/// Where a flush's rows stand (``QueueStore/flushProgress(upTo:after:failuresSince:)``).
public struct FlushProgress: Sendable, Equatable {
    public var unsettled: Int
    public var failed: [String]

    public init(unsettled: Int, failed: [String]) {
        self.unsettled = unsettled
        self.failed = failed
    }
}

/// What a failed send changes (``QueueStore/recordFailure(_:_:nowMilliseconds:)``).
public struct FailedSend: Sendable, Equatable {
    /// The batch's state, from the lifecycle.
    public var state: BatchState
    public var dueMilliseconds: Int64?
    public var errorCode: String
    public var errorMessage: String
    /// The batch's URLs still in it fail with it (a permanent failure, nothing left to split).
    public var failURLs = false
    /// This URL fails alone and leaves the batch (too long for the API); the rest is sent again.
    public var failAlone: String?
    /// The day's quota of this kind is used up in ``areas`` (every area when empty): a
    /// day-limit refusal; nothing more is planned on it until a reading says otherwise.
    public var exhaustQuota: QuotaKind?
    public var areas: [String] = []

    public init(state: BatchState, dueMilliseconds: Int64?, errorCode: String, errorMessage: String) {
        self.state = state
        self.dueMilliseconds = dueMilliseconds
        self.errorCode = errorCode
        self.errorMessage = errorMessage
    }
}

/// A URL to queue: a detected change's (with its path and kind), or one given by hand.
public struct NewQueueRow: Sendable, Hashable {
    public var url: String
    public var area: String
    /// The file it was mapped from (nil for a URL given as a URL).
    public var path: [UInt8]?
    public var kind: QueueKind

    public init(url: String, area: String, path: [UInt8]?, kind: QueueKind) {
        self.url = url
        self.area = area
        self.path = path
        self.kind = kind
    }
}

/// A batch the planner made.
public struct NewBatch: Sendable, Equatable {
    public var action: BatchAction
    public var area: String
    public var state: BatchState
    public var targets: [String]
    public var queueIDs: [Int64]
    public var dryRun: Bool
    public var nextAttemptMilliseconds: Int64?

    public init(
        action: BatchAction, area: String, state: BatchState, targets: [String], queueIDs: [Int64], dryRun: Bool,
        nextAttemptMilliseconds: Int64? = nil
    ) {
        self.action = action
        self.area = area
        self.state = state
        self.targets = targets
        self.queueIDs = queueIDs
        self.dryRun = dryRun
        self.nextAttemptMilliseconds = nextAttemptMilliseconds
    }
}

/// What the API said when it accepted a batch, and what follows.
public struct Acceptance: Sendable, Equatable {
    public var state: BatchState
    public var taskID: String
    public var requestID: String
    public var acceptedMilliseconds: Int64
    public var firstPollMilliseconds: Int64
    /// The quota areas it counts against (every area when empty).
    public var areas: [String]
    /// Targets the provider refused while it accepted the rest (EdgeOne's `FailedList`): they
    /// leave the batch; their rows fail alone or move to a batch of their own (``Rejection``).
    public var rejected: [Rejection] = []
    /// The quota kind a refusal by day limit used up (with ``areas``), or nil.
    public var exhaustQuota: QuotaKind?

    /// One refused target of an accepted batch.
    public struct Rejection: Sendable, Equatable {
        public var target: String
        /// The provider's reason, kept as the rows' error.
        public var reason: String
        /// nil: the target's rows fail alone. Otherwise they move to a new batch in this state
        /// (`planned`: a retry; `waiting-quota`: the reset), due then, counting this attempt.
        public var later: Later?

        public struct Later: Sendable, Hashable {
            public var state: BatchState
            public var dueMilliseconds: Int64

            public init(state: BatchState, dueMilliseconds: Int64) {
                self.state = state
                self.dueMilliseconds = dueMilliseconds
            }
        }

        public init(target: String, reason: String, later: Later?) {
            self.target = target
            self.reason = reason
            self.later = later
        }
    }

    /// The batch's attempts so far, this one included (a refused target's new batch counts on
    /// from it, so its retries back off).
    public var attempts: Int = 1

    public init(
        state: BatchState, taskID: String, requestID: String, acceptedMilliseconds: Int64, firstPollMilliseconds: Int64,
        areas: [String], rejected: [Rejection] = [], exhaustQuota: QuotaKind? = nil, attempts: Int = 1
    ) {
        self.rejected = rejected
        self.exhaustQuota = exhaustQuota
        self.attempts = attempts
        self.state = state
        self.taskID = taskID
        self.requestID = requestID
        self.acceptedMilliseconds = acceptedMilliseconds
        self.firstPollMilliseconds = firstPollMilliseconds
        self.areas = areas
    }
}

/// How a settled batch's rows end, as the verifier decided.
public struct Settlement: Sendable, Equatable {
    /// The batch's state, from the lifecycle.
    public var state: BatchState
    public var done: [Int64] = []
    /// Queued again (a failed task with retries left).
    public var requeued: [Int64] = []
    /// Failed for good.
    public var failed: [Int64] = []
    /// The error the failed and re-queued rows carry (`TaskFailed`), and the batch's message.
    public var errorCode: String?
    public var errorMessage: String?

    public init(state: BatchState) { self.state = state }
}

/// The embedded store: one SQLite file (``StateDatabase``), each unit one transaction.
public final class SQLiteQueueStore: QueueStore {
    public let db: StateDatabase

    public init(_ db: StateDatabase) { self.db = db }

    public nonisolated(nonsending) func enqueue(_ urls: [NewQueueRow], nowMilliseconds: Int64) async throws -> Int {
        guard !urls.isEmpty else { return 0 }
        return try db.transaction { try $0.enqueue(urls, nowMilliseconds: nowMilliseconds) }
    }

    public nonisolated(nonsending) func pendingURLs() async throws -> [QueueRow] {
        try db.read { try $0.pendingQueue() }
    }

    public nonisolated(nonsending) func insertBatches(_ batches: [NewBatch], nowMilliseconds: Int64) async throws {
        guard !batches.isEmpty else { return }
        try db.transaction { tx in
            for batch in batches {
                _ = try tx.insertBatch(
                    action: batch.action, area: batch.area, state: batch.state, targets: batch.targets, queueIDs: batch.queueIDs,
                    dryRun: batch.dryRun, nextAttemptMilliseconds: batch.nextAttemptMilliseconds, nowMilliseconds: nowMilliseconds)
            }
        }
    }

    public nonisolated(nonsending) func planBatches(nowMilliseconds: Int64, _ plan: ([PendingURL]) throws -> [NewBatch]) async throws {
        try db.transaction { tx in
            let pending = try tx.pendingToPlan()
            guard !pending.isEmpty else { return }
            for batch in try plan(pending) {
                _ = try tx.insertBatch(
                    action: batch.action, area: batch.area, state: batch.state, targets: batch.targets, queueIDs: batch.queueIDs,
                    dryRun: batch.dryRun, nextAttemptMilliseconds: batch.nextAttemptMilliseconds, nowMilliseconds: nowMilliseconds)
            }
        }
    }

    public nonisolated(nonsending) func batches(in state: BatchState, dueBy: Int64?) async throws -> [BatchRow] {
        try db.read { tx in
            if let dueBy { return try tx.dueBatches(state: state, nowMilliseconds: dueBy) }
            return try tx.batches(state: state)
        }
    }

    public nonisolated(nonsending) func dissolve(batch: Int64) async throws {
        try db.transaction { try $0.dissolveBatch(id: batch) }
    }

    public nonisolated(nonsending) func markSending(batch: Int64, state: BatchState, attempts: Int, nowMilliseconds: Int64) async throws {
        try db.transaction { try $0.updateBatch(id: batch, state: state, attempts: attempts, nowMilliseconds: nowMilliseconds) }
    }

    public nonisolated(nonsending) func recordAccepted(_ batch: BatchRow, acceptance: Acceptance, nowMilliseconds: Int64) async throws {
        try db.transaction { tx in
            var targets = batch.targets
            if !acceptance.rejected.isEmpty {
                // The refused targets leave the batch (the verifier polls for the rest); their
                // rows fail alone or move to batches of their own, in the same unit.
                let refused = Set(acceptance.rejected.map(\.target))
                targets = batch.targets.filter { !refused.contains($0) }
                let rows = try tx.queueRows(batchID: batch.id).filter { $0.state == .batched }
                var later: [Acceptance.Rejection.Later: (targets: [String], rows: [Int64], reason: String)] = [:]
                for rejection in acceptance.rejected {
                    let covered = rows.filter {
                        batch.action == .directories ? $0.url.hasPrefix(rejection.target) : $0.url == rejection.target
                    }
                    guard let next = rejection.later else {
                        for row in covered {
                            try tx.setQueueState(id: row.id, state: .failed, errorCode: rejection.reason, nowMilliseconds: nowMilliseconds)
                        }
                        continue
                    }
                    later[next, default: ([], [], rejection.reason)].targets.append(rejection.target)
                    later[next, default: ([], [], rejection.reason)].rows += covered.map(\.id)
                }
                for (next, part) in later.sorted(by: { $0.key.dueMilliseconds < $1.key.dueMilliseconds }) {
                    let id = try tx.insertBatch(
                        action: batch.action, area: batch.area, state: next.state, targets: part.targets, queueIDs: part.rows,
                        dryRun: batch.isDryRun, nextAttemptMilliseconds: next.dueMilliseconds, nowMilliseconds: nowMilliseconds)
                    try tx.updateBatch(
                        id: id, state: next.state, attempts: acceptance.attempts, errorCode: .some(part.reason), nowMilliseconds: nowMilliseconds)
                }
                if let kind = acceptance.exhaustQuota { try tx.consumeQuota(kind: kind, count: Int.max / 2, areas: acceptance.areas) }
            }
            try tx.updateBatch(
                id: batch.id, state: acceptance.state, taskID: acceptance.taskID, requestID: acceptance.requestID,
                nextAttemptMilliseconds: .some(acceptance.firstPollMilliseconds), errorCode: .some(nil), errorMessage: .some(nil),
                targets: targets == batch.targets ? nil : targets, acceptedMilliseconds: acceptance.acceptedMilliseconds, polls: 0,
                nowMilliseconds: nowMilliseconds)
            try tx.consumeQuota(kind: batch.action.quotaKind, count: targets.count, areas: acceptance.areas)
        }
    }

    public nonisolated(nonsending) func recordSimulated(
        _ batch: BatchRow, state: BatchState, areas: [String], nowMilliseconds: Int64
    ) async throws {
        try db.transaction { tx in
            try tx.updateBatch(id: batch.id, state: state, taskID: "dry-run-\(batch.id)", nowMilliseconds: nowMilliseconds)
            for row in try tx.queueRows(batchID: batch.id) where row.state == .batched {
                try tx.setQueueState(id: row.id, state: .done)
            }
            try tx.consumeQuota(kind: batch.action.quotaKind, count: batch.targets.count, areas: areas)
        }
    }

    public nonisolated(nonsending) func recordFailure(_ batch: BatchRow, _ failure: FailedSend, nowMilliseconds: Int64) async throws -> Bool {
        try db.transaction { tx in
            try tx.updateBatch(
                id: batch.id, state: failure.state, nextAttemptMilliseconds: .some(failure.dueMilliseconds),
                errorCode: .some(failure.errorCode), errorMessage: .some(failure.errorMessage), nowMilliseconds: nowMilliseconds)
            if let kind = failure.exhaustQuota { try tx.consumeQuota(kind: kind, count: Int.max / 2, areas: failure.areas) }
            let rows = try tx.queueRows(batchID: batch.id)
            if failure.failURLs {
                for row in rows where row.state == .batched {
                    try tx.setQueueState(id: row.id, state: .failed, errorCode: failure.errorCode, nowMilliseconds: nowMilliseconds)
                }
            }
            guard let url = failure.failAlone else { return true }
            guard rows.contains(where: { $0.url == url }) else { return false }
            for row in rows where row.url == url && row.state == .batched {
                try tx.setQueueState(id: row.id, state: .failed, errorCode: failure.errorCode, nowMilliseconds: nowMilliseconds)
            }
            try tx.setBatchTargets(id: batch.id, batch.targets.filter { $0 != url }, nowMilliseconds: nowMilliseconds)
            return true
        }
    }

    public nonisolated(nonsending) func lowerBatchSize(kind: QuotaKind, to size: Int, defaults: [QuotaRow]) async throws {
        try db.transaction { tx in
            if try tx.quotaRows().isEmpty { try tx.replaceQuota(defaults) }
            try tx.lowerQuotaBatch(kind: kind, to: size)
        }
    }

    public nonisolated(nonsending) func split(_ batch: BatchRow, into parts: [[String]], nowMilliseconds: Int64) async throws {
        let byPrefix = batch.action == .directories
        try db.transaction { tx in
            let rows = try tx.queueRows(batchID: batch.id).filter { $0.state == .batched }
            for part in parts where !part.isEmpty {
                let members = Set(part)
                let ids = rows.filter { row in
                    byPrefix ? part.contains { row.url.hasPrefix($0) } : members.contains(row.url)
                }.map(\.id)
                _ = try tx.insertBatch(
                    action: batch.action, area: batch.area, state: .planned, targets: part, queueIDs: ids, dryRun: false,
                    nowMilliseconds: nowMilliseconds)
            }
            try tx.dissolveBatch(id: batch.id)
        }
    }

    public nonisolated(nonsending) func urls(ofBatch batch: Int64) async throws -> [QueueRow] {
        try db.read { try $0.queueRows(batchID: batch) }
    }

    public nonisolated(nonsending) func schedulePoll(
        batch: Int64, state: BatchState, atMilliseconds: Int64, polls: Int, nowMilliseconds: Int64
    ) async throws {
        try db.transaction {
            try $0.updateBatch(
                id: batch, state: state, nextAttemptMilliseconds: .some(atMilliseconds), polls: polls, nowMilliseconds: nowMilliseconds)
        }
    }

    public nonisolated(nonsending) func markUnverified(batch: Int64, state: BatchState, message: String, nowMilliseconds: Int64) async throws {
        try db.transaction { tx in
            try tx.updateBatch(
                id: batch, state: state, nextAttemptMilliseconds: .some(nil), errorCode: .some("Unverified"),
                errorMessage: .some(message), nowMilliseconds: nowMilliseconds)
            // Accepted, never confirmed: settled (so history can be pruned), marked as such.
            for row in try tx.queueRows(batchID: batch) where row.state == .batched {
                try tx.setQueueState(id: row.id, state: .done, errorCode: "Unverified")
            }
        }
    }

    public nonisolated(nonsending) func settle(
        batch: Int64, nowMilliseconds: Int64, _ decide: ([QueueRow]) throws -> Settlement?
    ) async throws {
        try db.transaction { tx in
            guard let settlement = try decide(try tx.queueRows(batchID: batch)) else { return }
            for id in settlement.done { try tx.setQueueState(id: id, state: .done) }
            for id in settlement.requeued { try tx.requeue(id: id, errorCode: settlement.errorCode) }
            for id in settlement.failed {
                try tx.setQueueState(id: id, state: .failed, errorCode: settlement.errorCode, nowMilliseconds: nowMilliseconds)
            }
            try tx.updateBatch(
                id: batch, state: settlement.state, nextAttemptMilliseconds: .some(nil),
                errorCode: settlement.errorCode.map { .some($0) }, errorMessage: settlement.errorMessage.map { .some($0) },
                nowMilliseconds: nowMilliseconds)
        }
    }

    public nonisolated(nonsending) func prune(olderThan milliseconds: Int64) async throws -> (queue: Int, batches: Int) {
        try db.transaction { try $0.pruneHistory(olderThan: milliseconds) }
    }

    public nonisolated(nonsending) func workload(nowMilliseconds: Int64) async throws -> Workload {
        try db.read { tx in
            var work = Workload()
            work.pending = try tx.queueCount(state: .pending)
            work.planned = try tx.batchCount(state: .planned)
            work.waitingQuota = try tx.batchCount(state: .waitingQuota)
            work.plannedDue = try tx.dueBatchCount(states: [.planned], nowMilliseconds: nowMilliseconds)
            work.waitingQuotaDue = try tx.dueBatchCount(states: [.waitingQuota], nowMilliseconds: nowMilliseconds)
            return work
        }
    }

    public nonisolated(nonsending) func earliestAttempt(in states: [BatchState]) async throws -> Int64? {
        try db.read { try $0.earliestAttemptMilliseconds(states: states) }
    }

    public nonisolated(nonsending) func highestQueueID() async throws -> Int64 {
        try db.read { try $0.highestQueueID() }
    }

    public nonisolated(nonsending) func flushProgress(upTo: Int64, after: Int64, failuresSince: Int64) async throws -> FlushProgress {
        let (unsettled, failed) = try db.read { try $0.flushProgress(upTo: upTo, after: after, failuresSince: failuresSince) }
        return FlushProgress(unsettled: unsettled, failed: failed)
    }

    public nonisolated(nonsending) func quota() async throws -> [QuotaRow] {
        try db.read { try $0.quotaRows() }
    }

    public nonisolated(nonsending) func replaceQuota(_ rows: [QuotaRow]) async throws {
        try db.transaction { try $0.replaceQuota(rows) }
    }
}
