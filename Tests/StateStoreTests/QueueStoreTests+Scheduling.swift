import StateStore
import Testing

/// The units the first contract tests left out — dissolving, a dry run, polls, pruning and the
/// submitter's scheduling reads — written from the protocol's documentation, over every store.
extension QueueStoreTests {
    /// A dissolved batch's rows are pending again — or superseded where the same URL was queued
    /// again meanwhile (one pending row per URL) — no row points at it, and it is gone.
    @Test(arguments: stores)
    func dissolvingReleasesTheRowsOnePendingPerURLAndDeletesTheBatch(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a", "b"])
        try await subject.enqueue([Self.www + "a"], kind: .modified, nowMilliseconds: Self.now + 1)
        try await subject.store.dissolve(batch: batch.id)
        #expect(try await subject.store.batches(in: .planned, dueBy: nil).isEmpty, "must not: the batch kept")
        #expect(try await subject.store.urls(ofBatch: batch.id).isEmpty, "must not: a row still pointing at it")
        let pending = try await subject.store.pendingURLs()
        #expect(pending.map(\.url) == ["b", "a"].map { Self.www + $0 }, "b released; a pending once, in its newer row")
        #expect(pending.last?.firstSeenMilliseconds == Self.now + 1)
        #expect(try await subject.queueCount(state: .superseded) == 1, "the older row of a is superseded")
    }

    @Test(arguments: stores)
    func aDryRunSettlesItsRowsAndCountsTheLocalQuota(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        try await subject.store.replaceQuota([
            QuotaRow(area: "mainland", kind: .url, batch: 1_000, total: 100, available: 100, fetchedMilliseconds: Self.now)
        ])
        let batch = try await Self.plannedBatch(subject, ["a", "b"])
        try await subject.store.recordSimulated(batch, state: .done, areas: [], nowMilliseconds: Self.now)
        let done = try #require(try await subject.store.batches(in: .done, dueBy: nil).first)
        #expect(done.taskID == "dry-run-\(batch.id)")
        #expect(try await Self.rowStates(subject).values.allSatisfy { $0 == .done })
        #expect(try await subject.store.quota().first?.available == 98)
    }

    @Test(arguments: stores)
    func aPollIsScheduledWithItsCountAndIsNotDueBeforeItsTime(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a"])
        try await subject.store.recordAccepted(
            batch,
            acceptance: Acceptance(
                state: .accepted, taskID: "t", requestID: "r", acceptedMilliseconds: Self.now, firstPollMilliseconds: Self.now + 15_000,
                areas: []),
            nowMilliseconds: Self.now)
        try await subject.store.schedulePoll(
            batch: batch.id, state: .accepted, atMilliseconds: Self.now + 45_000, polls: 2, nowMilliseconds: Self.now + 15_000)
        #expect(try await subject.store.batches(in: .accepted, dueBy: Self.now + 44_999).isEmpty, "must not: due before its poll")
        let polled = try #require(try await subject.store.batches(in: .accepted, dueBy: Self.now + 45_000).first)
        #expect(polled.polls == 2 && polled.updatedMilliseconds == Self.now + 15_000 && polled.acceptedMilliseconds == Self.now)
        #expect(try await Self.rowStates(subject)[Self.www + "a"] == .batched, "must not: its URL settled by a poll")
    }

    /// Settled history older than the cut is deleted — the rows, then their batch — and nothing
    /// else; a second call finds nothing more.
    @Test(arguments: stores)
    func pruningDeletesOnlySettledHistoryOlderThanTheCut(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a", "b"])
        try await subject.store.settle(batch: batch.id, nowMilliseconds: Self.now) { rows in
            var settlement = Settlement(state: .done)
            settlement.done = rows.map(\.id)
            return settlement
        }
        try await subject.enqueue([Self.www + "c"], kind: .created, nowMilliseconds: Self.now)
        #expect(try await subject.store.prune(olderThan: Self.now) == (0, 0), "must not: history of the cut's own instant deleted")
        #expect(try await subject.store.prune(olderThan: Self.now + 1) == (2, 1))
        #expect(try await subject.store.prune(olderThan: Self.now + 1) == (0, 0))
        #expect(try await subject.store.pendingURLs().map(\.url) == [Self.www + "c"], "must not: a pending URL pruned")
    }

