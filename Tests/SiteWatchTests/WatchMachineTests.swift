import Glibc
import PurgeCore
import Testing

@testable import SiteWatch

/// ``WatchMachine`` fed recorded event sequences: no kernel, no disk, no sleeping. Each test
/// says what must happen and what must not. A walk the machine asks for (``WatchMachine/Action/watchSubtree(_:)``)
/// is answered by hand with what the walk would report.
@Suite struct WatchMachineTests {
    static let ms: UInt64 = 1_000_000

    /// A machine watching the root (wd 1), `docs` (2) and `docs/sub` (3), the root's parent
    /// (wd 10, for the name `site`), its next root check 30 s away.
    static func watching() -> WatchMachine {
        var machine = WatchMachine(WatchMachine.Configuration())
        machine.parentWatch = WatchMachine.RootWatch(wd: 10, name: Array("site".utf8))
        machine.beginTree()
        for (path, wd) in [(RelativePath.root, Int32(1)), ("docs", 2), ("docs/sub", 3)] {
            #expect(machine.handle(.watched(path, wd: wd), now: 0).isEmpty)
        }
        machine.scheduleRootCheck(now: 0)
        return machine
    }

    static func event(_ wd: Int32, _ mask: UInt32, _ name: String = "", cookie: UInt32 = 0) -> WatchMachine.Input {
        .event(RawInotifyEvent(wd: wd, mask: mask, cookie: cookie, name: Array(name.utf8)))
    }

    static let dir = InotifyMask.isDir

    // MARK: - Directories appearing

    @Test func mkdirIsWatchedAndWalkedAndWhatTheWalkFindsIsTouched() {
        var machine = Self.watching()
        // mkdir new: watch it, then walk it (the executor's walk adds each watch before listing).
        #expect(machine.handle(Self.event(1, InotifyMask.create | Self.dir, "new"), now: 0) == [.watchSubtree("new")])
        // What the walk reports: the watch it added, a file written before the watch existed.
        #expect(machine.handle(.watched("new", wd: 4), now: 0).isEmpty)
        #expect(machine.handle(.found("new/early.html"), now: 0).isEmpty)
        #expect(machine.watches.path(of: 4) == "new")
        // Nothing is delivered before the end of the pass; then once, both paths.
        #expect(machine.handle(.endOfPass, now: 0) == [.deliver(["new", "new/early.html"])])
        // Must not: walk a created file, or owe a full walk.
        #expect(machine.handle(Self.event(4, InotifyMask.create, "late.html"), now: 0).isEmpty)
        #expect(machine.outOfSync == nil)
        #expect(machine.handle(.endOfPass, now: 0) == [.deliver(["new/late.html"])])
    }

    @Test func anExcludedDirectoryIsNeitherWatchedNorTouched() {
        var machine = WatchMachine(WatchMachine.Configuration(exclude: ExclusionRule(patterns: ["tmp/"])))
        _ = machine.handle(.watched(.root, wd: 1), now: 0)
        #expect(machine.handle(Self.event(1, InotifyMask.create | Self.dir, "tmp"), now: 0).isEmpty)
        #expect(machine.touched.isEmpty)
    }

    // MARK: - Renames

    @Test func aMovedFromMovedToPairRenamesTheSubtreesWatches() {
        var machine = Self.watching()
        #expect(machine.handle(Self.event(1, InotifyMask.movedFrom | Self.dir, "docs", cookie: 7), now: 0).isEmpty)
        // The other half, same cookie, 1 ms later: the watches stay (same inodes), renamed.
        let actions = machine.handle(Self.event(1, InotifyMask.movedTo | Self.dir, "manual", cookie: 7), now: Self.ms)
        // Must not: walk it again as if moved in, or drop its watches.
        #expect(actions.isEmpty)
        #expect(machine.watches.path(of: 2) == "manual")
        #expect(machine.watches.path(of: 3) == "manual/sub")
        #expect(machine.watches.wd(of: "docs") == nil && machine.watches.wd(of: "docs/sub") == nil)
        #expect(machine.pendingMoves.isEmpty)
        // Both sides are touched (the old paths are judged gone, the new ones by content).
        #expect(machine.handle(.endOfPass, now: Self.ms) == [.deliver(["docs", "manual"])])
        // Must not: the pairing deadline, once passed, drop the renamed subtree.
        #expect(machine.handle(.timers, now: 1_000 * Self.ms).isEmpty)
        #expect(machine.watches.count == 3)
    }

