import Glibc  // errno constants only: the machine makes no system call
import PurgeCore

/// What the inotify reader decides, as a value: fed decoded events, walk results, timers and
/// barriers with the current instant, it returns the actions to perform, in order.
///
/// It owns the state the decisions need — the watch table (descriptor ↔ directory), the
/// descriptors removed whose `IN_IGNORED` is still to come, the directory renames waiting for
/// their other half (by cookie, with a deadline), the held `IN_MODIFY` paths, the paths touched
/// since the last delivery, the out-of-sync and degraded flags and the root-side watches — and
/// nothing else: no descriptor, no thread, no clock, no file system. ``InotifyBridge`` owns
/// those and performs the actions; a walk the machine asks for reports back through
/// ``Input/watched(_:wd:)``, ``Input/watchFailed(_:errno:)``, ``Input/found(_:)`` and
/// ``Input/unlisted(_:errno:)``. The executor performs each input's actions before it feeds the
/// next input, so a decision always sees the table as the previous actions left it.
///
/// Time is an input (monotonic nanoseconds, `now:`): tested from recorded event sequences,
/// without a kernel and without sleeping (`WatchMachineTests`).
struct WatchMachine: Sendable {
    /// Intervals in nanoseconds and the exclusion rule.
    struct Configuration: Sendable {
        var exclude: ExclusionRule = .none
        /// How long a directory's `IN_MOVED_FROM` waits for its `IN_MOVED_TO`.
        var renamePairingTimeout: UInt64 = 100_000_000
        /// How long `IN_MODIFY` holds a path (``ModifyThrottle``).
        var modifyInterval: UInt64 = 200_000_000
        /// How often the root is re-resolved without an event.
        var rootCheckInterval: UInt64 = 30_000_000_000
        /// How often degraded mode walks the tree.
        var degradedRescanInterval: UInt64 = 60_000_000_000
    }

    enum Input: Sendable, Hashable {
        /// An event read from the inotify descriptor (or injected by a test).
        case event(RawInotifyEvent)
        /// A walk added (or found again) the watch `wd` on the directory `path`.
        case watched(RelativePath, wd: Int32)
        /// `inotify_add_watch` failed for the directory `path`.
        case watchFailed(RelativePath, errno: Int32)
        /// A walk of a directory that appeared found this file.
        case found(RelativePath)
        /// A walk could not open or list the directory `path`.
        case unlisted(RelativePath, errno: Int32)
        /// The resync walk of ``Action/resyncWatches(_:)`` begins (on a root that is there).
        case resyncStarted
        /// The resync walk of ``Action/resyncWatches(_:)`` is over (or there was no root to walk).
        case resyncFinished(RescanReason)
        /// The reader woke: whatever is due by `now` is done.
        case timers
        /// The end of one pass of the reader: what was collected is delivered.
        case endOfPass
        /// A flush barrier: the descriptor was drained of what was queued before it. Renames
        /// still unpaired never will be (both halves are queued by one `rename(2)`), and the root is
        /// checked now.
        case drainedForBarrier
        /// After ``drainedForBarrier``: deliver everything, held writes included, then answer.
        case answerBarriers([UInt64])
    }

    enum Action: Sendable, Hashable {
        /// A directory appeared (created or moved in): watch it and every directory beneath it,
        /// each before it is listed, and report each file found (``Input/found(_:)``).
        case watchSubtree(RelativePath)
        /// Remove these watches from the kernel. The table has forgotten them already; their
        /// queued events are stale until their `IN_IGNORED`.
        case unwatch([Int32])
        /// Re-resolve the root now (it may have been replaced, removed or have appeared).
        case checkRoot
        /// Re-add a watch on every directory of the tree (``Input/resyncStarted``, the walk's
        /// reports, then ``Input/resyncFinished(_:)`` with this reason).
        case resyncWatches(RescanReason)
        /// The watch limit was hit: say so with the `sysctl` line (``SiteEvent/degraded(_:)``).
        case enterDegraded
        /// A degraded pass watched everything: ``SiteEvent/watchesRestored``.
        case watchesRestored
        /// These paths may have changed: ``SiteEvent/touched(_:)``.
        case deliver(Set<RelativePath>)
        /// A full walk is owed: ``SiteEvent/rescanNeeded(_:)``.
        case rescan(RescanReason)
        /// ``SiteEvent/barrier(_:)``: everything queued before it has been delivered.
        case answerBarrier(UInt64)
        /// Something to log.
        case warn(Warning)
    }

