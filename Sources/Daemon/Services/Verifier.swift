import Foundation
import Logging
import PurgeCore
import Reporting
import StateStore
import TencentCDN

/// The verifier stage (SPEC §6): polls DescribePurgeTasks for accepted batches when they are
/// due, settles them (each URL done, queued again or failed), marks what never finishes
/// `unverified`, prefetches what was purged (`prefetch = true`) and prunes old history.
///
/// A Service that owns its state — the URLs waiting to be prefetched, when it last pruned, what
/// its last pass found — and opens nothing of its own: it reads and changes the queue through the
/// ``QueueStore`` and tells the rest of the pipeline what a pass found through the ``Outcome``
/// it returns (URLs queued again are the submitter's to send). It runs on its caller's executor
/// (the daemon's thread): every method is `nonisolated(nonsending)`.
final class Verifier: APIStage {
    /// What one pass found, for the rest of the pipeline.
    struct Outcome: Equatable {
        /// URLs were queued again (their task failed): the submitter has work.
        var requeued = false
        /// The last batch it settled, for STATUS= (nil: none this pass).
        var summary: String?
    }

    private var outcome = Outcome()
    private var pendingPushes: [String] = []
    private var pendingPushSet: Set<String> = []
    private(set) var lastPrune: ContinuousClock.Instant?

    /// One pass: the polls that are due (none while the account is paused), then prefetch,
    /// then the hourly prune.
    nonisolated(nonsending) func pass(pausedUntil: ContinuousClock.Instant?) async throws -> Outcome {
        outcome = Outcome()
        try await verify(pausedUntil: pausedUntil)
        try await prefetch()
        try await pruneIfDue(now: clock.now())
        return outcome
    }

    /// When the verifier has work next: the earliest poll of an accepted batch (not before a
    /// pause ends), the next prune.
    nonisolated(nonsending) func nextDue(pausedUntil: ContinuousClock.Instant?) async -> ContinuousClock.Instant? {
        var due: [ContinuousClock.Instant] = []
        if provider != nil, !options.dryRun, let earliest = try? await store.earliestAttempt(in: [.accepted]) {
            due.append(clock.instant(atWallMilliseconds: earliest))
        }
        let now = clock.now()
        if let pausedUntil, now < pausedUntil { due = due.map { max($0, pausedUntil) } }
        if let lastPrune { due.append(lastPrune.advanced(by: options.pruneInterval)) }
        return due.min()
    }

    /// Polls DescribePurgeTasks for accepted batches whose next check is due. A task still
    /// `process` (or not found) ``DaemonOptions/unverifiedAfter`` after acceptance becomes
    /// `unverified`: reported once, polled no more (SPEC §6).
    nonisolated(nonsending) func verify(pausedUntil: ContinuousClock.Instant?) async throws {
        guard let provider, !options.dryRun else { return }
        if let pausedUntil, clock.now() < pausedUntil { return }
        let now = clock.wallMilliseconds()
        let due = try await store.batches(in: .accepted, dueBy: now)
        for batch in due {
            try Task.checkCancellation()
            guard let taskID = batch.taskID else { continue }
            let tasks: [TargetProgress]
            health.begin(.verifier, now: clock.now())
            defer { health.end(.verifier) }
            do {
                tasks = try await provider.purgeProgress(taskID: taskID, deadline: ContinuousClock.now.advanced(by: options.submitDeadline))
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warning("asking how task \(taskID) stands failed: \(error); asking again later")
                try await scheduleNextPoll(batch)
                continue
            }
            try await settle(batch, tasks: tasks)
        }
    }

