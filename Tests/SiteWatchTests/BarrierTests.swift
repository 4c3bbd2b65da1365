import Foundation
import PurgeCore
import Testing

@testable import SiteWatch

/// `SiteMonitor.barrier`: every event the kernel queued before the barrier was asked for is
/// delivered before its answer — and a reader that has not read them does not answer.
extension EndToEndTests {
    @Test func aBarrierComesAfterEveryEventQueuedBeforeIt() async throws {
        let kernel = ScriptedInotify()
        let harness = try Harness(kernel: kernel)
        harness.write("a.html", "v1")
        try await harness.start()
        let monitor = try #require(harness.monitor)
        // The reader stops reading: the deploy's events wait in the kernel's queue.
        kernel.pause()
        try await Task.sleep(for: .milliseconds(100))
        makeDirectories(harness.root, "new/deep")
        harness.write("new/deep/page.html", "created")
        harness.write("a.html", "v2")
        #expect(monitor.barrier(1))
        // Must not: answer while the events are unread.
        #expect(try await !harness.waitForEvent(timeout: .milliseconds(400)) { $0 == .barrier(1) })
        kernel.resume()
        #expect(try await harness.waitForEvent { $0 == .barrier(1) })
        // Everything touched arrived before the answer.
        let beforeBarrier = harness.seenEvents.prefix { $0 != .barrier(1) }
        var touched: Set<RelativePath> = []
        for case .touched(let paths) in beforeBarrier { touched.formUnion(paths) }
        #expect(touched.contains("a.html"), "\(harness.seenEvents)")
        #expect(touched.contains { $0 == "new" || $0 == "new/deep/page.html" }, "\(harness.seenEvents)")
        #expect(try await harness.settle() == changes([("a.html", .modified), ("new/deep/page.html", .created)]))
        await harness.stop()
        // A stopped reader refuses: nothing would ever answer.
        #expect(!monitor.barrier(2))
    }
}

/// A reader that leaves the descriptor alone after each read (a busy moment, a burst being
/// drained in few reads) still answers a barrier at once: the barrier wakes it and drains what
/// waits in the kernel first — `flush --wait` right after a deploy never waits out the lag and
/// never misses the deploy's last events. (The end-to-end flush test once made the real binary
/// lag through an environment variable; the daemon reads none now, so it is checked here.)
extension EndToEndTests {
    @Test func aBarrierDrainsWhatALaggingReaderLeftInTheKernel() async throws {
        let harness = try Harness(kernel: ScriptedInotify(readLag: .seconds(3)))
        harness.write("a.html", "v1")
        try await harness.start()
        // One event read: the reader now leaves the descriptor alone for 3 s.
        harness.write("a.html", "v2")
        #expect(
            try await harness.waitForEvent { event in
                if case .touched(let paths) = event { return paths.contains("a.html") }
                return false
            })
        makeDirectories(harness.root, "late/deep")
        harness.write("late/deep/page.html", "created")
        harness.write("b.html", "new")
        // The lag holds: a second on, the late events still wait in the kernel.
        try await Task.sleep(for: .seconds(1))
        #expect(harness.collector.peekCount(of: "b.html") == 0, "the reader did not lag: this test would prove nothing")
        let started = ContinuousClock.now
        let (touched, changes) = try await harness.flush(1, timeout: .seconds(10))
        // Must: answered well within the lag, with the late events before the answer.
        #expect(started.duration(to: .now) < .seconds(2), "the barrier waited out the reader's lag")
        #expect(touched.contains("b.html"), "\(touched)")
        #expect(touched.contains { $0 == "late" || $0 == "late/deep/page.html" }, "\(touched)")
        #expect(changes.isSuperset(of: SiteWatchTests.changes([("late/deep/page.html", .created), ("b.html", .created)])), "\(changes)")
        await harness.stop()
    }
}

/// The set-up walk on several threads (the root's entries cut in parts, a lock around each
/// watch): the same directories are watched as by one thread, excluded ones are not, and a write
/// in any of them — first part, last part, deep — is seen.
extension EndToEndTests {
    @Test(arguments: [1, 2, 3])
    func aSetUpWalkOnSeveralThreadsWatchesEveryDirectory(threads: Int) async throws {
        var options = SiteMonitor.Options()
        options.setupThreads = threads
        let harness = try Harness(options: options)
        var directories = 0
        for top in ["a", "b", "c", "m", "z", ".git"] {
            for sub in 0..<12 {
                makeDirectories(harness.root, "\(top)/s\(sub)/deep")
                harness.write("\(top)/s\(sub)/deep/page.html", "v1")
                if top != ".git" { directories += 2 }  // s\(sub) and its deep
            }
            if top != ".git" { directories += 1 }
        }
        harness.write("top.html", "v1")
        try await harness.start()
        let monitor = try #require(harness.monitor)
        // The root, every directory not excluded (testExclusion excludes dot-names) — nothing else.
        #expect(monitor.status.watchCount == directories + 1)
        harness.write("a/s0/deep/page.html", "v2")
        harness.write("z/s11/deep/page.html", "v2")
        harness.write("m/s5/new.html", "created")
        harness.write(".git/s1/deep/page.html", "v2")
        #expect(
            try await harness.settle()
                == changes([
                    ("a/s0/deep/page.html", .modified), ("m/s5/new.html", .created), ("z/s11/deep/page.html", .modified),
                ]))
        await harness.stop()
    }
}
