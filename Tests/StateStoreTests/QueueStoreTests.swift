import Foundation
import StateStore
import TestPostgres
import Testing

@testable import FleetStore

/// The ``QueueStore`` contract, unit by unit, written from its documentation: what each unit
/// must change and what it must leave alone. Parameterised over the stores there are (the SQLite
/// file and the fleet's PostgreSQL store, on a throwaway server: see ``TemporaryPostgres``), so
/// every implementation answers to the same table. Rows are set up and inspected through
/// ``Subject``'s store-neutral helpers, each written per store.
@Suite struct QueueStoreTests {
    static let stores: [String] = ["sqlite", "postgres"]

    static func make(_ kind: String) async throws -> Subject {
        switch kind {
        case "sqlite":
            let directory = TemporaryDirectory()
            let db = try StateDatabase.open(path: directory.database, migrations: QueueSchema.migrations)
            return Subject(store: SQLiteQueueStore(db), backend: .sqlite(directory, db))
        case "postgres":
            let server = try TemporaryPostgres.server()
            let database = try await server.createDatabase()
            let store = try await PostgresQueueStore.connect(
                url: try server.url(database), site: "www.example.com", logger: TemporaryPostgres.quietLogger)
            return Subject(store: store, backend: .postgres(store))
        default:
            throw TemporaryPostgresError(message: "no store named \(kind)")
        }
    }

    static let www = "https://www.example.com/"
    static let now: Int64 = 1_800_000_000_000

    /// Queues `paths` and plans them into one `planned` URL batch; returns it.
    static func plannedBatch(_ subject: Subject, _ paths: [String], action: BatchAction = .urls) async throws -> BatchRow {
        try await subject.enqueue(paths.map { www + $0 }, kind: .modified, nowMilliseconds: now)
        let pending = try await subject.store.pendingURLs()
        let targets = action == .urls ? pending.map(\.url) : [www]
        try await subject.store.insertBatches(
            [NewBatch(action: action, area: "", state: .planned, targets: targets, queueIDs: pending.map(\.id), dryRun: false)],
            nowMilliseconds: now)
        return try #require(try await subject.store.batches(in: .planned, dueBy: nil).last)
    }

    static func rowStates(_ subject: Subject) async throws -> [String: QueueState] {
        try await subject.rowStates()
    }

    /// One pending row per (url, area), whoever queues it: a URL pending already is not added
    /// again (in the same call or a later one), the same URL in another area is, and a URL whose
    /// row is in a batch is pending again as a new row.
    @Test(arguments: stores)
    func enqueueAddsAURLOnlyWhileItIsNotPendingInItsArea(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let a = NewQueueRow(url: Self.www + "a", area: "mainland", path: Array("a".utf8), kind: .modified)
        let b = NewQueueRow(url: Self.www + "b", area: "mainland", path: nil, kind: .manual)
        #expect(try await subject.store.enqueue([a, b, a], nowMilliseconds: Self.now) == 2)
        #expect(try await subject.store.enqueue([a], nowMilliseconds: Self.now + 1) == 0, "still pending")
        var overseas = a
        overseas.area = "overseas"
        #expect(try await subject.store.enqueue([overseas], nowMilliseconds: Self.now + 2) == 1, "another area")
        #expect(try await subject.store.enqueue([], nowMilliseconds: Self.now + 3) == 0)
        let pending = try await subject.store.pendingURLs()
        #expect(pending.map(\.url) == [a.url, b.url, a.url])
        #expect(pending.map(\.area) == ["mainland", "mainland", "overseas"])
        #expect(pending.first?.path == a.path && pending[1].path == nil)
        #expect(pending.map(\.kind) == [.modified, .manual, .modified])

        // Batched, it is not pending: queued again, it is a new pending row.
        try await subject.store.insertBatches(
            [NewBatch(action: .urls, area: "mainland", state: .planned, targets: [a.url], queueIDs: [pending[0].id], dryRun: false)],
            nowMilliseconds: Self.now + 4)
        #expect(try await subject.store.enqueue([a], nowMilliseconds: Self.now + 5) == 1)
        #expect(try await subject.queueCount(state: .pending) == 3)
    }

