import Foundation
import Logging
import PurgeCore
import Reporting
import StateStore
import TencentCDN

/// The submitter stage (SPEC §6): plans the queue into batches within the quota, sends what is
/// due, and turns each answer into the batch's next state (``BatchLifecycle``); reads the quota
/// (``QuotaBook`` says when); pauses after an account-wide failure.
///
/// A Service that owns its state — whether work was asked for, the pause and its level, the
/// quota book, the last batch's summary — and opens nothing of its own: it changes the queue
/// only through the ``QueueStore``. The daemon asks it for work (``request()``), runs a
/// ``pass()`` when woken, and asks when it has work next (``nextDue()``). It runs on its caller's
/// executor (the daemon's thread): every async method is `nonisolated(nonsending)`.
final class Submitter: APIStage {
    /// Work was asked for (changes queued, a batch split, URLs queued again): the next pass
    /// plans and sends even if nothing is due by time.
    var requested = false
    /// No request before this (an account-wide failure), for ``DaemonOptions/permanentPauseBase``
    /// doubling per failure in a row.
    private(set) var pausedUntil: ContinuousClock.Instant?
    private var pauseLevel = 0
    private var lastQuotaWarningReset: Date?
    /// When to read the quota (``QuotaBook``).
    var quotaBook: QuotaBook
    /// The last batch's outcome, for STATUS= (nil until a batch was sent).
    private(set) var summary: String?
    /// Which pending URLs may be planned now: in a fleet, those every origin holds
    /// (``ConvergenceGate``); nil for a single origin (all of them).
    var readiness: (any PlanReadiness)?
    /// When the URLs ``readiness`` held back are looked at again (wall-clock milliseconds).
    private(set) var readinessLookAgain: Int64?
    /// In a fleet, whether this daemon still holds the lease: looked at before each batch, since
    /// a pass may outlast it.
    var mayStillSend: () -> Bool = { true }

    override init(
        store: any QueueStore, provider: (any CDNProvider)?, config: SiteConfig, options: DaemonOptions, clock: DaemonClock,
        logger: Logger, health: StageBoard
    ) {
        self.quotaBook = QuotaBook(
            policy: QuotaBook.Policy(refresh: options.quotaRefresh, waitFirst: options.quotaWaitFirst, waitMax: options.quotaWaitMax))
        super.init(store: store, provider: provider, config: config, options: options, clock: clock, logger: logger, health: health)
    }

    /// Asks for a pass (changes were queued, URLs queued again).
    func request() { requested = true }

    /// One wake: sends what is due unless paused (what was asked for is kept: it is sent when
    /// the pause ends). Returns whether it planned and sent.
    nonisolated(nonsending) func pass() async throws -> Bool {
        if isPaused { return false }
        if !requested, await !hasDueBatches(), await !quotaWaitWorthRechecking() { return false }
        requested = false
        do {
            try await submit()
        } catch {
            requested = true  // not done: asked for again (a full disk, cancellation)
            throw error
        }
        return true
    }

    /// When the submitter has work next, from the state (the earliest retry or quota-reset
    /// attempt, the end of a pause, the next quota re-read, now when work was asked for).
    nonisolated(nonsending) func nextDue() async -> ContinuousClock.Instant? {
        var due: [ContinuousClock.Instant] = []
        if let earliest = try? await store.earliestAttempt(in: [.planned, .waitingQuota]) {
            due.append(clock.instant(atWallMilliseconds: earliest))
        }
        let quotaRead = await nextQuotaRead()
        let now = clock.now()
        if let quotaRead {
            due.append(clock.instant(atWallMilliseconds: Int64((quotaRead.timeIntervalSince1970 * 1_000).rounded())))
        }
        // Work asked for and not done (held by a pause, or a disk-full retry): due once the
        // pause ends, or now.
        if requested { due.append(now) }
        if let readinessLookAgain { due.append(clock.instant(atWallMilliseconds: readinessLookAgain)) }
        if let pausedUntil, now < pausedUntil { due = due.map { max($0, pausedUntil) } }
        return due.min()
    }

    /// Jitter for the retry backoff (injected with the options, like the clock).
    var random: RandomSource { options.random }

    /// Pending URLs to plan, or batches whose time has come.
    nonisolated(nonsending) func hasDueBatches() async -> Bool {
        guard let work = try? await store.workload(nowMilliseconds: clock.wallMilliseconds()) else { return false }
        return work.pending + work.plannedDue + work.waitingQuotaDue > 0
    }