    enum Warning: Sendable, Hashable {
        /// `IN_Q_OVERFLOW` (the `count`th).
        case overflow(count: Int)
        /// `inotify_add_watch` failed for a reason other than the limit or the directory vanishing.
        case watchFailed(RelativePath, errno: Int32)
        /// A directory could not be watched or listed for a reason that passes (`EMFILE`, …); said
        /// once a minute per errno.
        case unlistable(RelativePath, errno: Int32)
    }

    /// A watch outside the tree: the root's parent, or the nearest existing directory on the way
    /// to a missing root.
    struct RootWatch: Sendable, Hashable {
        var wd: Int32 = -1
        /// The name in that directory whose arrival or departure matters.
        var name: [UInt8] = []
        /// The directory (for the status; the waiting watch only).
        var directory: String?
    }

    let configuration: Configuration

    private(set) var watches = WatchTable()
    /// Descriptors removed whose `IN_IGNORED` has not arrived yet: their queued events are stale,
    /// not unknown. `IN_IGNORED` is a watch's last event, so the set stays as small as the queue.
    private(set) var retired: Set<Int32> = []
    /// Directories moved away (`IN_MOVED_FROM`) waiting for their `IN_MOVED_TO`, by cookie.
    private(set) var pendingMoves: [UInt32: (path: RelativePath, deadline: UInt64)] = [:]
    /// `IN_MODIFY` paths held back until their hold ends (trailing edge).
    private var modifies: ModifyThrottle
    /// Paths touched since the last delivery.
    private(set) var touched: Set<RelativePath> = []
    /// Why the tree is out of sync (the first reason since the last resync), if it is.
    private(set) var outOfSync: RescanReason?

    /// The root's parent's watch; its ``RootWatch/name`` is the root's name.
    var parentWatch = RootWatch()
    /// While the root is missing: the nearest existing directory's watch and the missing name.
    var waitWatch = RootWatch()

    private(set) var isDegraded = false
    /// `inotify_add_watch` hit the limit during the current set-up or resync pass.
    private var limitHitInPass = false
    private var nextDegradedTick: UInt64 = .max
    private var nextRootCheck: UInt64 = 0
    /// The resync walk running: the descriptors it has seen.
    private var resyncSeen: Set<Int32>?
    private var lastUnlistableWarning: (errno: Int32, at: UInt64)?
    private(set) var overflowCount = 0
    private(set) var rescanCount = 0

    init(_ configuration: Configuration) {
        self.configuration = configuration
        modifies = ModifyThrottle(interval: configuration.modifyInterval)
    }

    // MARK: - Inputs