    /// A deploy's thousands of URLs in one call (PostgreSQL: more than one statement's worth):
    /// each queued once, in the order given, a duplicate across the statements' boundary too.
    @Test(arguments: stores)
    func aDeploysThousandsOfURLsAreQueuedOnceInTheirOrder(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let count = PostgresUnit.enqueueStatementRows + 2  // the last two in a second statement
        let urls = (0..<count).map { NewQueueRow(url: Self.www + "p\($0)", area: "", path: Array("p\($0)".utf8), kind: .modified) }
        #expect(try await subject.store.enqueue(urls + [urls[0], urls[count - 1]], nowMilliseconds: Self.now) == count)
        let pending = try await subject.store.pendingURLs()
        #expect(pending.map(\.url) == urls.map(\.url), "must not: a URL twice, or out of the order given")
        #expect(pending.map(\.path) == urls.map(\.path))
    }

    @Test(arguments: stores)
    func insertedBatchesTakeTheirRowsAndOnlyThoseArePendingNoMore(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        try await subject.enqueue(["a", "b", "c"].map { Self.www + $0 }, kind: .created, nowMilliseconds: Self.now)
        let pending = try await subject.store.pendingURLs()
        #expect(pending.map(\.url) == ["a", "b", "c"].map { Self.www + $0 }, "oldest first")
        try await subject.store.insertBatches(
            [
                NewBatch(action: .urls, area: "", state: .planned, targets: [pending[0].url], queueIDs: [pending[0].id], dryRun: false),
                NewBatch(
                    action: .urls, area: "", state: .waitingQuota, targets: [pending[1].url], queueIDs: [pending[1].id], dryRun: false,
                    nextAttemptMilliseconds: Self.now + 60_000),
            ], nowMilliseconds: Self.now)
        #expect(try await subject.store.pendingURLs().map(\.url) == [Self.www + "c"], "must not: a planned row still pending")
        #expect(try await subject.store.batches(in: .planned, dueBy: Self.now).count == 1)
        #expect(try await subject.store.batches(in: .waitingQuota, dueBy: Self.now).isEmpty, "not due before its time")
        #expect(try await subject.store.batches(in: .waitingQuota, dueBy: Self.now + 60_000).count == 1)
        #expect(try await subject.store.batches(in: .waitingQuota, dueBy: nil).count == 1, "nil: every batch in the state")
    }

    /// Planning reads the pending URLs and inserts their batches in one unit; with nothing
    /// pending the planner is not asked.
    @Test(arguments: stores)
    func planningHandsThePendingURLsAndInsertsWhatThePlannerReturns(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        var asked = 0
        try await subject.store.planBatches(nowMilliseconds: Self.now) { _ in
            asked += 1
            return []
        }
        #expect(asked == 0, "must not: the planner asked with nothing pending")
        try await subject.enqueue(["a", "b"].map { Self.www + $0 }, kind: .created, nowMilliseconds: Self.now)
        try await subject.store.planBatches(nowMilliseconds: Self.now) { pending in
            asked += 1
            return [NewBatch(action: .urls, area: "", state: .planned, targets: pending.map(\.url), queueIDs: pending.map(\.id), dryRun: false)]
        }
        #expect(asked == 1)
        #expect(try await subject.store.batches(in: .planned, dueBy: nil).first?.targets == ["a", "b"].map { Self.www + $0 })
        #expect(try await subject.store.pendingURLs().isEmpty)
    }

    @Test(arguments: stores)
    func acceptanceCountsTheQuotaOnceAndRecordsTheTask(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        try await subject.store.replaceQuota([
            QuotaRow(area: "mainland", kind: .url, batch: 1_000, total: 100, available: 100, fetchedMilliseconds: Self.now),
            QuotaRow(area: "mainland", kind: .path, batch: 20, total: 10, available: 10, fetchedMilliseconds: Self.now),
        ])
        let batch = try await Self.plannedBatch(subject, ["a", "b", "c"])
        try await subject.store.markSending(batch: batch.id, state: .sending, attempts: 1, nowMilliseconds: Self.now)
        try await subject.store.recordAccepted(
            batch,
            acceptance: Acceptance(
                state: .accepted, taskID: "task-1", requestID: "req-1", acceptedMilliseconds: Self.now,
                firstPollMilliseconds: Self.now + 15_000, areas: ["mainland"]),
            nowMilliseconds: Self.now)
        let accepted = try #require(try await subject.store.batches(in: .accepted, dueBy: nil).first)
        #expect(accepted.taskID == "task-1" && accepted.requestID == "req-1" && accepted.attempts == 1 && accepted.polls == 0)
        #expect(accepted.nextAttemptMilliseconds == Self.now + 15_000 && accepted.acceptedMilliseconds == Self.now)
        let quota = try await subject.store.quota()
        #expect(quota.first { $0.kind == .url }?.available == 97, "three URLs counted")
        #expect(quota.first { $0.kind == .path }?.available == 10, "must not: the path quota counted for a URL batch")
        #expect(try await Self.rowStates(subject).values.allSatisfy { $0 == .batched }, "rows wait for the task's verdict")
    }

