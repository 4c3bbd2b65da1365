import CProcess
import Foundation
import Logging
import PurgeCore
import Reporting
import SiteWatch
import StateStore

/// The detector stage (SPEC §5): compares what a closed window touched with the manifest and
/// commits the changes' URLs to the queue with the manifest rows, in one transaction.
///
/// A Service that owns its state — the touched paths and the full walk owed (``pending``), the
/// windows closed and not yet compared, a flush's full walk, the baseline's deferred files, the
/// wait for a missing root, the trouble that keeps comparisons from running and its retry
/// backoff, the unreadable files, the count of files tracked — and opens nothing of its own: it
/// reads and writes the manifest through the state database it is handed. The control loop feeds
/// it events (``absorb(_:)``) and closed windows (``windowClosed()``); the detector service runs
/// ``closeWindow(now:monitor:)`` for them and hands back what the control loop does next (a
/// window to open again, flush waiters to refuse). It runs on its caller's executor (the
/// daemon's thread): every async method is `nonisolated(nonsending)`.
final class DetectorStage {
    var config: SiteConfig
    let options: DaemonOptions
    let clock: DaemonClock
    let logger: Logger
    let metrics: DaemonMetrics
    /// The descriptors held back for the runtime (released when comparisons run out of them).
    let descriptorReserve: DescriptorReserve
    /// The state database (the manifest's); set when the daemon opens its state, before any
    /// comparison.
    var db: StateDatabase!
    /// How the changes are committed: with the queue in the same file, or queued first in
    /// another store (``ChangeCommit``).
    var changeCommit: (any ChangeCommit)!

    /// The touched paths and the full walk owed since the last comparison.
    private(set) var pending = PendingChanges()
    /// The next window compares the whole tree (`flush --full`, or a flush while the watcher
    /// cannot vouch for its events: not running, degraded, or its barrier not answered).
    private(set) var fullWalkRequested = false
    /// Windows closed (or retries due) since the detector last looked.
    private var windowsClosed = 0
    /// Files the baseline could not read: baseline too once read, never `created` (SPEC §5).
    private var baselineDeferred: Set<RelativePath> = []
    /// The site root the daemon waits for (it is missing), for STATUS= and `status`.
    private(set) var waitingForRoot: String?
    /// Why comparisons cannot run now, said once per condition.
    private(set) var failure: (reason: String, condition: String, at: ContinuousClock.Instant)?
    /// The comparison's retry: 1 s doubling to a minute.
    private var retry: RetrySchedule
    /// When a comparison that could not run is tried again.
    private(set) var retryAt: ContinuousClock.Instant?
    private var unreadableFiles = UnreadableFiles()
    /// Files in the manifest, moved by each commit's delta.
    private(set) var filesTracked = 0
    /// An overflow (or another loss) to report as recovered by the next full walk.
    private var recoveryNotice: RescanReason?

    init(
        config: SiteConfig, options: DaemonOptions, clock: DaemonClock, logger: Logger, metrics: DaemonMetrics,
        descriptorReserve: DescriptorReserve
    ) {
        self.config = config
        self.options = options
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.descriptorReserve = descriptorReserve
        self.retry = RetrySchedule(base: options.detectRetryBase, max: options.detectRetryMax)
    }

    /// Opens the stage on the daemon's state: the count of files tracked. `commit` says where
    /// the changes' URLs go (the same file's queue unless given).
    func open(_ db: StateDatabase, commit: (any ChangeCommit)? = nil) throws {
        self.db = db
        changeCommit = commit ?? OneTransactionCommit(db: db)
        filesTracked = try db.read { try $0.manifestCount() }
    }

    // MARK: - The control loop's side

    /// Nothing touched and no full walk owed.
    var isIdle: Bool { pending.isEmpty }
    /// A full walk is owed (an overflow, a failed watch, a root swap): the watcher cannot vouch
    /// for its events until it has run.
    var owesFullWalk: Bool { pending.fullRescanReason != nil }