    @Test func aMovedToWithAnotherCookieIsAMoveInNotTheRenamesOtherHalf() {
        var machine = Self.watching()
        _ = machine.handle(Self.event(1, InotifyMask.movedFrom | Self.dir, "docs", cookie: 7), now: 0)
        #expect(
            machine.handle(Self.event(1, InotifyMask.movedTo | Self.dir, "incoming", cookie: 8), now: 0)
                == [.watchSubtree("incoming")])
        #expect(machine.watches.path(of: 2) == "docs")  // still waiting for its own pair
        #expect(machine.pendingMoves[7]?.path == "docs")
    }

    @Test func anUnpairedMovedFromIsADeletionOnceItsDeadlinePasses() {
        var machine = Self.watching()
        _ = machine.handle(Self.event(1, InotifyMask.movedFrom | Self.dir, "docs", cookie: 7), now: 0)
        // The old path is judged gone at once; the watches wait for the pair until the deadline.
        #expect(machine.handle(.endOfPass, now: 0) == [.deliver(["docs"])])
        #expect(machine.nextDeadline() == 100 * Self.ms)
        #expect(machine.handle(.timers, now: 100 * Self.ms - 1).isEmpty)
        #expect(machine.watches.count == 3)
        // At the deadline: moved out of the tree. Its watches go, it is touched again.
        let actions = machine.handle(.timers, now: 100 * Self.ms)
        #expect(actions.count == 1)
        guard case .unwatch(let descriptors) = actions.first else {
            Issue.record("expected the subtree's watches to be removed, got \(actions)")
            return
        }
        #expect(Set(descriptors) == [2, 3])
        #expect(machine.watches.count == 1 && machine.watches.path(of: 1) == .root)
        #expect(machine.handle(.endOfPass, now: 100 * Self.ms) == [.deliver(["docs"])])
        // A late event of a removed watch is stale, not a sign of a desync; nothing is due any more.
        #expect(machine.handle(Self.event(3, InotifyMask.closeWrite, "x.html"), now: 101 * Self.ms).isEmpty)
        #expect(machine.handle(Self.event(3, InotifyMask.ignored), now: 101 * Self.ms).isEmpty)
        #expect(machine.outOfSync == nil)
        #expect(machine.nextDeadline() == 30_000 * Self.ms)  // the root check only
    }

    // MARK: - Out of sync

    @Test func anOverflowOwesAFullWalkAfterTheWatchesAreResynchronised() {
        var machine = Self.watching()
        _ = machine.handle(Self.event(1, InotifyMask.movedFrom | Self.dir, "docs", cookie: 7), now: 0)
        #expect(machine.handle(Self.event(-1, InotifyMask.overflow), now: 0) == [.warn(.overflow(count: 1))])
        #expect(machine.outOfSync == .overflow)
        // The pass ends: a rename still waiting cannot be paired any more (its half may be lost),
        // the watches are resynchronised, and only then is the walk owed.
        let actions = machine.handle(.endOfPass, now: 0)
        #expect(actions.count == 3)
        #expect(actions.dropFirst() == [.resyncWatches(.overflow), .deliver(["docs"])])
        #expect(machine.outOfSync == nil && machine.pendingMoves.isEmpty)
        // Must not: ask for the walk before the resync has run.
        #expect(!actions.contains(.rescan(.overflow)))
        // The resync walk finds the root and a new directory; what it did not see is dropped.
        #expect(machine.handle(.resyncStarted, now: 0).isEmpty)
        #expect(machine.handle(.watched(.root, wd: 1), now: 0).isEmpty)
        #expect(machine.handle(.watched("fresh", wd: 5), now: 0).isEmpty)
        #expect(machine.handle(.resyncFinished(.overflow), now: 0) == [.rescan(.overflow)])
        #expect(machine.watches.count == 2 && machine.watches.path(of: 5) == "fresh")
        #expect(machine.rescanCount == 1 && machine.overflowCount == 1)
        // Must not: end a degraded mode that was never entered.
        #expect(!machine.isDegraded)
    }

    @Test func aResyncDropsTheWatchesItDidNotSee() {
        var machine = Self.watching()
        _ = machine.handle(Self.event(-1, InotifyMask.overflow), now: 0)
        #expect(machine.handle(.endOfPass, now: 0) == [.resyncWatches(.overflow)])
        _ = machine.handle(.resyncStarted, now: 0)
        _ = machine.handle(.watched(.root, wd: 1), now: 0)
        let actions = machine.handle(.resyncFinished(.overflow), now: 0)
        guard case .unwatch(let descriptors) = actions.first else {
            Issue.record("expected the unseen watches to be removed, got \(actions)")
            return
        }
        #expect(Set(descriptors) == [2, 3])
        #expect(actions.last == .rescan(.overflow))
    }

    @Test func anEventForAnUnknownDescriptorMeansOutOfSync() {
        var machine = Self.watching()
        // IN_IGNORED for a descriptor never known is the kernel acknowledging a removal: no desync.
        #expect(machine.handle(Self.event(998, InotifyMask.ignored), now: 0).isEmpty)
        #expect(machine.outOfSync == nil)
        #expect(machine.handle(Self.event(999, InotifyMask.closeWrite, "x.html"), now: 0).isEmpty)
        #expect(machine.outOfSync == .unknownWatch(999))
        // Must not: guess a path for it.
        #expect(machine.handle(.endOfPass, now: 0) == [.resyncWatches(.unknownWatch(999))])
        #expect(machine.outOfSync == nil)
    }

    @Test func aFailedWatchIsOutOfSyncButAVanishedDirectoryIsNot() {
        var machine = Self.watching()
        #expect(machine.handle(.watchFailed("gone", errno: ENOENT), now: 0).isEmpty)
        #expect(machine.outOfSync == nil)
        #expect(
            machine.handle(.watchFailed("odd", errno: EINVAL), now: 0) == [.warn(.watchFailed("odd", errno: EINVAL))])
        #expect(machine.outOfSync == .watchFailed(path: "odd", errno: EINVAL))
        // A listing that fails for a reason that passes is said once a minute, the desync every time.
        var again = Self.watching()
        #expect(again.handle(.unlisted("a", errno: EMFILE), now: 0) == [.warn(.unlistable("a", errno: EMFILE))])
        #expect(again.handle(.unlisted("b", errno: EMFILE), now: Self.ms).isEmpty)
        #expect(again.outOfSync == .watchFailed(path: "a", errno: EMFILE))
        #expect(again.handle(.unlisted("c", errno: EACCES), now: Self.ms).isEmpty)  // permanent: the walk reports it
    }

    // MARK: - The root

    @Test func theRootDeletedOrItsWatchGoneAsksForARootCheck() {
        var machine = Self.watching()
        // A subdirectory's own DELETE_SELF: its parent's IN_DELETE reports it; nothing to do.
        #expect(machine.handle(Self.event(2, InotifyMask.deleteSelf), now: 0).isEmpty)
        // The root's own DELETE_SELF and its IN_IGNORED: re-resolve the root.
        #expect(machine.handle(Self.event(1, InotifyMask.deleteSelf), now: 0) == [.checkRoot])
        #expect(machine.handle(Self.event(1, InotifyMask.ignored), now: 0) == [.checkRoot])
        #expect(machine.watches.path(of: 1) == nil)
        // Must not: count the root's removal as out of sync.
        #expect(machine.outOfSync == nil)
    }

    @Test func theParentsEventsMatterOnlyForTheRootsName() {
        var machine = Self.watching()
        // `ln -s releases/r2 current.new && mv -T current.new current`, in a parent that holds `site`.
        #expect(machine.handle(Self.event(10, InotifyMask.create, "site.new"), now: 0).isEmpty)
        #expect(machine.handle(Self.event(10, InotifyMask.movedTo, "site"), now: 0) == [.checkRoot])
        #expect(machine.touched.isEmpty)
        // The parent itself removed: forget its watch, re-resolve.
        #expect(machine.handle(Self.event(10, InotifyMask.deleteSelf), now: 0) == [.checkRoot])
        #expect(machine.parentWatch.wd == -1)
    }

    @Test func aReplacedTreeForgetsItsWatchesRenamesAndHolds() {
        var machine = Self.watching()
        _ = machine.handle(Self.event(1, InotifyMask.movedFrom | Self.dir, "docs", cookie: 7), now: 0)
        _ = machine.handle(Self.event(2, InotifyMask.modify, "a.html"), now: 0)
        #expect(Set(machine.detachTree()) == [1, 2, 3])
        machine.treeReplaced()
        // Must not: deliver the old tree's paths (the full walk covers them), or keep a deadline for them.
        #expect(machine.handle(.endOfPass, now: 0).isEmpty)
        #expect(machine.nextDeadline() == 30_000 * Self.ms)
        #expect(machine.handle(Self.event(2, InotifyMask.closeWrite, "b.html"), now: 0).isEmpty)
        #expect(machine.outOfSync == nil)  // the old tree's late events are stale
    }

    // MARK: - Barriers

    @Test func aBarrierIsAnsweredAfterEveryEventQueuedBeforeIt() {
        var machine = Self.watching()
        _ = machine.handle(Self.event(1, InotifyMask.closeWrite, "a.html"), now: 0)
        _ = machine.handle(Self.event(1, InotifyMask.modify, "b.html"), now: 0)  // held for 200 ms
        _ = machine.handle(Self.event(2, InotifyMask.movedFrom | Self.dir, "sub", cookie: 9), now: 0)
        // The drain is over: the rename's other half was never queued, so it never will be; the
        // root is checked now, not in 30 s.
        let settled = machine.handle(.drainedForBarrier, now: Self.ms)
        #expect(settled == [.unwatch([3]), .checkRoot])
        // Everything, the held write included, is delivered before the answer; the answer is last.
        #expect(
            machine.handle(.answerBarriers([5, 6]), now: Self.ms)
                == [.deliver(["a.html", "b.html", "docs/sub"]), .answerBarrier(5), .answerBarrier(6)])
        // Must not: deliver the held write again when its hold would have ended.
        #expect(machine.handle(.timers, now: 1_000 * Self.ms).isEmpty)
        #expect(machine.handle(.endOfPass, now: 1_000 * Self.ms).isEmpty)
    }

    @Test func aBarrierOnAnOutOfSyncTreeIsAnsweredAfterTheWalkIsOwed() {
        var machine = Self.watching()
        _ = machine.handle(Self.event(-1, InotifyMask.overflow), now: 0)
        #expect(machine.handle(.drainedForBarrier, now: 0) == [.checkRoot])
        #expect(machine.handle(.answerBarriers([1]), now: 0) == [.resyncWatches(.overflow), .answerBarrier(1)])
    }

    // MARK: - Writes, degraded mode, timers

    @Test func writesAreHeldAndACloseDeliversThemAtOnce() {
        var machine = Self.watching()
        _ = machine.handle(Self.event(1, InotifyMask.modify, "big.bin"), now: 0)
        _ = machine.handle(Self.event(1, InotifyMask.modify, "log.txt"), now: 0)
        // Must not: deliver a write while its hold runs.
        #expect(machine.handle(.endOfPass, now: 0).isEmpty)
        #expect(machine.nextDeadline() == 200 * Self.ms)
        _ = machine.handle(Self.event(1, InotifyMask.closeWrite, "big.bin"), now: Self.ms)
        #expect(machine.handle(.endOfPass, now: Self.ms) == [.deliver(["big.bin"])])
        #expect(machine.handle(.timers, now: 200 * Self.ms).isEmpty)
        #expect(machine.handle(.endOfPass, now: 200 * Self.ms) == [.deliver(["log.txt"])])
        #expect(machine.nextDeadline() == 30_000 * Self.ms)
    }

    @Test func theWatchLimitEntersDegradedModeOnceAndAPassThatFitsEndsIt() {
        var machine = Self.watching()
        #expect(machine.handle(.watchFailed("deep", errno: ENOSPC), now: 0) == [.enterDegraded])
        #expect(machine.handle(.watchFailed("deeper", errno: ENOSPC), now: 0).isEmpty)
        #expect(machine.isDegraded && machine.outOfSync == nil)
        #expect(machine.handle(.timers, now: 59_999 * Self.ms) == [.checkRoot])
        #expect(machine.handle(.timers, now: 60_000 * Self.ms) == [.resyncWatches(.degradedPeriodic)])
        // A pass that hits the limit again stays degraded.
        _ = machine.handle(.resyncStarted, now: 60_000 * Self.ms)
        _ = machine.handle(.watched(.root, wd: 1), now: 60_000 * Self.ms)
        _ = machine.handle(.watchFailed("deep", errno: ENOSPC), now: 60_000 * Self.ms)
        let stillDegraded = machine.handle(.resyncFinished(.degradedPeriodic), now: 60_000 * Self.ms)
        #expect(stillDegraded.last == .rescan(.degradedPeriodic))
        #expect(!stillDegraded.contains(.watchesRestored) && machine.isDegraded)
        // The limit was raised: the next pass watches everything.
        #expect(machine.handle(.timers, now: 120_000 * Self.ms) == [.checkRoot, .resyncWatches(.degradedPeriodic)])
        _ = machine.handle(.resyncStarted, now: 120_000 * Self.ms)
        _ = machine.handle(.watched(.root, wd: 1), now: 120_000 * Self.ms)
        #expect(
            machine.handle(.resyncFinished(.degradedPeriodic), now: 120_000 * Self.ms)
                == [.watchesRestored, .rescan(.degradedPeriodic)])
        #expect(!machine.isDegraded)
    }

    @Test func atRestNothingIsDueButTheRootCheck() {
        var machine = Self.watching()
        #expect(machine.nextDeadline() == 30_000 * Self.ms)
        #expect(machine.handle(.timers, now: 30_000 * Self.ms) == [.checkRoot])
        #expect(machine.nextDeadline() == 60_000 * Self.ms)
    }

    // MARK: - Decoding

    @Test func decodingReadsEachHeaderAndTheNameWithoutItsPadding() {
        func record(_ wd: Int32, _ mask: UInt32, _ cookie: UInt32, _ name: [UInt8], padTo length: Int) -> [UInt8] {
            var bytes: [UInt8] = []
            withUnsafeBytes(of: wd.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: mask.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: cookie.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt32(length).littleEndian) { bytes += $0 }
            return bytes + name + [UInt8](repeating: 0, count: length - name.count)
        }
        let nonUTF8: [UInt8] = [0x66, 0xFF, 0x2E, 0x68]
        let buffer =
            record(1, InotifyMask.movedFrom | Self.dir, 7, Array("docs".utf8), padTo: 16)
            + record(1, InotifyMask.overflow, 0, [], padTo: 0)
            + record(2, InotifyMask.closeWrite, 0, nonUTF8, padTo: 16)
        var events: [RawInotifyEvent] = []
        buffer.withUnsafeBytes { RawInotifyEvent.decode($0) { events.append($0) } }
        #expect(
            events == [
                RawInotifyEvent(wd: 1, mask: InotifyMask.movedFrom | Self.dir, cookie: 7, name: Array("docs".utf8)),
                RawInotifyEvent(wd: 1, mask: InotifyMask.overflow),
                RawInotifyEvent(wd: 2, mask: InotifyMask.closeWrite, name: nonUTF8),
            ])
    }
}