    /// A request accepted in part (EdgeOne's `FailedList`, SPEC §10): the refused targets leave
    /// the batch in the same unit — failed alone, or moved to a batch of their own (a retry due
    /// later, or waiting for the quota, which then counts as used up); only the accepted targets
    /// count against the quota and wait for the task.
    @Test(arguments: stores)
    func refusedTargetsOfAnAcceptedBatchLeaveItInTheSameUnit(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        try await subject.store.replaceQuota([
            QuotaRow(area: "", kind: .url, batch: 1_000, total: 100, available: 100, fetchedMilliseconds: Self.now)
        ])
        let batch = try await Self.plannedBatch(subject, ["a", "b", "c", "d", "e"])
        try await subject.store.markSending(batch: batch.id, state: .sending, attempts: 1, nowMilliseconds: Self.now)
        let retryAt = Self.now + 30_000
        try await subject.store.recordAccepted(
            batch,
            acceptance: Acceptance(
                state: .accepted, taskID: "job-1", requestID: "req-1", acceptedMilliseconds: Self.now,
                firstPollMilliseconds: Self.now + 15_000, areas: [],
                rejected: [
                    .init(target: Self.www + "b", reason: "InvalidParameter.Target", later: nil),
                    .init(target: Self.www + "c", reason: "InternalError.BackendError", later: .init(state: .planned, dueMilliseconds: retryAt)),
                ],
                attempts: 1),
            nowMilliseconds: Self.now)
        let accepted = try #require(try await subject.store.batches(in: .accepted, dueBy: nil).first)
        #expect(accepted.targets == ["a", "d", "e"].map { Self.www + $0 }, "must not: a refused target polled for")
        var states = try await Self.rowStates(subject)
        #expect(states[Self.www + "a"] == .batched && states[Self.www + "d"] == .batched)
        #expect(states[Self.www + "b"] == .failed, "a permanent reason fails the target alone")
        #expect(states[Self.www + "c"] == .batched, "a passing reason: its own batch")
        #expect(try await subject.store.batches(in: .planned, dueBy: Self.now).isEmpty, "must not: sent again before its backoff")
        let retry = try #require(try await subject.store.batches(in: .planned, dueBy: retryAt).first)
        #expect(retry.targets == [Self.www + "c"] && retry.attempts == 1 && retry.lastErrorCode == "InternalError.BackendError")
        #expect(try await subject.store.urls(ofBatch: retry.id).map(\.url) == [Self.www + "c"])
        #expect(try await subject.store.quota().first?.available == 97, "only the three accepted targets counted")

        // A day limit for one target: it waits for the reset in a batch of its own, and the quota
        // of its kind counts as used up (a fresh reading decides what fits).
        try await subject.store.markSending(batch: retry.id, state: .sending, attempts: 2, nowMilliseconds: Self.now)
        let resetAt = Self.now + 3_600_000
        try await subject.store.recordAccepted(
            retry,
            acceptance: Acceptance(
                state: .done, taskID: "job-2", requestID: "req-2", acceptedMilliseconds: Self.now, firstPollMilliseconds: Self.now,
                areas: [],
                rejected: [
                    .init(target: Self.www + "c", reason: "LimitExceeded.DailyQuota", later: .init(state: .waitingQuota, dueMilliseconds: resetAt))
                ],
                exhaustQuota: .url, attempts: 2),
            nowMilliseconds: Self.now)
        states = try await Self.rowStates(subject)
        #expect(states[Self.www + "c"] == .batched, "must not: failed for a quota")
        let parked = try #require(try await subject.store.batches(in: .waitingQuota, dueBy: resetAt).first)
        #expect(parked.targets == [Self.www + "c"] && parked.attempts == 2)
        #expect(try await subject.store.batches(in: .waitingQuota, dueBy: Self.now).isEmpty, "due at the reset")
        #expect(try await subject.store.quota().first?.available == 0)
        #expect(try await subject.store.batches(in: .done, dueBy: nil).map(\.id) == [retry.id], "all refused: settled, nothing to poll")
    }