    /// Takes a watcher's event. Returns whether it touched the tree (the window notes a change).
    func absorb(_ event: SiteEvent) -> Bool {
        var touched = false
        switch event {
        case .touched, .rescanNeeded:
            if case .rescanNeeded(let reason) = event {
                if case .overflow = reason { metrics.overflowed() }
                logger.warning("out of sync: \(reason); walking the whole tree against the manifest")
                recoveryNotice = reason
            }
            pending.absorb(event)
            touched = true
        case .rootUnavailable(let reason):
            if waitingForRoot == nil {
                waitingForRoot = config.site.root
                try? db.transaction { try $0.setMetaValue(PurgeDaemon.waitingForRootKey, .text(config.site.root)) }
                logger.warning("site root unavailable: \(reason); waiting for it (its nearest existing parent is watched)")
            }
        case .degraded, .watchesRestored, .barrier:
            break
        }
        if let root = waitingForRoot, case .rescanNeeded(.rootReplaced) = event {
            waitingForRoot = nil
            try? db.transaction { try $0.setMetaValue(PurgeDaemon.waitingForRootKey, .null) }
            logger.notice("the site root \(root) exists now: walking it")
        }
        return touched
    }

    /// The whole tree must be walked: the watcher stopped, or the root moved (a reload).
    func owe(_ reason: RescanReason) {
        pending.requestFullRescan(reason)
    }

    /// The next window compares the whole tree (a flush the watcher cannot vouch for).
    func requestFullWalk() {
        fullWalkRequested = true
    }

    /// A new watcher says again whether the root is missing (its first event); until then the
    /// old wait is void (a reload moved the root, or the root appeared while none watched).
    func forgetRootWait() {
        guard waitingForRoot != nil else { return }
        waitingForRoot = nil
        try? db?.transaction { try $0.setMetaValue(PurgeDaemon.waitingForRootKey, .null) }
    }

    /// The coalescing window closed: the detector compares it when it next looks.
    func windowClosed() {
        windowsClosed += 1
    }

    /// A comparison's retry is due at `now`: counted as a closed window. Returns whether it was.
    func takeDueRetry(now: ContinuousClock.Instant) -> Bool {
        guard let retryAt, now >= retryAt else { return false }
        self.retryAt = nil
        windowsClosed += 1
        return true
    }

    /// The detector's share: whether windows were closed since it last looked (they are one
    /// comparison now).
    func takeClosedWindows() -> Bool {
        guard windowsClosed > 0 else { return false }
        windowsClosed = 0
        return true
    }

    // MARK: - Comparing

    /// What a comparison left the control loop to do.
    enum Outcome: Equatable {
        /// Compared; `more` when a full walk held back by the rescan backoff is still owed (the
        /// window opens again for it).
        case compared(queued: Int, more: Bool)
        /// The tree could not be compared (the root unavailable, files unreadable for now): the
        /// touched paths are kept and the retry is scheduled (``retryAt``).
        case unfinished(queued: Int)
        /// Out of file descriptors: nothing was taken; the flushes waiting are refused.
        case outOfDescriptors

        var queued: Int {
            switch self {
            case .compared(let queued, _), .unfinished(let queued): queued
            case .outOfDescriptors: 0
            }
        }
    }

    /// The startup reconcile: the whole tree against the manifest. `run --once` throws when the
    /// tree could not be compared; `run` waits for it (the watcher's event, or the retry).
    nonisolated(nonsending) func reconcile(monitor: SiteMonitor?) async throws -> Outcome {
        pending.requestFullRescan(.overflow)
        let outcome = try await detectAndQueue(now: clock.now(), reconcile: true, monitor: monitor)
        guard case .compared = outcome else {
            if options.once {
                if let failure, failure.condition.hasPrefix("transient") {
                    throw DaemonError.comparisonIncomplete(failure.reason)
                }
                throw DaemonError.rootUnavailable(config.site.root)
            }
            scheduleRetry(now: clock.now(), monitor: monitor)
            return outcome
        }
        return outcome
    }

