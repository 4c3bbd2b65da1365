import Foundation
import Glibc
import PurgeCore
import Testing

@testable import SiteWatch

/// ``ModifyThrottle`` on its own: time is an input, nothing sleeps.
@Suite struct ModifyThrottleTests {
    static let ms: UInt64 = 1_000_000

    @Test func aBurstIsDeliveredOnceWhenItsHoldEnds() {
        var throttle = ModifyThrottle(interval: 100 * Self.ms)
        for t in 0..<50 { throttle.modified("a.html", now: UInt64(t) * Self.ms) }
        #expect(throttle.nextDeadline() == 100 * Self.ms)
        // Must not: deliver before the hold ends.
        #expect(throttle.due(now: 99 * Self.ms).isEmpty)
        #expect(throttle.due(now: 100 * Self.ms) == ["a.html"])
        // Must not: deliver it again, or keep a deadline (the reader would wake at rest).
        #expect(throttle.due(now: 10_000 * Self.ms).isEmpty)
        #expect(throttle.nextDeadline() == nil)
        #expect(throttle.isEmpty)
    }

    @Test func aWriteAfterADeliveryIsDeliveredAgainLater() {
        var throttle = ModifyThrottle(interval: 100 * Self.ms)
        throttle.modified("a.html", now: 0)
        #expect(throttle.due(now: 100 * Self.ms) == ["a.html"])
        throttle.modified("a.html", now: 101 * Self.ms)  // the trailing edge: a write after the delivery
        #expect(throttle.nextDeadline() == 201 * Self.ms)
        #expect(throttle.due(now: 201 * Self.ms) == ["a.html"])
    }

    @Test func aSustainedWriterIsDeliveredOncePerIntervalAndAfterItsLastWrite() {
        var throttle = ModifyThrottle(interval: 100 * Self.ms)
        var deliveries: [UInt64] = []
        var now: UInt64 = 0
        for _ in 0..<1_000 {  // a write every 1 ms for a second
            throttle.modified("big.bin", now: now)
            now += Self.ms
            if !throttle.due(now: now).isEmpty { deliveries.append(now) }
        }
        let lastWrite = now - Self.ms
        while let deadline = throttle.nextDeadline() {
            now = deadline
            if !throttle.due(now: now).isEmpty { deliveries.append(now) }
        }
        #expect(deliveries.count >= 10 && deliveries.count <= 11, "\(deliveries)")
        #expect((deliveries.last ?? 0) >= lastWrite)
    }

    @Test func anotherEventDeliveringThePathEndsItsHold() {
        var throttle = ModifyThrottle(interval: 100 * Self.ms)
        throttle.modified("a.html", now: 0)
        throttle.modified("b.html", now: 1)
        throttle.delivered(["a.html", "other.html"])  // IN_CLOSE_WRITE of a.html
        #expect(throttle.count == 1)
        #expect(throttle.due(now: 200 * Self.ms) == ["b.html"])
        #expect(throttle.nextDeadline() == nil)
    }

    @Test func aBarrierTakesEveryHold() {
        var throttle = ModifyThrottle(interval: 100 * Self.ms)
        throttle.modified("a.html", now: 0)
        throttle.modified("b.html", now: 50 * Self.ms)
        #expect(Set(throttle.takeAll()) == ["a.html", "b.html"])
        #expect(throttle.nextDeadline() == nil)
        #expect(throttle.due(now: 1_000 * Self.ms).isEmpty)
    }

    @Test func manyPathsKeepTheirOrderAcrossCompaction() {
        var throttle = ModifyThrottle(interval: 10)
        var delivered = 0
        for index in 0..<5_000 {
            throttle.modified(RelativePath("f\(index)"), now: UInt64(index))
            if index % 3 == 0 { throttle.delivered([RelativePath("f\(index)")]) }
            delivered += throttle.due(now: UInt64(index)).count
        }
        delivered += throttle.due(now: .max).count
        #expect(delivered == 5_000 - 1_667)
        #expect(throttle.isEmpty && throttle.nextDeadline() == nil)
    }
}

/// Writes that fire only `IN_MODIFY` (issue 22): truncate(2), a pwrite through a descriptor kept
/// open, a writer that never closes. Real inotify.
extension EndToEndTests {
    static func touchedCount(of path: RelativePath, in events: ArraySlice<SiteEvent>) -> Int {
        events.reduce(0) { count, event in
            if case .touched(let paths) = event, paths.contains(path) { return count + 1 }
            return count
        }
    }