    /// The next poll with a doubling delay (the count is in the batch row, so a restart keeps
    /// the backoff), or `unverified` once the deadline since acceptance has passed.
    nonisolated(nonsending) func scheduleNextPoll(_ batch: BatchRow) async throws {
        let now = clock.wallMilliseconds()
        let accepted = batch.acceptedMilliseconds ?? batch.updatedMilliseconds
        let (next, actions) = BatchLifecycle.next(
            batch.state,
            .polled(
                settled: false, now: clock.wall(), acceptedAt: Date(timeIntervalSince1970: Double(accepted) / 1_000),
                polls: batch.polls),
            policy: lifecyclePolicy)
        guard let next else { return }
        for action in actions {
            switch action {
            case .markUnverified:
                try await store.markUnverified(
                    batch: batch.id, state: next,
                    message: "task still in process or not found \(options.unverifiedAfter) after it was accepted", nowMilliseconds: now)
                outcome.summary = "unverified (\(batch.targets.count))"
                logger.warning(
                    "task \(batch.taskID ?? "") is still not done \(options.unverifiedAfter) after it was accepted: marked unverified, polled no more",
                    metadata: [
                        "purge.batch_id": "\(batch.id)", "purge.task_id": "\(batch.taskID ?? "")",
                        "purge.url_count": "\(batch.targets.count)", "purge.error_code": "Unverified",
                    ])
            case .pollAgain(let at, let polls):
                try await store.schedulePoll(
                    batch: batch.id, state: next, atMilliseconds: Int64(at.timeIntervalSince1970 * 1_000), polls: polls,
                    nowMilliseconds: now)
            default:
                break
            }
        }
    }

    /// Applies DescribePurgeTasks' answer: done URLs are done, failed ones queued again (up to
    /// ``DaemonOptions/maxTaskRetries``), and the batch is done once nothing is in process.
    nonisolated(nonsending) func settle(_ batch: BatchRow, tasks: [TargetProgress]) async throws {
        var status: [String: TargetProgress.State] = [:]
        for task in tasks { status[task.target] = task.state }
        let isPath = batch.action == .directories
        var inProcess = false
        var failedTargets: [String] = []
        for target in batch.targets {
            switch status[target] {
            case .done?: break
            case .failed?: failedTargets.append(target)
            default: inProcess = true
            }
        }
        if inProcess {
            try await scheduleNextPoll(batch)
            return
        }
        var requeued = 0
        var gaveUp = 0
        var prefetchable: [String] = []
        let maxRetries = options.maxTaskRetries
        let collectPrefetch = config.purge.prefetch && !isPath
        // Each row's end is decided (retries left or not) and applied in the store's one
        // transaction, with the batch's state from the lifecycle.
        let accepted = Date(timeIntervalSince1970: Double(batch.acceptedMilliseconds ?? batch.updatedMilliseconds) / 1_000)
        let now = clock.wall()
        let policy = lifecyclePolicy
        try await store.settle(batch: batch.id, nowMilliseconds: clock.wallMilliseconds()) { rows in
            var done: [Int64] = []
            var requeue: [Int64] = []
            var failed: [Int64] = []
            var collected: [String] = []
            for row in rows where row.state == .batched {
                let rowFailed = isPath ? failedTargets.contains { row.url.hasPrefix($0) } : failedTargets.contains(row.url)
                if !rowFailed {
                    done.append(row.id)
                    // Prefetch what now exists at the edge's origin: created and modified URLs,
                    // never deleted ones (a 404) and never directories.
                    if collectPrefetch && (row.kind == .created || row.kind == .modified) { collected.append(row.url) }
                } else if row.retries < maxRetries {
                    requeue.append(row.id)
                } else {
                    failed.append(row.id)
                }
            }
            let (next, _) = BatchLifecycle.next(
                batch.state, .polled(settled: true, now: now, acceptedAt: accepted, polls: batch.polls, givenUp: failed.count),
                policy: policy)
            guard let next else { return nil }
            requeued = requeue.count
            gaveUp = failed.count
            prefetchable = collected
            var settlement = Settlement(state: next)
            settlement.done = done
            settlement.requeued = requeue
            settlement.failed = failed
            if !failedTargets.isEmpty {
                settlement.errorCode = "TaskFailed"
                settlement.errorMessage = "\(failedTargets.count) target(s) reported fail"
            }
            return settlement
        }
        for url in prefetchable where pendingPushSet.insert(url).inserted { pendingPushes.append(url) }
        let metadata: Logger.Metadata = [
            "purge.batch_id": "\(batch.id)", "purge.task_id": "\(batch.taskID ?? "")",
            "purge.url_count": "\(batch.targets.count)",
        ]
        if failedTargets.isEmpty {
            logger.info("task \(batch.taskID ?? "") done: \(batch.targets.count) target(s) purged", metadata: MessageID.batchDone.metadata(metadata))
            outcome.summary = "done (\(batch.targets.count))"
        } else {
            logger.error(
                "task \(batch.taskID ?? ""): \(failedTargets.count) target(s) failed; \(requeued) URL(s) queued again, \(gaveUp) given up",
                metadata: MessageID.batchFailed.metadata(metadata.merging(["purge.error_code": "TaskFailed"]) { $1 }))
            outcome.summary = "task failures (\(failedTargets.count))"
            if requeued > 0 { outcome.requeued = true }
        }
    }