    /// Compares what the windows collected: the whole tree when a flush asked for it. A
    /// comparison that could not run is retried on a backoff (never in a loop).
    nonisolated(nonsending) func closeWindow(now: ContinuousClock.Instant, monitor: SiteMonitor?) async throws -> Outcome {
        logger.debug(
            "coalescing window closed",
            metadata: [
                "purge.flush": "\(fullWalkRequested)",
                "purge.full_walk_pending": "\(pending.fullRescanReason.map { "\($0)" } ?? "no")",
            ])
        var outcome: Outcome
        if fullWalkRequested {
            fullWalkRequested = false
            // The full walk below covers every touched path, and a full walk owed (it is not
            // walked again when the rescan backoff lets it).
            pending.takeAllForFullWalk(now: now)
            outcome = try await detectAndQueue(now: now, reconcile: false, scope: .full, monitor: monitor)
            if case .compared = outcome {} else { fullWalkRequested = true }
        } else {
            outcome = try await detectAndQueue(now: now, reconcile: false, monitor: monitor)
        }
        switch outcome {
        case .compared(let queued, _):
            // A full walk held back by the rescan backoff: come back when the window closes again.
            outcome = .compared(queued: queued, more: !pending.isEmpty && retryAt == nil)
        case .unfinished, .outOfDescriptors:
            // The root unavailable, or too many open files: compared again after a backoff (the
            // touched paths are kept), never in a loop.
            scheduleRetry(now: clock.now(), monitor: monitor)
        }
        return outcome
    }

    /// The next try of a comparison that could not run: 1 s doubling to a minute.
    func scheduleRetry(now: ContinuousClock.Instant, monitor: SiteMonitor?) {
        // Waiting for a missing root: the watcher says when it appears; nothing to retry.
        if waitingForRoot != nil || monitor?.status.waitingForRoot == true { return }
        retryAt = retry.nextAttempt(now: now)
    }

    /// The `reason` label of `purgewatch_walks_total` for a detection about to run.
    static func walkReason(reconcile: Bool, forced: Bool, pending: RescanReason?) -> String {
        if reconcile { return "reconcile" }
        if forced { return "flush" }
        switch pending {
        case .overflow?: return "overflow"
        case .rootReplaced?: return "root_replaced"
        case .watchFailed?, .unknownWatch?: return "watch_failed"
        default: return "other"
        }
    }