    @Test(arguments: stores)
    func aFailureWritesTheGivenStateAndDueTimeAndNothingElse(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a"])
        try await subject.store.markSending(batch: batch.id, state: .sending, attempts: 1, nowMilliseconds: Self.now)
        try await subject.store.recordFailure(
            batch, FailedSend(state: .planned, dueMilliseconds: Self.now + 30_000, errorCode: "InternalError", errorMessage: "busy"),
            nowMilliseconds: Self.now)
        #expect(try await subject.store.batches(in: .planned, dueBy: Self.now).isEmpty, "must not: due before its retry")
        let retried = try #require(try await subject.store.batches(in: .planned, dueBy: Self.now + 30_000).first)
        #expect(retried.lastErrorCode == "InternalError" && retried.lastErrorMessage == "busy" && retried.attempts == 1)
        #expect(try await Self.rowStates(subject)[Self.www + "a"] == .batched, "must not: its URL failed or released")
    }

    /// A permanent failure fails the batch and its URLs in one unit: never a `failed` batch whose
    /// URLs are still `batched` (flush --wait would count them settled, `failures` never show them).
    @Test(arguments: stores)
    func aPermanentFailureFailsTheBatchAndItsURLsTogether(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a", "b"])
        var record = FailedSend(state: .failed, dueMilliseconds: nil, errorCode: "AuthFailure.SecretIdNotFound", errorMessage: "no")
        record.failURLs = true
        try await subject.store.recordFailure(batch, record, nowMilliseconds: Self.now)
        #expect(try await subject.store.batches(in: .failed, dueBy: nil).map(\.id) == [batch.id])
        #expect(try await Self.rowStates(subject).values.allSatisfy { $0 == .failed })
        #expect(try await subject.failureCount() == 2, "reported for a human")
        let progress = try await subject.store.flushProgress(upTo: try await subject.store.highestQueueID(), after: .max, failuresSince: 0)
        #expect(progress.unsettled == 0 && progress.failed.count == 2, "a flush names them as failed")
    }

    /// A day-limit refusal parks the batch and marks the day's quota used in the same unit.
    @Test(arguments: stores)
    func aDayLimitRefusalParksTheBatchAndUsesUpTheQuotaTogether(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        try await subject.store.replaceQuota([
            QuotaRow(area: "mainland", kind: .url, batch: 1_000, total: 100, available: 80, fetchedMilliseconds: Self.now),
            QuotaRow(area: "overseas", kind: .url, batch: 1_000, total: 100, available: 80, fetchedMilliseconds: Self.now),
        ])
        let batch = try await Self.plannedBatch(subject, ["a"])
        var record = FailedSend(
            state: .waitingQuota, dueMilliseconds: Self.now + 3_600_000, errorCode: "LimitExceeded.CdnPurgeUrlExceedDayLimit",
            errorMessage: "day limit")
        record.exhaustQuota = .url
        record.areas = ["mainland"]
        try await subject.store.recordFailure(batch, record, nowMilliseconds: Self.now)
        #expect(try await subject.store.batches(in: .waitingQuota, dueBy: Self.now + 3_600_000).count == 1)
        let quota = try await subject.store.quota()
        #expect(quota.first { $0.area == "mainland" }?.available == 0)
        #expect(quota.first { $0.area == "overseas" }?.available == 80, "must not: another area used up")
        #expect(try await Self.rowStates(subject)[Self.www + "a"] == .batched, "must not: the URL failed")
    }

    @Test(arguments: stores)
    func splittingReplacesTheBatchAndEachPartTakesItsRows(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a", "b", "c", "d"])
        try await subject.store.split(
            batch, into: [[Self.www + "a", Self.www + "b"], [Self.www + "c"], [Self.www + "d"]], nowMilliseconds: Self.now)
        let parts = try await subject.store.batches(in: .planned, dueBy: nil)
        #expect(parts.map(\.targets.count) == [2, 1, 1])
        #expect(!parts.contains { $0.id == batch.id }, "must not: the original batch kept")
        for part in parts {
            #expect(try await subject.store.urls(ofBatch: part.id).map(\.url).sorted() == part.targets.sorted(), "each part holds its own rows")
        }
        #expect(try await subject.store.pendingURLs().isEmpty, "must not: a row released back to pending")
    }

