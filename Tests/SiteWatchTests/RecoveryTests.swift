import Foundation
import Glibc
import PurgeCore
import StateStore
import Testing

@testable import SiteWatch

/// Lost events (overflow, unknown watches), the watch limit, and the true set after recovery.
extension EndToEndTests {
    /// Changes of every kind on a 40-file site; returns what a correct detector must report.
    static func churn(_ harness: Harness) -> Set<Change> {
        var expected: Set<Change> = []
        for index in 0..<10 {
            harness.write("bulk/m\(index).html", "modified \(index)")
            expected.insert(Change(path: RelativePath("bulk/m\(index).html"), kind: .modified))
            harness.write("bulk/same\(index).html", "same \(index)")  // identical bytes
            removeFile(join(harness.root, bytes("bulk/d\(index).html")))
            expected.insert(Change(path: RelativePath("bulk/d\(index).html"), kind: .deleted))
            makeDirectories(harness.root, "fresh/n\(index)")
            harness.write("fresh/n\(index)/c.html", "created \(index)")
            expected.insert(Change(path: RelativePath("fresh/n\(index)/c.html"), kind: .created))
        }
        return expected
    }

    static func makeBulkSite(_ harness: Harness) {
        makeDirectories(harness.root, "bulk")
        for index in 0..<10 {
            harness.write("bulk/m\(index).html", "original \(index)")
            harness.write("bulk/same\(index).html", "same \(index)")
            harness.write("bulk/d\(index).html", "doomed \(index)")
            harness.write("bulk/k\(index).html", "kept \(index)")
        }
    }

    @Test func injectedOverflowRecoversTheTrueSet() async throws {
        let kernel = ScriptedInotify()
        let harness = try Harness(kernel: kernel)
        Self.makeBulkSite(harness)
        try await harness.start()
        let monitor = try #require(harness.monitor)
        kernel.pause()
        try await Task.sleep(for: .milliseconds(100))
        let expected = Self.churn(harness)
        kernel.queueOverflow()
        kernel.resume()
        #expect(try await harness.waitForEvent { $0 == .rescanNeeded(.overflow) })
        #expect(try await harness.settle() == expected)
        #expect(harness.lastScopeWasFull)
        // The watches were re-synchronised: the directories created during the loss are watched.
        harness.write("fresh/n3/c.html", "again")
        let after = try await harness.settle()
        #expect(after == changes([("fresh/n3/c.html", .modified)]), "events: \(harness.seenEvents)")
        #expect(!harness.lastScopeWasFull)
        #expect(monitor.status.overflowCount == 1)
        #expect(monitor.status.watchCount == 13)  // root, bulk, fresh, fresh/n0…n9
        await harness.stop()
    }

    @Test func eventForUnknownWatchDescriptorMeansOutOfSync() async throws {
        let kernel = ScriptedInotify()
        let harness = try Harness(kernel: kernel)
        Self.makeBulkSite(harness)
        try await harness.start()
        #expect(harness.monitor != nil)
        kernel.pause()
        try await Task.sleep(for: .milliseconds(100))
        let expected = Self.churn(harness)
        // A descriptor the watcher never handed out: its map no longer describes the kernel's.
        kernel.queue(RawInotifyEvent(wd: 999_999, mask: InotifyMask.closeWrite, name: Array("x.html".utf8)))
        kernel.resume()
        #expect(try await harness.waitForEvent { $0 == .rescanNeeded(.unknownWatch(999_999)) })
        #expect(try await harness.settle() == expected)
        #expect(harness.lastScopeWasFull)
        // IN_IGNORED (the kernel acknowledging a removed watch) is never a desync, known or not.
        harness.seenEvents = []
        kernel.queue(RawInotifyEvent(wd: 999_999, mask: InotifyMask.ignored))
        harness.write("bulk/k1.html", "kept 1, edited")
        #expect(try await harness.settle() == changes([("bulk/k1.html", .modified)]))
        #expect(!harness.lastScopeWasFull)
        await harness.stop()
    }