    /// One comparison: the scope (`forced`, or what was touched), then its changes' URLs queued
    /// with the manifest rows.
    nonisolated(nonsending) func detectAndQueue(
        now: ContinuousClock.Instant, reconcile: Bool, scope forced: DetectionScope? = nil, monitor: SiteMonitor?
    ) async throws -> Outcome {
        let reason = Self.walkReason(reconcile: reconcile, forced: forced != nil, pending: pending.fullRescanReason)
        // The descriptors given back to the runtime stay its own (libdispatch crashes the process
        // when it cannot open a file): comparisons wait until the reserve can be taken again, with
        // as many free beyond it, instead of using up the room it left. Checked before the work
        // is taken, so the touched paths (and a full walk's reason and backoff) stay as they were.
        if descriptorReserve.isReleased, forced != nil || !pending.isEmpty {
            descriptorReserve.refill()
            if descriptorReserve.isReleased {
                failed(SiteWatchError.transient(errno: EMFILE, path: config.site.root))
                return .outOfDescriptors
            }
        }
        guard let scope = forced ?? pending.take(now: now) else { return .compared(queued: 0, more: false) }
        let detector = Detector(root: config.site.root, exclude: ExclusionRule(config.mapper.excludeSet))
        let detection: Detection
        var deferredError: SiteWatchError?
        let started = clock.now()
        do {
            detection = try await detector.detect(scope, in: db)
            if scope == .full { metrics.walked(reason: reason, duration: started.duration(to: clock.now())) }
            if let error = detection.deferredError, !detection.deferred.isEmpty {
                // Files that could not be read for now (too many open files, EIO…): not judged,
                // compared again after the retry's backoff; the rest of the comparison commits
                // below, but the comparison is not finished: a `flush --wait` waits for them.
                pending.restore(.paths(Set(detection.deferred)))
                if detection.isBaseline { baselineDeferred.formUnion(detection.deferred) }
                failed(error)
                deferredError = error
            } else {
                succeeded(monitor: monitor)
            }
        } catch let error as SiteWatchError {
            failed(error)
            pending.restore(scope, reason: .rootReplaced(config.site.root))
            return .unfinished(queued: 0)
        } catch {
            pending.restore(scope, reason: .overflow)  // a database error: compared again later
            throw error
        }
        logger.debug(
            "compared \(scope == .full ? "the whole tree" : "touched paths") with the manifest",
            metadata: [
                "purge.files_scanned": "\(detection.filesScanned)", "purge.files_hashed": "\(detection.filesHashed)",
                "purge.changes": "\(detection.changes.count)",
            ])
        if detection.filesHashed >= Self.trimAfterHashing {
            // A large comparison's buffers are freed by now (even one that found nothing: a
            // rebuild with identical bytes): give the pages back instead of keeping them in
            // malloc's arenas until the next burst.
            _ = purgewatch_release_free_memory()
        }
        if detection.isEmpty { return deferredError == nil ? .compared(queued: 0, more: false) : .unfinished(queued: 0) }
        let queued: Int
        do {
            queued = try await commit(detection, detector: detector)
        } catch {
            pending.restore(scope, reason: .overflow)
            throw error
        }
        afterCommit(detection, scope: scope, reconcile: reconcile, queued: queued)
        return deferredError == nil ? .compared(queued: queued, more: false) : .unfinished(queued: queued)
    }

    /// After a comparison that read at least this many files, freed heap is returned (`malloc_trim`).
    static let trimAfterHashing = 1_000

    /// A comparison ran: the retry backoff starts again, and a trouble reported is over.
    func succeeded(monitor: SiteMonitor?) {
        retryAt = nil
        if let root = waitingForRoot, monitor?.status.waitingForRoot == false {
            // Compared, so the root exists, whatever event was missed (a monitor that started on it).
            waitingForRoot = nil
            try? db.transaction { try $0.setMetaValue(PurgeDaemon.waitingForRootKey, .null) }
            logger.notice("the site root \(root) exists now")
        }
        if descriptorReserve.isReleased { descriptorReserve.refill() }
        retry.succeeded()
        guard let failure else { return }
        self.failure = nil
        try? db.transaction { try $0.setMetaValue(PurgeDaemon.compareTroubleKey, .null) }
        logger.notice("the tree can be compared again (was: \(failure.reason))")
    }

    /// Says once why comparisons cannot run, and again only when the condition (the error's
    /// code and errno, not its path, which varies) changes or every few minutes while it lasts
    /// (no log storm: SPEC §7, one clear line per condition).
    func failed(_ error: SiteWatchError) {
        let reason = "\(error)"
        let condition = "\(error.code)/\(error.errno ?? 0)"
        let now = clock.now()
        if error.errno == EMFILE || error.errno == ENFILE, descriptorReserve.holdsAny {
            // Leave the runtime room (libdispatch crashes the process if it cannot open a file);
            // the daemon lets no control-socket client take it while the reserve is released.
            descriptorReserve.release()
            logger.warning(
                "out of file descriptors: released \(descriptorReserve.count) held in reserve so the runtime keeps working; comparisons wait")
        }
        if condition != failure?.condition {
            // `status` says what the daemon cannot do (best effort: the state may be as stuck).
            try? db.transaction { try $0.setMetaValue(PurgeDaemon.compareTroubleKey, .text(reason)) }
        }
        failure = (reason, condition, now)
        if retry.shouldSay(condition, now: now) {
            logger.warning("cannot compare the tree now: \(error); will retry with a backoff (the touched paths are kept)")
        }
    }