    // MARK: Prefetch

    /// PushUrlsCache for the URLs whose purge is done (SPEC §6, `prefetch = true`), in batches
    /// within DescribePushQuota. An optimisation only: whatever cannot be sent (quota, errors
    /// after the client's retries) is logged and dropped; nothing here fails a purge or a flush.
    nonisolated(nonsending) func prefetch() async throws {
        guard config.purge.prefetch, let provider, !options.dryRun, !pendingPushes.isEmpty else { return }
        let urls = pendingPushes
        pendingPushes = []
        pendingPushSet = []
        health.begin(.verifier, now: clock.now())
        defer { health.end(.verifier) }
        let deadline = ContinuousClock.now.advanced(by: options.submitDeadline)
        let batch: Int
        let available: Int
        do {
            (batch, available) = try await provider.prefetchRoom(deadline: deadline)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if Task.isCancelled { throw CancellationError() }
            logger.warning("prefetch skipped for \(urls.count) URL(s): reading the prefetch quota failed (\(error))")
            return
        }
        if available < urls.count {
            logger.warning("prefetch quota: \(available) URL(s) left today, \(urls.count - available) of \(urls.count) not prefetched")
        }
        var start = 0
        let sendable = Array(urls.prefix(available))
        while start < sendable.count {
            let chunk = Array(sendable[start..<min(start + batch, sendable.count)])
            start += chunk.count
            do {
                let response = try await provider.prefetch(chunk, deadline: ContinuousClock.now.advanced(by: options.submitDeadline))
                let refused = response.rejected.reduce(0) { $0 + $1.targets.count }
                logger.info(
                    "prefetch: \(chunk.count - refused) URL(s) prefetched, task \(response.taskID)\(refused > 0 ? "; \(refused) refused (\(response.rejected.map(\.reason).joined(separator: ", ")))" : "")",
                    metadata: ["purge.task_id": "\(response.taskID)", "purge.url_count": "\(chunk.count - refused)"])
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                logger.warning("prefetch of \(chunk.count) URL(s) dropped: \(error)")
            }
        }
    }

    /// Prunes history older than 7 days (SPEC §6), at start and then hourly.
    nonisolated(nonsending) func pruneIfDue(now: ContinuousClock.Instant) async throws {
        if let lastPrune, lastPrune.duration(to: now) < options.pruneInterval { return }
        lastPrune = now
        let cutoff = clock.wallMilliseconds() - options.historyRetention.milliseconds
        var total = (queue: 0, batches: 0)
        while true {
            // In chunks, yielding between them: the control loop answers meanwhile.
            let pruned = try await store.prune(olderThan: cutoff)
            total.queue += pruned.queue
            total.batches += pruned.batches
            if pruned.queue + pruned.batches == 0 { break }
            health.begin(.verifier, now: clock.now())
            await Task.yield()
        }
        health.end(.verifier)
        if total.queue + total.batches > 0 {
            logger.info("pruned history older than \(options.historyRetention): \(total.queue) queue row(s), \(total.batches) batch(es)")
        }
    }
}