    /// Planned batches due now (not waiting for a later retry or the quota): for `--once`.
    nonisolated(nonsending) func hasDueBatchesNow() async -> Bool {
        guard let work = try? await store.workload(nowMilliseconds: clock.wallMilliseconds()) else { return false }
        return work.pending + work.plannedDue > 0
    }

    /// After a permanent account-wide failure nothing is sent for a while (no retry storm).
    var isPaused: Bool {
        if let pausedUntil, clock.now() < pausedUntil { return true }
        return false
    }

    /// What the queue needs from the quota now (``QuotaBook/Work``).
    nonisolated(nonsending) func quotaWork() async -> QuotaBook.Work {
        guard let work = try? await store.workload(nowMilliseconds: clock.wallMilliseconds()) else { return .none }
        return work.waitingQuota > 0 ? .waiting : work.pending + work.planned > 0 ? .planning : .none
    }

    /// When DescribePurgeQuota is due next (nil: not needed), from ``QuotaBook``.
    nonisolated(nonsending) func nextQuotaRead() async -> Date? {
        guard provider != nil, let rows = try? await store.quota() else { return nil }
        let oldest = rows.map(\.fetchedMilliseconds).min().map { Date(timeIntervalSince1970: Double($0) / 1_000) }
        return quotaBook.nextRead(now: clock.wall(), oldestReading: oldest, work: await quotaWork())
    }

    /// Work waits for the quota and ``QuotaBook`` says to read it again: a reading that shows
    /// room re-plans it at once (SPEC §6), so a reading taken a moment too early never parks
    /// work for a day.
    nonisolated(nonsending) func quotaWaitWorthRechecking() async -> Bool {
        guard let due = await nextQuotaRead() else { return false }
        return due <= clock.wall()
    }

    /// Plans the pending queue into batches and sends every batch that is due.
    nonisolated(nonsending) func submit() async throws {
        if let pausedUntil, clock.now() < pausedUntil { return }
        try await refreshQuotaIfDue()
        let now = clock.wallMilliseconds()
        // Batches that waited for the quota are planned again with what is pending (duplicates
        // collapse): at the reset, or as soon as a quota reading shows room.
        let quota = await currentQuotaView()
        let room = quotaHasRoom(quota)
        var dissolved = 0
        for batch in try await store.batches(in: .waitingQuota, dueBy: room ? nil : now) {
            let (next, actions) = BatchLifecycle.next(batch.state, .quotaAvailable, policy: lifecyclePolicy)
            guard next == nil, actions.contains(.dissolve) else { continue }
            try await store.dissolve(batch: batch.id)
            dissolved += 1
        }
        if dissolved > 0 {
            logger.notice("\(dissolved) batch(es) that waited for the quota are planned again (quota available: \(quota.urlAvailable) URL(s))")
        }
        try await plan()
        let due = try await store.batches(in: .planned, dueBy: now)
        for batch in due {
            try Task.checkCancellation()
            if let pausedUntil, clock.now() < pausedUntil { break }
            guard mayStillSend() else { break }
            health.begin(.submitter, now: clock.now())
            defer { health.end(.submitter) }
            try await send(batch)
        }
    }