    private nonisolated(nonsending) func commit(_ detection: Detection, detector: Detector) async throws -> Int {
        let urls = Self.urls(
            of: detection.changes, config: config, baselineDeferred: baselineDeferred)
        let added = try await changeCommit.commit(detection, by: detector, urls: urls, nowMilliseconds: clock.wallMilliseconds())
        // Only once committed: a commit that failed is compared again with the same baseline.
        baselineDeferred.subtract(detection.changes.map(\.path))
        return added
    }

    /// The URLs to queue for `changes`: those of the kinds `[purge] on` names, mapped by the
    /// rules. A file the baseline deferred is baseline too when it is read at last (SPEC §5: a
    /// new site purges nothing), not `created`.
    static func urls(of changes: [Change], config: SiteConfig, baselineDeferred: Set<RelativePath>) -> [NewQueueRow] {
        let kinds = Set(config.purge.on.map(\.rawValue))
        let mapper = config.mapper
        let area = config.purge.area.rawValue
        var urls: [NewQueueRow] = []
        urls.reserveCapacity(changes.count)  // most files map to one URL: no doubling for 5,000 (issue 23)
        for change in changes where kinds.contains(change.kind.rawValue) {
            if change.kind == .created, baselineDeferred.contains(change.path) { continue }
            for url in mapper.map(change.path).urls {
                urls.append(NewQueueRow(url: url, area: area, path: change.path.bytes, kind: change.kind.queueKind))
            }
        }
        return urls
    }

    private func afterCommit(_ detection: Detection, scope: DetectionScope, reconcile: Bool, queued: Int) {
        if reconcile || detection.isBaseline {
            filesTracked = (try? db.read { try $0.manifestCount() }) ?? filesTracked
        } else {
            // The commit's own delta: a count(*) reads every manifest page (O(files) per commit).
            filesTracked += detection.manifestRowsAdded - detection.manifestDeletions.count
        }
        if detection.isBaseline {
            logger.notice("recorded the baseline: \(detection.filesScanned) files; nothing is purged for a new site")
            return
        }
        let counts = Dictionary(grouping: detection.changes, by: \.kind).mapValues(\.count)
        var metadata: Logger.Metadata = [
            "purge.created": "\(counts[.created] ?? 0)", "purge.modified": "\(counts[.modified] ?? 0)",
            "purge.deleted": "\(counts[.deleted] ?? 0)", "purge.url_count": "\(queued)",
            "purge.files_hashed": "\(detection.filesHashed)",
        ]
        if let reason = recoveryNotice, case .full = scope, !reconcile {
            recoveryNotice = nil
            metadata = MessageID.outOfSyncRecovered.metadata(metadata)
            logger.notice("recovered from \(reason): \(detection.changes.count) change(s) found by a full walk", metadata: metadata)
        } else if !detection.changes.isEmpty || queued > 0 {
            logger.info("\(detection.changes.count) change(s), \(queued) URL(s) queued", metadata: metadata)
        }
        let before = unreadableFiles.summary
        var wholeTree = false
        if case .full = scope { wholeTree = true }
        for line in unreadableFiles.record(
            unreadable: detection.unreadableErrnos, readable: detection.changes.map(\.path), wholeTree: wholeTree)
        {
            logger.warning("\(line)")
        }
        if unreadableFiles.summary != before {
            try? db.transaction {
                try $0.setMetaValue(PurgeDaemon.unreadableFilesKey, unreadableFiles.summary.map { .text($0) } ?? .null)
            }
        }
    }
}