    /// Decides what `input` at `now` calls for.
    mutating func handle(_ input: Input, now: UInt64) -> [Action] {
        switch input {
        case .event(let event):
            return handle(event, now: now)
        case .watched(let path, let wd):
            resyncSeen?.insert(wd)
            retired.remove(wd)
            guard let previous = watches.set(wd, for: path) else { return [] }
            // The path now names another directory: the old one is no longer in the tree here.
            retired.insert(previous)
            return [.unwatch([previous])]
        case .watchFailed(let path, let code):
            switch code {
            case ENOSPC:
                limitHitInPass = true
                guard !isDegraded else { return [] }
                isDegraded = true
                nextDegradedTick = now &+ configuration.degradedRescanInterval
                return [.enterDegraded]
            case ENOENT, ENOTDIR:
                return []  // gone already: its parent's event reports it
            default:
                markOutOfSync(.watchFailed(path: path, errno: code))
                return [.warn(.watchFailed(path, errno: code))]
            }
        case .found(let path):
            touched.insert(path)
            return []
        case .unlisted(let path, let code):
            // Not watched or listed for a reason that passes: what happens in it is unseen.
            guard FileSystem.isTransient(code) else { return [] }
            markOutOfSync(.watchFailed(path: path, errno: code))
            // One line per condition (errno) a minute, not one per directory per pass: under
            // descriptor exhaustion every directory fails, at every resync.
            if let last = lastUnlistableWarning, last.errno == code, now &- last.at < 60_000_000_000 { return [] }
            lastUnlistableWarning = (code, now)
            return [.warn(.unlistable(path, errno: code))]
        case .resyncStarted:
            resyncSeen = []
            limitHitInPass = false
            return []
        case .resyncFinished(let reason):
            var actions: [Action] = []
            if let seen = resyncSeen {
                resyncSeen = nil
                let unseen = watches.descriptors.filter { !seen.contains($0) }
                for wd in unseen { watches.remove(wd: wd) }
                actions += unwatch(unseen)
            }
            if reason == .degradedPeriodic, !limitHitInPass {
                isDegraded = false
                actions.append(.watchesRestored)
            }
            rescanCount += 1
            actions.append(.rescan(reason))
            return actions
        case .timers:
            return timers(now: now)
        case .endOfPass:
            return endOfPass()
        case .drainedForBarrier:
            var actions: [Action] = []
            for (cookie, move) in pendingMoves {
                pendingMoves[cookie] = nil
                actions += dropSubtree(move.path)
            }
            nextRootCheck = 0
            return actions + timers(now: now)
        case .answerBarriers(let ids):
            // Writes held back by the throttle were queued before the barrier too.
            touched.formUnion(modifies.takeAll())
            return endOfPass() + ids.map { .answerBarrier($0) }
        }
    }

    /// One decoded event.
    private mutating func handle(_ event: RawInotifyEvent, now: UInt64) -> [Action] {
        let (wd, mask, name) = (event.wd, event.mask, event.name)
        if mask & InotifyMask.overflow != 0 {
            overflowCount += 1
            markOutOfSync(.overflow)
            return [.warn(.overflow(count: overflowCount))]
        }
        if wd >= 0 && (wd == parentWatch.wd || wd == waitWatch.wd) {
            if mask & (InotifyMask.deleteSelf | InotifyMask.moveSelf | InotifyMask.ignored) != 0 {
                if wd == parentWatch.wd { parentWatch.wd = -1 }
                if wd == waitWatch.wd { waitWatch = RootWatch() }
                return [.checkRoot]
            }
            if (wd == parentWatch.wd && name == parentWatch.name) || (wd == waitWatch.wd && name == waitWatch.name) {
                return [.checkRoot]
            }
            return []
        }
        if mask & InotifyMask.ignored != 0 {
            let removed = watches.remove(wd: wd)
            retired.remove(wd)
            return removed?.isRoot == true ? [.checkRoot] : []
        }
        guard let directory = watches.path(of: wd) else {
            if !retired.contains(wd) { markOutOfSync(.unknownWatch(wd)) }
            return []
        }
        if name.isEmpty {
            // An event on a watched directory itself: only the root's matters (its parent's
            // event reports any other).
            if directory.isRoot, mask & (InotifyMask.deleteSelf | InotifyMask.moveSelf | InotifyMask.unmount) != 0 {
                return [.checkRoot]
            }
            return []
        }
        let path = directory.appending(name)
        let isDirectory = mask & InotifyMask.isDir != 0
        if configuration.exclude(path.bytes, isDirectory) { return [] }
        var actions: [Action] = []
        if isDirectory {
            if mask & InotifyMask.create != 0 {
                actions.append(.watchSubtree(path))
                touched.insert(path)
            } else if mask & InotifyMask.movedTo != 0 {
                if let from = pendingMoves.removeValue(forKey: event.cookie) {
                    // Moved within the tree: its watches stay (same inodes) under new paths; a
                    // directory it was renamed over is gone, its last events stale.
                    let replaced = watches.renameSubtree(from: from.path, to: path)
                    actions += unwatch(replaced)
                    touched.insert(from.path)
                } else {
                    actions.append(.watchSubtree(path))  // moved in from outside the tree (or an excluded directory)
                }
                touched.insert(path)
            } else if mask & InotifyMask.movedFrom != 0 {
                // Judged now (the old path is gone whatever happens next); the watches wait for the pair.
                touched.insert(path)
                pendingMoves[event.cookie] = (path, now &+ configuration.renamePairingTimeout)
            } else if mask & InotifyMask.delete != 0 {
                actions += dropSubtree(path)
            }
        } else if mask
            & (InotifyMask.closeWrite | InotifyMask.create | InotifyMask.movedTo | InotifyMask.movedFrom
                | InotifyMask.delete) != 0
        {
            // A file's rename halves are both touched: the old name is judged gone, the new one by content.
            touched.insert(path)
        } else if mask & InotifyMask.modify != 0 {
            // One touch per burst of writes (trailing edge), not one per write(2).
            modifies.modified(path, now: now)
        }
        return actions
    }