    /// Turns pending URLs into `planned` batches (and `waiting-quota` for what does not fit).
    nonisolated(nonsending) func plan() async throws {
        let quota = await currentQuotaView()
        let area = config.purge.area.rawValue
        let now = clock.wallMilliseconds()
        let reset = QuotaClock.nextReset(after: clock.wall())
        let dryRun = options.dryRun
        let directoryFallback = config.purge.directoryFallback
        var planned: PurgePlan?
        // In a fleet, only the URLs whose new bytes every origin holds (SPEC §9), as read before
        // the transaction: a URL queued since waits for the next look.
        var ready: Set<Int64>?
        readinessLookAgain = nil
        if let readiness {
            let pending = try await store.pendingURLs()
            guard !pending.isEmpty else {
                _ = try await readiness.ready([], now: now)  // nothing waits: nobody lags
                return
            }
            let decided = try await readiness.ready(pending, now: now)
            readinessLookAgain = decided.lookAgain
            guard !decided.ready.isEmpty else { return }
            ready = decided.ready
        }
        // The pending URLs are read and planned in the store's one transaction.
        try await store.planBatches(nowMilliseconds: now) { pending in
            let queue = ready.map { ready in pending.filter { ready.contains($0.id) } } ?? pending
            guard !queue.isEmpty else { return [] }
            let plan = Planner.plan(
                queue: queue.map { QueuedURL(id: $0.id, url: $0.url) }, quota: quota, directoryFallback: directoryFallback)
            planned = plan
            var batches =
                plan.urlBatches.map {
                    NewBatch(action: .urls, area: area, state: .planned, targets: $0.map(\.url), queueIDs: $0.map(\.id), dryRun: dryRun)
                }
                + plan.directoryBatches.map {
                    NewBatch(
                        action: .directories, area: area, state: .planned, targets: $0.directories, queueIDs: $0.covers, dryRun: dryRun)
                }
            if !plan.waiting.isEmpty {
                let waiting = Set(plan.waiting)
                batches.append(
                    NewBatch(
                        action: .urls, area: area, state: .waitingQuota, targets: queue.filter { waiting.contains($0.id) }.map(\.url),
                        queueIDs: plan.waiting, dryRun: dryRun, nextAttemptMilliseconds: Int64(reset.timeIntervalSince1970 * 1_000)))
            }
            return batches
        }
        guard let plan = planned else { return }
        for root in plan.siteRoots {
            logger.warning("purging the whole site root \(root): nothing narrower fits today's directory quota")
        }
        if !plan.directoryBatches.isEmpty {
            logger.notice(
                "the URL quota cannot cover the queue: \(plan.directoryBatches.flatMap(\.directories).count) directory purge(s) cover \(plan.directoryBatches.flatMap(\.covers).count) URL(s)"
            )
        }
        if !plan.waiting.isEmpty, lastQuotaWarningReset != reset {
            lastQuotaWarningReset = reset
            logger.warning(
                "quota exhausted: \(plan.waiting.count) URL(s) wait for the reset at \(iso8601(reset)); the quota is read again meanwhile (30 s, doubling to 10 min) and what fits is sent",
                metadata: MessageID.quotaExhausted.metadata([
                    "purge.url_count": "\(plan.waiting.count)", "purge.quota_reset": "\(iso8601(reset))",
                ]))
        }
    }