    @Test func truncateIsSeen() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        #expect(truncate(harness.root + "/about.html", 2) == 0)
        let flushed = try await harness.flush(1)
        #expect(flushed.touched == ["about.html"], "\(harness.seenEvents)")
        #expect(flushed.changes == changes([("about.html", .modified)]))
        #expect(!harness.lastScopeWasFull)
        // `truncate -s` (a new size: the file grows) likewise.
        #expect(shell("truncate -s 4096 '\(harness.root)/blog/a.html'") == 0)
        #expect(try await harness.flush(2).changes == changes([("blog/a.html", .modified)]))
        await harness.stop()
    }

    @Test func aPwriteWithoutCloseIsSeenBeforeTheBarrierAnswers() async throws {
        var options = SiteMonitor.Options()
        // Longer than the whole test: only the barrier can deliver the held write.
        options.modifyInterval = .seconds(30)
        let harness = try Harness(options: options)
        Self.makeSite(harness)
        try await harness.start()
        let fd = open(harness.root + "/index.html", O_WRONLY | O_CLOEXEC)
        #expect(fd >= 0)
        defer { close(fd) }
        let patch = Array("HOME".utf8)
        #expect(patch.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 4) } == 4)
        let flushed = try await harness.flush(1)
        #expect(fcntl(fd, F_GETFD) >= 0, "the writer's descriptor is still open")
        #expect(flushed.touched == ["index.html"], "\(harness.seenEvents)")
        #expect(flushed.changes == changes([("index.html", .modified)]))
        // Must not: a write to an excluded name, or a read, touches anything.
        harness.write("index.html.swp", "swap")
        let reader = open(harness.root + "/about.html", O_RDONLY | O_CLOEXEC)
        var byte: UInt8 = 0
        #expect(read(reader, &byte, 1) == 1)
        close(reader)
        let quiet = try await harness.flush(2)
        #expect(quiet.touched.isEmpty, "\(harness.seenEvents)")
        #expect(quiet.changes.isEmpty)
        await harness.stop()
    }

    @Test func aThousandWritesToOneFileAreAFewTouches() async throws {
        var options = SiteMonitor.Options()
        options.modifyInterval = .milliseconds(100)
        let harness = try Harness(options: options)
        Self.makeSite(harness)
        try await harness.start()
        let path: RelativePath = "log.txt"
        let fd = open(harness.root + "/log.txt", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        // The create is one touch; every write after it is IN_MODIFY only (the file stays open).
        #expect(
            try await harness.waitForEvent { event in
                if case .touched(let paths) = event { return paths.contains(path) }
                return false
            })
        let clock = ContinuousClock()
        let started = clock.now
        let first = harness.seenEvents.count
        let line = Array("a line of the log\n".utf8)
        for _ in 0..<999 {
            _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            usleep(500)  // slow enough that the reader reads most writes one by one
        }
        let elapsed = clock.now - started
        // What arrived by the last write; a touch must come after it (the trailing edge).
        harness.collect()
        let endOfBurst = harness.seenEvents.count
        #expect(
            try await harness.waitForEvent(timeout: .seconds(5)) { _ in
                Self.touchedCount(of: path, in: harness.seenEvents[endOfBurst...]) > 0
            }, "no touch after the burst's last write")
        // A write right after that touch (the 1,000th) is followed by another one.
        let beforeLast = harness.seenEvents.count
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        #expect(
            try await harness.waitForEvent(timeout: .seconds(5)) { _ in
                Self.touchedCount(of: path, in: harness.seenEvents[beforeLast...]) > 0
            }, "no touch after the last write")
        let total = Self.touchedCount(of: path, in: harness.seenEvents[first...])
        let bound = Int(elapsed / .milliseconds(100)) + 3
        #expect(total >= 2 && total <= bound, "\(total) touches for 1,000 writes in \(elapsed) (bound \(bound))")
        // Must not: touch it again at rest, touch anything else, or ask for a full walk.
        try await Task.sleep(for: .milliseconds(400))
        harness.collect()
        #expect(Self.touchedCount(of: path, in: harness.seenEvents[beforeLast...]) == 1)
        for event in harness.seenEvents[first...] {
            switch event {
            case .touched(let paths): #expect(paths == [path], "\(event)")
            default: Issue.record("unexpected \(event)")
            }
        }
        #expect(try await harness.flush(1).changes == changes([("log.txt", .created)]))
        await harness.stop()
    }
}