    @Test(.enabled(if: getuid() == 0, "needs root to lower /proc/sys/fs/inotify/max_queued_events"))
    func realKernelOverflowRecoversTheTrueSet() async throws {
        let limitFile = "/proc/sys/fs/inotify/max_queued_events"
        let original = try #require(InotifyBridge.readProcInt(limitFile))
        let kernel = ScriptedInotify()
        let harness = try Harness(kernel: kernel)
        Self.makeBulkSite(harness)
        // The queue size is fixed when the inotify instance is created: lower it only around start().
        #expect(shell("echo 32 > \(limitFile)") == 0)
        do {
            try await harness.start(reconcile: false)
        } catch {
            shell("echo \(original) > \(limitFile)")
            throw error
        }
        #expect(shell("echo \(original) > \(limitFile)") == 0)
        #expect(InotifyBridge.readProcInt(limitFile) == original)
        let baseline = try await harness.detector.detect(.full, in: harness.db)
        try await harness.detector.commit(baseline, in: harness.db)
        let monitor = try #require(harness.monitor)
        kernel.pause()
        try await Task.sleep(for: .milliseconds(100))
        let expected = Self.churn(harness)
        for round in 0..<5 {  // 50 more events (identical bytes): well past the 32-event queue
            for index in 0..<10 { harness.write("bulk/k\(index).html", "kept \(index)") }
            _ = round
        }
        kernel.resume()
        #expect(try await harness.waitForEvent { $0 == .rescanNeeded(.overflow) })
        #expect(try await harness.settle() == expected)
        #expect(harness.lastScopeWasFull)
        #expect(monitor.status.overflowCount >= 1)
        await harness.stop()
    }

    @Test func watchLimitDeclaresDegradedModeAndWalksPeriodically() async throws {
        var options = SiteMonitor.Options()
        options.degradedRescanInterval = .milliseconds(300)
        // The instance may hold 4 watches, as the kernel would allow at a limit of 4: the root's
        // parent (to see the root replaced) and 3 of the tree's directories.
        let harness = try Harness(options: options, kernel: ScriptedInotify(watchLimit: 4))
        for index in 0..<6 {
            makeDirectories(harness.root, "d\(index)/e")
            harness.write("d\(index)/e/f.html", "\(index)")
        }
        try await harness.start()
        #expect(
            try await harness.waitForEvent {
                if case .degraded(let error) = $0 {
                    return error.code == .watchLimitReached
                        && error.message.contains("sysctl fs.inotify.max_user_watches=")
                        && error.requiredWatchLimit != nil
                }
                return false
            })
        #expect(harness.monitor?.status.isDegraded == true)
        #expect(harness.monitor?.status.watchCount == 3)
        // A change in an unwatched directory is found by the periodic walk.
        harness.write("d5/e/f.html", "changed")
        harness.seenEvents = []
        #expect(try await harness.waitForEvent { $0 == .rescanNeeded(.degradedPeriodic) })
        #expect(try await harness.settle() == changes([("d5/e/f.html", .modified)]))
        #expect(harness.lastScopeWasFull)
        await harness.stop()
    }

    /// A plain-directory root replaced by another directory (`mv site site.old && mv site.new site`).
    @Test func plainDirectoryRootReplaced() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        let next = harness.scratch.path + "/site.new"
        #expect(shell("cp -a '\(harness.root)' '\(next)'") == 0)
        writeFile(next, "about.html", "about v2")
        removeFile(Array((next + "/blog/a.html").utf8))
        #expect(shell("cd '\(harness.scratch.path)' && mv site site.old && mv site.new site") == 0)
        #expect(
            try await harness.waitForEvent { event in
                if case .rescanNeeded(.rootReplaced) = event { return true }
                return false
            })
        #expect(try await harness.settle() == changes([("about.html", .modified), ("blog/a.html", .deleted)]))
        // The new tree is watched (an edit is reported without a full walk); the old one is not.
        writeFile(harness.scratch.path + "/site.old", "about.html", "stale")
        harness.write("index.html", "home v3")
        #expect(try await harness.settle() == changes([("index.html", .modified)]))
        #expect(!harness.lastScopeWasFull)
        #expect(harness.monitor?.status.resolvedRoot == harness.scratch.path + "/site")
        await harness.stop()
    }

    @Test func rootDisappearingIsNotEverythingDeleted() async throws {
        let scratch = Scratch()
        makeDirectories(Array((scratch.path + "/releases/1").utf8))
        writeFile(scratch.path + "/releases/1", "index.html", "v1")
        symlinkPath(target: "releases/1", at: scratch.path + "/current")
        let harness = try Harness(scratch: scratch, root: scratch.path + "/current")
        try await harness.start()
        removeFile(Array((scratch.path + "/current").utf8))
        #expect(try await harness.waitForEvent { $0 == .rootUnavailable(scratch.path + "/current") })
        await #expect(throws: SiteWatchError.self) { _ = try await harness.detector.detect(.full, in: harness.db) }
        // The root comes back (a new release): compared with the manifest as usual.
        makeDirectories(Array((scratch.path + "/releases/2").utf8))
        writeFile(scratch.path + "/releases/2", "index.html", "v2")
        symlinkPath(target: "releases/2", at: scratch.path + "/current")
        #expect(
            try await harness.waitForEvent { event in
                if case .rescanNeeded(.rootReplaced) = event { return true }
                return false
            })
        #expect(try await harness.settle() == changes([("index.html", .modified)]))
        await harness.stop()
    }
}