    @Test(arguments: stores)
    func aURLFailsAloneAndTheRestStaysInItsBatch(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a", "toolong", "c"])
        var record = FailedSend(
            state: .planned, dueMilliseconds: Self.now, errorCode: "InvalidParameter.CdnUrlTooLong", errorMessage: "too long")
        record.failAlone = Self.www + "toolong"
        #expect(try await subject.store.recordFailure(batch, record, nowMilliseconds: Self.now))
        let states = try await Self.rowStates(subject)
        #expect(states[Self.www + "toolong"] == .failed)
        #expect(states[Self.www + "a"] == .batched && states[Self.www + "c"] == .batched, "must not: the others failed")
        #expect(try await subject.store.batches(in: .planned, dueBy: nil).first?.targets == [Self.www + "a", Self.www + "c"])
        // A URL the batch does not hold: false, nothing changed.
        let unchanged = try #require(try await subject.store.batches(in: .planned, dueBy: nil).first)
        record.failAlone = Self.www + "elsewhere"
        #expect(try await !subject.store.recordFailure(unchanged, record, nowMilliseconds: Self.now))
        #expect(try await Self.rowStates(subject) == states, "must not: another URL failed for it")
    }

    @Test(arguments: stores)
    func settlingAppliesEachRowsEndAndTheBatchState(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["done", "again", "given-up"])
        var handed: [String] = []
        try await subject.store.settle(batch: batch.id, nowMilliseconds: Self.now) { rows in
            handed = rows.map(\.url)
            let ids = Dictionary(uniqueKeysWithValues: rows.map { ($0.url, $0.id) })
            var settlement = Settlement(state: .failed)
            settlement.done = [ids[Self.www + "done"]!]
            settlement.requeued = [ids[Self.www + "again"]!]
            settlement.failed = [ids[Self.www + "given-up"]!]
            settlement.errorCode = "TaskFailed"
            settlement.errorMessage = "2 target(s) reported fail"
            return settlement
        }
        #expect(handed.sorted() == ["again", "done", "given-up"].map { Self.www + $0 }, "decide is handed the batch's rows")
        let states = try await Self.rowStates(subject)
        #expect(states[Self.www + "done"] == .done && states[Self.www + "given-up"] == .failed)
        let again = try await subject.store.pendingURLs()
        #expect(again.map(\.url) == [Self.www + "again"] && again.first?.retries == 1 && again.first?.errorCode == "TaskFailed")
        let settled = try #require(try await subject.store.batches(in: .failed, dueBy: nil).first)
        #expect(settled.lastErrorCode == "TaskFailed" && settled.nextAttemptMilliseconds == nil)
    }

    @Test(arguments: stores)
    func unverifiedSettlesTheRowsAsUnverifiedNotFailed(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a", "b"])
        try await subject.store.markUnverified(batch: batch.id, state: .unverified, message: "still in process", nowMilliseconds: Self.now)
        #expect(try await Self.rowStates(subject).values.allSatisfy { $0 == .done }, "settled, so history can be pruned")
        #expect(try await subject.store.urls(ofBatch: batch.id).allSatisfy { $0.errorCode == "Unverified" })
        #expect(try await subject.queueCount(state: .failed) == 0, "must not: reported as a failure")
        #expect(try await subject.store.batches(in: .unverified, dueBy: nil).first?.nextAttemptMilliseconds == nil, "polled no more")
    }

    @Test(arguments: stores)
    func aTooBigBatchLowersOnlyItsKindAndAQuotaNeverReadStartsFromTheDefaults(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let defaults = ["mainland", "overseas"].flatMap { area in
            [
                QuotaRow(area: area, kind: .url, batch: 1_000, total: 10_000, available: 10_000, fetchedMilliseconds: Self.now),
                QuotaRow(area: area, kind: .path, batch: 20, total: 100, available: 100, fetchedMilliseconds: Self.now),
            ]
        }
        try await subject.store.lowerBatchSize(kind: .url, to: 500, defaults: defaults)
        let quota = try await subject.store.quota()
        #expect(quota.count == 4)
        #expect(quota.filter { $0.kind == .url }.allSatisfy { $0.batch == 500 })
        #expect(quota.filter { $0.kind == .path }.allSatisfy { $0.batch == 20 }, "must not: the other kind lowered")

    }
}
