import Foundation
import Testing

@testable import SiteWatch
import PurgeCore

/// `SiteMonitor.barrier`: every event the kernel queued before the barrier was asked for is
/// delivered before its answer — and a reader that has not read them does not answer.
extension EndToEndTests {
    @Test func aBarrierComesAfterEveryEventQueuedBeforeIt() async throws {
        let harness = try Harness()
        harness.write("a.html", "v1")
        try await harness.start()
        let monitor = try #require(harness.monitor)
        // The reader stops reading: the deploy's events wait in the kernel's queue.
        monitor.setReaderPaused(true)
        try await Task.sleep(for: .milliseconds(100))
        makeDirectories(harness.root, "new/deep")
        harness.write("new/deep/page.html", "created")
        harness.write("a.html", "v2")
        #expect(monitor.barrier(1))
        // Must not: answer while the events are unread.
        #expect(try await !harness.waitForEvent(timeout: .milliseconds(400)) { $0 == .barrier(1) })
        monitor.setReaderPaused(false)
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