    private mutating func timers(now: UInt64) -> [Action] {
        var actions: [Action] = []
        touched.formUnion(modifies.due(now: now))
        for (cookie, move) in pendingMoves where move.deadline <= now {
            // An unpaired MOVED_FROM: the directory left the tree (or went to an excluded name).
            pendingMoves[cookie] = nil
            actions += dropSubtree(move.path)
        }
        if now >= nextRootCheck {
            nextRootCheck = now &+ configuration.rootCheckInterval
            actions.append(.checkRoot)
        }
        if isDegraded && now >= nextDegradedTick {
            nextDegradedTick = now &+ configuration.degradedRescanInterval
            actions.append(.resyncWatches(.degradedPeriodic))
        }
        return actions
    }

    private mutating func endOfPass() -> [Action] {
        var actions: [Action] = []
        if let reason = outOfSync {
            outOfSync = nil
            for move in pendingMoves.values { actions += dropSubtree(move.path) }
            pendingMoves = [:]
            actions.append(.resyncWatches(reason))
        }
        if !touched.isEmpty {
            modifies.delivered(touched)
            actions.append(.deliver(touched))
            touched = []
        }
        return actions
    }

    // MARK: - Calls from the executor outside a pass

    /// The earliest instant at which ``Input/timers`` has something to do; `nil` when nothing
    /// is due ever (the reader then sleeps until the descriptor or the wake pipe is readable).
    mutating func nextDeadline() -> UInt64? {
        var next = nextRootCheck
        if isDegraded { next = min(next, nextDegradedTick) }
        for move in pendingMoves.values { next = min(next, move.deadline) }
        if let held = modifies.nextDeadline() { next = min(next, held) }
        return next == .max ? nil : next
    }

    /// The root was attached or re-checked at `now`: the next check without an event is due a
    /// ``Configuration/rootCheckInterval`` later.
    mutating func scheduleRootCheck(now: UInt64) {
        nextRootCheck = now &+ configuration.rootCheckInterval
    }

    /// A tree is about to be watched from its root (a set-up pass).
    mutating func beginTree() {
        limitHitInPass = false
    }

    /// The root was detached (replaced or gone): every watch of the tree goes, with the renames
    /// and writes it was waiting on. - Returns: the descriptors to remove from the kernel.
    mutating func detachTree() -> [Int32] {
        let all = watches.removeAll()
        retired.formUnion(all)
        pendingMoves = [:]
        _ = modifies.takeAll()
        return all
    }

    /// A new tree was attached in place of another (or of none): what was touched in the old
    /// one is covered by the full walk owed for it (the caller yields ``RescanReason/rootReplaced(_:)``).
    mutating func treeReplaced() {
        touched = []
        rescanCount += 1
    }

    /// Drops the waiting watch. - Returns: its descriptor, to remove from the kernel (unless it
    /// is also the parent's watch, which stays).
    mutating func dropWaitWatch() -> Int32? {
        let wd = waitWatch.wd
        waitWatch = RootWatch()
        guard wd >= 0, wd != parentWatch.wd else { return nil }
        retired.insert(wd)
        return wd
    }

    // MARK: - Helpers

    private mutating func markOutOfSync(_ reason: RescanReason) {
        if outOfSync == nil { outOfSync = reason }
    }

    /// A directory left the tree (moved out or deleted): it is touched and its watches go.
    private mutating func dropSubtree(_ path: RelativePath) -> [Action] {
        touched.insert(path)
        return unwatch(watches.removeSubtree(path))
    }

    private mutating func unwatch(_ descriptors: [Int32]) -> [Action] {
        guard !descriptors.isEmpty else { return [] }
        retired.formUnion(descriptors)
        return [.unwatch(descriptors)]
    }
}