    /// What the submitter's timer asks: how much waits and what is due, and the earliest next
    /// attempt (a batch without one counts as due at 0).
    @Test(arguments: stores)
    func theWorkloadCountsWhatWaitsAndWhatIsDue(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        #expect(try await subject.store.highestQueueID() == 0, "an empty queue")
        #expect(try await subject.store.earliestAttempt(in: [.planned, .waitingQuota]) == nil)
        try await subject.enqueue([Self.www + "p"], kind: .created, nowMilliseconds: Self.now)
        func batch(_ state: BatchState, at due: Int64?) -> NewBatch {
            NewBatch(action: .urls, area: "", state: state, targets: [], queueIDs: [], dryRun: false, nextAttemptMilliseconds: due)
        }
        try await subject.store.insertBatches(
            [
                batch(.planned, at: nil), batch(.planned, at: Self.now + 60_000), batch(.waitingQuota, at: Self.now - 1),
                batch(.waitingQuota, at: Self.now + 3_600_000),
            ], nowMilliseconds: Self.now)
        let work = try await subject.store.workload(nowMilliseconds: Self.now)
        #expect(work.pending == 1 && work.planned == 2 && work.waitingQuota == 2)
        #expect(work.plannedDue == 1 && work.waitingQuotaDue == 1)
        #expect(try await subject.store.earliestAttempt(in: [.planned]) == 0)
        #expect(try await subject.store.earliestAttempt(in: [.waitingQuota]) == Self.now - 1)
        #expect(try await subject.store.earliestAttempt(in: [.accepted]) == nil)
        #expect(try await subject.store.highestQueueID() == subject.store.pendingURLs().first?.id)
    }

    /// A flush answers for the rows up to its watermark: unsettled until a batch of theirs is
    /// accepted; rows queued after it do not count.
    @Test(arguments: stores)
    func aFlushCountsItsOwnRowsUntilTheyAreAccepted(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        try await subject.enqueue(["a", "b"].map { Self.www + $0 }, kind: .modified, nowMilliseconds: Self.now)
        let watermark = try await subject.store.highestQueueID()
        try await subject.enqueue([Self.www + "later"], kind: .modified, nowMilliseconds: Self.now)
        #expect(try await subject.store.flushProgress(upTo: watermark, after: 0, failuresSince: 0) == FlushProgress(unsettled: 2, failed: []))
        try await subject.store.planBatches(nowMilliseconds: Self.now) { pending in
            let mine = pending.filter { $0.id <= watermark }
            return [NewBatch(action: .urls, area: "", state: .planned, targets: mine.map(\.url), queueIDs: mine.map(\.id), dryRun: false)]
        }
        #expect(try await subject.store.flushProgress(upTo: watermark, after: 0, failuresSince: 0).unsettled == 2, "planned is not sent")
        let batch = try #require(try await subject.store.batches(in: .planned, dueBy: nil).first)
        try await subject.store.recordAccepted(
            batch,
            acceptance: Acceptance(
                state: .accepted, taskID: "t", requestID: "r", acceptedMilliseconds: Self.now, firstPollMilliseconds: Self.now, areas: []),
            nowMilliseconds: Self.now)
        #expect(try await subject.store.flushProgress(upTo: watermark, after: 0, failuresSince: 0) == FlushProgress(unsettled: 0, failed: []))
        #expect(try await subject.store.pendingURLs().map(\.url) == [Self.www + "later"])
    }
}

extension QueueStoreTests {
    /// A re-queued URL that is pending again meanwhile is not queued twice: its row becomes
    /// `superseded`, carrying the error, and the newer pending row stands.
    @Test(arguments: stores)
    func aRequeuedURLAlreadyPendingAgainIsSuperseded(_ kind: String) async throws {
        let subject = try await Self.make(kind)
        let batch = try await Self.plannedBatch(subject, ["a", "b"])
        try await subject.enqueue([Self.www + "a"], kind: .modified, nowMilliseconds: Self.now + 1)
        try await subject.store.settle(batch: batch.id, nowMilliseconds: Self.now) { rows in
            var settlement = Settlement(state: .failed)
            settlement.requeued = rows.map(\.id)
            settlement.errorCode = "TaskFailed"
            return settlement
        }
        let pending = try await subject.store.pendingURLs()
        #expect(pending.map(\.url) == ["b", "a"].map { Self.www + $0 })
        #expect(pending.first?.retries == 1 && pending.last?.retries == 0, "b counted a retry; a's newer row is untouched")
        #expect(try await subject.queueCount(state: .superseded) == 1)
        #expect(try await subject.store.urls(ofBatch: batch.id).isEmpty, "must not: a released row still in the batch")
    }
}