    /// Sends one batch and records the outcome.
    nonisolated(nonsending) func send(_ batch: BatchRow) async throws {
        let now = clock.wallMilliseconds()
        guard let sending = BatchLifecycle.next(batch.state, .send, policy: lifecyclePolicy).state, sending != batch.state else { return }
        try await store.markSending(batch: batch.id, state: sending, attempts: batch.attempts + 1, nowMilliseconds: now)
        var metadata: Logger.Metadata = [
            "purge.batch_id": "\(batch.id)", "purge.action": "\(batch.action)", "purge.area": "\(batch.area)",
            "purge.url_count": "\(batch.targets.count)", "purge.provider": "\(config.tencentCloud.product.rawValue)",
        ]
        if options.dryRun {
            let first = batch.targets.prefix(3).joined(separator: " ")
            let more = batch.targets.count > 3 ? " …" : ""
            logger.notice(
                "dry run: would send \(batch.action) area=\(batch.area.isEmpty ? "(domain's)" : batch.area) with \(batch.targets.count) \(batch.action == .urls ? "URL" : "directory")(s): \(first)\(more)",
                metadata: MessageID.batchSubmitted.metadata(metadata))
            let done = BatchLifecycle.next(sending, .simulated, policy: lifecyclePolicy).state ?? .done
            try await store.recordSimulated(batch, state: done, areas: quotaAreas, nowMilliseconds: clock.wallMilliseconds())
            summary = "dry-run (\(batch.targets.count))"
            return
        }
        guard let provider else { return }
        let deadline = ContinuousClock.now.advanced(by: options.submitDeadline)
        do {
            let response = try await provider.purge(batch.targets, kind: batch.action == .urls ? .urls : .directories, deadline: deadline)
            let acceptedAt = clock.wall()
            var (next, actions) = BatchLifecycle.next(sending, .accepted(now: acceptedAt), policy: lifecyclePolicy)
            var firstPoll = acceptedAt
            if case .recordAccepted(let at)? = actions.first { firstPoll = at }
            let refusals = refusals(response.rejected, of: batch)
            let refusedTargets = Set(response.rejected.flatMap(\.targets))
            if !response.unknownRefused.isEmpty {
                logger.warning(
                    "\(provider.product) refused target(s) this batch did not send (as written): \(response.unknownRefused.prefix(3).joined(separator: " ")); the batch's own targets wait for the task"
                )
            }
            if batch.targets.allSatisfy(refusedTargets.contains) {
                // Nothing of it was taken: nothing to poll for.
                next =
                    BatchLifecycle.next(
                        next ?? .accepted,
                        .polled(settled: true, now: acceptedAt, acceptedAt: acceptedAt, polls: 0, givenUp: 0), policy: lifecyclePolicy
                    ).state ?? next
            }
            try await store.recordAccepted(
                batch,
                acceptance: Acceptance(
                    state: next ?? .accepted, taskID: response.taskID, requestID: response.requestID,
                    acceptedMilliseconds: Int64(acceptedAt.timeIntervalSince1970 * 1_000),
                    firstPollMilliseconds: Int64(firstPoll.timeIntervalSince1970 * 1_000), areas: quotaAreas,
                    rejected: refusals.rejections, exhaustQuota: refusals.exhaustQuota ? batch.action.quotaKind : nil,
                    attempts: batch.attempts + 1),
                nowMilliseconds: clock.wallMilliseconds())
            if refusals.exhaustQuota {
                // Refused by day limit: read the quota again soon and send what still fits (SPEC §6).
                quotaBook.refused(at: clock.wall())
                requested = true
            }
            pauseLevel = 0
            metadata["purge.task_id"] = "\(response.taskID)"
            metadata["purge.request_id"] = "\(response.requestID)"
            let refused = response.rejected.reduce(0) { $0 + $1.targets.count }
            logger.info(
                "submitted \(batch.action) with \(batch.targets.count - refused) target(s): task \(response.taskID)",
                metadata: MessageID.batchSubmitted.metadata(metadata))
            summary = "accepted (\(batch.targets.count - refused))"
            for group in response.rejected {
                let fate: String
                switch group.errorClass {
                case .permanent: fate = "they fail alone (see `failures`), the rest was accepted"
                case .quota: fate = "they wait for the quota (read again soon; the reset at \(iso8601(QuotaClock.nextReset(after: clock.wall()))))"
                default: fate = "they are sent again on the retry backoff"
                }
                logger.warning(
                    "\(provider.product) refused \(group.targets.count) target(s) of task \(response.taskID) (\(group.reason)); \(fate): \(group.targets.prefix(3).joined(separator: " "))\(group.targets.count > 3 ? " …" : "")",
                    metadata: (group.errorClass == .permanent ? MessageID.batchFailed : MessageID.batchSubmitted).metadata(
                        metadata.merging(["purge.error_code": "\(group.reason)", "purge.url_count": "\(group.targets.count)"]) { $1 }))
            }
        } catch is CancellationError {
            throw CancellationError()  // left `sending`: sent again at the next start
        } catch {
            if Task.isCancelled { throw CancellationError() }
            try await handleFailure(provider.classify(error), batch: batch, state: sending, metadata: metadata)
        }
    }

    /// What a failed request means for its batch: the error's class and scope, through the
    /// pure ``BatchLifecycle``. The batch is written once, in the state it returns (with the due
    /// time its action names); the actions' other effects follow. A `nil` state dissolves it.
    nonisolated(nonsending) func handleFailure(_ error: PurgeFailure, batch: BatchRow, state: BatchState, metadata: Logger.Metadata) async throws {
        var metadata = metadata
        metadata["purge.error_code"] = "\(error.code)"
        if let requestId = error.requestID { metadata["purge.request_id"] = "\(requestId)" }
        let failure: BatchLifecycle.Failure
        switch error.kind {
        case .transient: failure = .transient(code: error.code)
        case .quota(let resetAt): failure = .quota(resetAt: resetAt ?? QuotaClock.nextReset(after: clock.wall()))
        case .batchTooBig: failure = .batchTooBig
        case .hostAlone: failure = .permanent(code: error.code, scope: .host)
        case .targetAlone(let named): failure = .permanent(code: error.code, scope: .url(named: named))
        case .account: failure = .permanent(code: error.code, scope: .account)
        }
        let hosts = Set(batch.targets.map { DirectoryCover.siteRoot(of: $0) ?? $0 }).count
        let (next, actions) = BatchLifecycle.next(
            state,
            .failed(
                failure, now: clock.wall(), attempts: batch.attempts + 1, targets: batch.targets.count, hosts: hosts,
                pauseLevel: pauseLevel, jitter: random.unitInterval()),
            policy: lifecyclePolicy)
        let now = clock.wallMilliseconds()
        // The batch's state and everything the outcome writes with it, in one unit.
        var failedAloneHeld = true
        if let next {
            var record = FailedSend(state: next, dueMilliseconds: nil, errorCode: error.code, errorMessage: error.message)
            for action in actions {
                switch action {
                case .retry(let at): record.dueMilliseconds = Int64(at.timeIntervalSince1970 * 1_000)
                case .waitForQuota(let until):
                    record.dueMilliseconds = Int64(until.timeIntervalSince1970 * 1_000)
                    record.exhaustQuota = batch.action.quotaKind
                    record.areas = quotaAreas
                case .failBatch: record.failURLs = true
                case .failAlone(let url): record.failAlone = url
                default: break
                }
            }
            failedAloneHeld = try await store.recordFailure(batch, record, nowMilliseconds: now)
        }
        for action in actions {
            switch action {
            case .retry(let at):
                let delay = max(0, at.timeIntervalSince(clock.wall()))
                if case .transient = failure {
                    summary = "retrying \(error.code)"
                    logger.warning(
                        "\(batch.action) not accepted yet (\(error.code)): trying again in \(Int(delay.rounded())) s", metadata: metadata)
                }
                // What is due now (the rest of a batch after one URL failed alone) is sent at once;
                // a later attempt is the batch's own due time.
                if at <= clock.wall() { requested = true }
            case .waitForQuota(let reset):
                // Refused by day limit although the reading showed room: someone else used the
                // quota. Read it again at once and send what still fits (SPEC §6).
                quotaBook.refused(at: clock.wall())
                requested = true
                summary = "waiting-quota (\(batch.targets.count))"
                logger.warning(
                    "quota exhausted (\(error.code)): \(batch.targets.count) target(s) wait for the reset at \(iso8601(reset))",
                    metadata: MessageID.quotaExhausted.metadata(metadata))
            case .lowerBatchSize(let size):
                try await store.lowerBatchSize(
                    kind: batch.action.quotaKind, to: size,
                    defaults: Self.defaultQuotaRows(urlBatch: size, nowMilliseconds: clock.wallMilliseconds()))
                logger.warning("\(error.code): batch of \(batch.targets.count) too big, splitting", metadata: metadata)
            case .dissolve:
                try await store.dissolve(batch: batch.id)
                requested = true
            case .failAlone(let url):
                try await isolateNamed(url, error, batch: batch, failedAlone: failedAloneHeld, metadata: metadata)
            case .splitByHost:
                try await isolate(error, batch: batch, byHost: true, metadata: metadata)
            case .bisect:
                try await isolate(error, batch: batch, byHost: false, metadata: metadata)
            case .failBatch(let pause):
                summary = "failed \(error.code)"
                guard let pause else {
                    // One host or URL: the rest of the work goes on at once.
                    logger.error(
                        "\(batch.action) failed permanently with \(error.code): \(error.message) — needs a human; the \(batch.targets.count) target(s) stay failed in `status`",
                        metadata: MessageID.batchFailed.metadata(metadata))
                    requested = true
                    break
                }
                pauseLevel += 1
                pausedUntil = clock.now().advanced(by: pause)
                logger.error(
                    "\(batch.action) failed permanently with \(error.code): \(error.message) — needs a human; the \(batch.targets.count) target(s) stay failed in `status`; no request for \(pause)",
                    metadata: MessageID.batchFailed.metadata(metadata))
            case .recordAccepted, .pollAgain, .markUnverified, .settle:
                break  // not outcomes of a failed send
            }
        }
    }

    /// A failure that concerns one host or one URL fails only what it is about (SPEC §6): the
    /// batch is split by host; a batch of one host is bisected unless the code concerns the whole
    /// host (``BatchLifecycle`` decides which). The parts are planned at once.
    nonisolated(nonsending) func isolate(_ error: PurgeFailure, batch: BatchRow, byHost: Bool, metadata: Logger.Metadata) async throws {
        var parts: [[String]]
        if byHost {
            var groups: [String: [String]] = [:]
            var order: [String] = []
            for target in batch.targets {
                let host = DirectoryCover.siteRoot(of: target) ?? target
                if groups[host] == nil { order.append(host) }
                groups[host, default: []].append(target)
            }
            parts = order.map { groups[$0]! }
        } else {
            let half = batch.targets.count / 2
            parts = [Array(batch.targets[..<half]), Array(batch.targets[half...])]
        }
        parts = parts.filter { !$0.isEmpty }
        try await store.split(batch, into: parts, nowMilliseconds: clock.wallMilliseconds())
        logger.warning(
            "\(batch.action) rejected with \(error.code) (\(error.message)): splitting \(batch.targets.count) target(s) into \(parts.map(\.count)) to find what it concerns",
            metadata: metadata)
        requested = true
    }

    /// The URL the API named (too long for it) fails alone (`failedAlone`: done with the batch's
    /// failure record); when the batch did not hold the URL named, each URL is sent alone to
    /// find it.
    nonisolated(nonsending) func isolateNamed(
        _ url: String, _ error: PurgeFailure, batch: BatchRow, failedAlone: Bool, metadata: Logger.Metadata
    ) async throws {
        let now = clock.wallMilliseconds()
        if !failedAlone {
            // The API did not say which: send each URL alone to find it.
            try await store.split(batch, into: batch.targets.map { [$0] }, nowMilliseconds: now)
        }
        logger.error(
            "the API refused a URL (\(error.code): \(error.message)): \(failedAlone ? url : "isolating it"); the rest is sent again",
            metadata: MessageID.batchFailed.metadata(metadata))
        requested = true
    }

    /// The refused targets of an accepted request, as the store records them. Each group goes
    /// through the batch lifecycle as a failed batch of its own would (SPEC §6, §10): a permanent
    /// reason fails its targets alone; a day limit parks them until the reset (and the quota of
    /// their kind counts as used up, so a fresh reading decides what fits); any other reason
    /// sends them again on the retry backoff, counting this batch's attempts.
    func refusals(_ groups: [RejectedTargets], of batch: BatchRow) -> (rejections: [Acceptance.Rejection], exhaustQuota: Bool) {
        var exhaust = false
        let now = clock.wall()
        let rejections = groups.flatMap { group -> [Acceptance.Rejection] in
            var later: Acceptance.Rejection.Later?
            if group.errorClass != .permanent {
                let failure: BatchLifecycle.Failure =
                    group.errorClass == .quota ? .quota(resetAt: QuotaClock.nextReset(after: now)) : .transient(code: group.reason)
                let (state, actions) = BatchLifecycle.next(
                    .sending,
                    .failed(
                        failure, now: now, attempts: batch.attempts + 1, targets: group.targets.count, hosts: 1, pauseLevel: 0,
                        jitter: random.unitInterval()),
                    policy: lifecyclePolicy)
                for action in actions {
                    switch action {
                    case .retry(let at), .waitForQuota(let at):
                        later = Acceptance.Rejection.Later(
                            state: state ?? .planned, dueMilliseconds: Int64((at.timeIntervalSince1970 * 1_000).rounded()))
                    default: break
                    }
                }
                if group.errorClass == .quota { exhaust = true }
            }
            return group.targets.map { Acceptance.Rejection(target: $0, reason: group.reason, later: later) }
        }
        return (rejections, exhaust)
    }

    // MARK: - --once

    nonisolated(nonsending) func drain() async throws -> Int32 {
        let started = clock.wallMilliseconds()
        // Split, bisected or retried batches are planned by the first pass: keep sending what
        // is due (bounded by the submit deadline) so --once does not leave good URLs behind.
        let until = clock.now().advanced(by: options.submitDeadline)
        while true {
            requested = false
            try await submit()
            if isPaused || clock.now() >= until { break }
            if requested { continue }
            if await hasDueBatchesNow() { continue }
            // A retry due later within the deadline (a transient failure's backoff): wait for it.
            guard let next = try await store.earliestAttempt(in: [.planned]) else { break }
            let at = clock.instant(atWallMilliseconds: next)
            guard at < until else { break }
            try await clock.sleep(at)
        }
        let progress = try await store.flushProgress(upTo: try await store.highestQueueID(), after: Int64.max, failuresSince: started)
        let (unsettled, failed) = (progress.unsettled, progress.failed)
        if !failed.isEmpty {
            logger.error("\(failed.count) URL(s) failed permanently: \(failed.prefix(20).joined(separator: " "))")
            return 1
        }
        if unsettled > 0 {
            logger.warning("\(unsettled) URL(s) are not accepted yet (retrying later or waiting for the quota); they stay queued")
            return 1
        }
        logger.notice("everything queued was submitted")
        return 0
    }

    // MARK: - Quota

    /// The areas an accepted batch counts against: the configured one, or every area (SPEC §6).
    var quotaAreas: [String] { quotaArea.map { [$0] } ?? [] }

    /// The cached quota as the planner may use it now (``QuotaBook/view(_:area:now:)``: a
    /// reading from before the last reset counts as full).
    nonisolated(nonsending) func currentQuotaView() async -> QuotaView {
        quotaView(of: (try? await store.quota()) ?? [])
    }

    /// `rows` as the planner may use them now, for the configured area.
    func quotaView(of rows: [QuotaRow]) -> QuotaView {
        QuotaBook.view(rows, area: quotaArea, now: clock.wall())
    }

    /// Room for what waits: URL quota, or path quota when directory fallback may use it.
    func quotaHasRoom(_ quota: QuotaView) -> Bool {
        quota.urlAvailable > 0 || (config.purge.directoryFallback && quota.pathAvailable > 0)
    }

    static func defaultQuotaRows(urlBatch: Int = 1_000, nowMilliseconds now: Int64) -> [QuotaRow] {
        return ["mainland", "overseas"].flatMap { area in
            [
                QuotaRow(area: area, kind: .url, batch: urlBatch, total: 10_000, available: 10_000, fetchedMilliseconds: now),
                QuotaRow(area: area, kind: .path, batch: 20, total: 100, available: 100, fetchedMilliseconds: now),
            ]
        }
    }

    /// A dry run counts against a local copy of the quota, reset daily.
    nonisolated(nonsending) func seedDryRunQuota() async throws {
        if let seeded = Self.dryRunQuota(try await store.quota(), now: clock.wall(), nowMilliseconds: clock.wallMilliseconds()) {
            try await store.replaceQuota(seeded)
        }
    }

    /// The dry run's quota copy as it should be now: nil when `rows` are today's; the documented
    /// defaults when there are none; a copy from before the reset starts full again.
    static func dryRunQuota(_ rows: [QuotaRow], now: Date, nowMilliseconds: Int64) -> [QuotaRow]? {
        if rows.isEmpty { return defaultQuotaRows(nowMilliseconds: nowMilliseconds) }
        let effective = QuotaBook.effective(rows, now: now)
        guard effective != rows else { return nil }
        return effective.map {
            var row = $0
            row.fetchedMilliseconds = nowMilliseconds
            return row
        }
    }

    /// Asks DescribePurgeQuota when ``QuotaBook`` says it is due: no reading of today, right
    /// after a refusal by day limit, on a backoff while URLs wait, or when the reading is stale.
    nonisolated(nonsending) func refreshQuotaIfDue() async throws {
        guard let provider else {
            try await seedDryRunQuota()
            return
        }
        guard let due = await nextQuotaRead(), due <= clock.wall() else { return }
        do {
            let quota = try await provider.purgeQuota(deadline: ContinuousClock.now.advanced(by: options.submitDeadline / 4))
            let fetched = clock.wallMilliseconds()
            let fresh = quota.map {
                QuotaRow(
                    area: $0.area, kind: $0.kind == .urls ? .url : .path, batch: $0.batch, total: $0.total, available: $0.available,
                    fetchedMilliseconds: fetched)
            }
            guard !fresh.isEmpty else {
                // An answer with no quota in it: planned with the last known quota (or the
                // documented defaults), asked again on the backoff — not on every pass.
                quotaBook.read(at: clock.wall(), .failed)
                logger.warning("DescribePurgeQuota answered no quota; planning with the last known quota")
                return
            }
            try await store.replaceQuota(fresh)
            quotaBook.read(at: clock.wall(), quotaHasRoom(await currentQuotaView()) ? .room : .noRoom)
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as any StoreTrouble {
            throw error
        } catch {
            if Task.isCancelled { throw CancellationError() }
            quotaBook.read(at: clock.wall(), .failed)
            logger.warning("DescribePurgeQuota failed (\(error)); planning with the last known quota")
        }
    }
}
