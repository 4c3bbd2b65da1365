import Foundation
import PurgeCore
import StateStore
import TencentCDN
import TencentEmulator
import Testing

@testable import Daemon

/// SPEC §3 `[coalesce]`: "submit once no change has been seen for [quiet]" and "never hold a
/// change longer than [max_delay], however busy the tree is" — through the real control loop,
/// detector and submitter, on a manual clock. Changes reach the control loop as the watcher
/// forwards them; the clock moves, nothing sleeps.
@Suite struct CoalescingWindowTests {
    /// 2026-12-07T04:00:00Z: far from a quota reset.
    static let start = Date(timeIntervalSince1970: 1_796_616_000)
    static let page = "https://www.example.com/a.html"

    static func with(_ body: (ManualDaemon, TencentEmulator, ManualClock) async throws -> Void) async throws {
        var options = DaemonOptions()
        options.retryPolicy = RetryPolicy(baseDelay: .milliseconds(1), maxDelay: .milliseconds(1), maxAttempts: 1)
        try await ManualDaemon.with(
            wall: start, options: options, extraConfig: "\n[coalesce]\nquiet = \"2s\"\nmax_delay = \"30s\""
        ) { manual, emulator, clock in
            // The site exists before the daemon: its first walk is the baseline (nothing purged).
            let root = await manual.daemon.config.site.root
            try "v0\n".write(toFile: root + "/a.html", atomically: false, encoding: .utf8)
            try await manual.daemon.reconcile()
            try await body(manual, emulator, clock)
        }
    }

    /// Queue rows ever written (sent or not).
    static func queued(_ manual: ManualDaemon) async throws -> Int {
        Int(try await manual.daemon.db.read { try $0.highestQueueID() })
    }

    static func purgeRequests(_ emulator: TencentEmulator) -> Int {
        emulator.requests.filter { $0.action == "PurgeUrlsCache" }.count
    }

    @Test func aChangeIsSentOnlyOnceQuietHasPassedWithoutAnotherChange() async throws {
        try await Self.with { manual, emulator, clock in
            let t0 = clock.daemonClock.now()
            try await manual.change("a.html", "v1\n")
            #expect(await manual.timerDeadline == t0.advanced(by: .seconds(2)), "the loop sleeps until quiet has passed")

            // Woken before quiet has passed (any other input): nothing compared, queued or sent.
            clock.advance(by: .milliseconds(1_900))
            try await manual.input(.tick)
            try await manual.submitPass()
            #expect(try await Self.queued(manual) == 0, "must not: compared before quiet")
            #expect(emulator.requests.isEmpty, "must not: a request before quiet")

            // Another change within quiet: the window stays open until quiet after *it*.
            try await manual.change("a.html", "v2\n")
            let quietEnd = t0.advanced(by: .milliseconds(3_900))
            #expect(await manual.timerDeadline == quietEnd)
            manual.advance(to: quietEnd.advanced(by: .milliseconds(-1)))
            try await manual.input(.tick)
            try await manual.submitPass()
            #expect(try await Self.queued(manual) == 0, "must not: 2 s after the first change but not after the last")
            #expect(Self.purgeRequests(emulator) == 0)

            // Quiet has passed: compared once, queued once, sent once.
            manual.advance(to: quietEnd)
            try await manual.input(.tick)
            #expect(try await Self.queued(manual) == 1)
            try await manual.submitPass()
            #expect(emulator.acceptedURLs == [Self.page])

            // Nothing more changes: never sent again, and the loop arms no window any more.
            for _ in 0..<3 {
                clock.advance(by: .seconds(20))
                try await manual.input(.tick)
                try await manual.submitPass()
            }
            #expect(emulator.acceptedURLs == [Self.page], "must not: sent twice")
            #expect(Self.purgeRequests(emulator) == 1)
            #expect(await manual.daemon.coalescer.deadline == nil)
        }
    }

    @Test func aTreeThatNeverGoesQuietIsStillSentAtMaxDelay() async throws {
        try await Self.with { manual, emulator, clock in
            let t0 = clock.daemonClock.now()
            var firstQueuedAt: Int?
            // A change every second (quiet is 2 s): the tree never goes quiet for 35 s.
            for second in 0..<35 {
                manual.advance(to: t0.advanced(by: .seconds(second)))
                try await manual.change("a.html", "v\(second + 1)\n")
                if let deadline = await manual.timerDeadline {
                    #expect(deadline <= t0.advanced(by: .seconds(30)) || firstQueuedAt != nil, "never asleep past max_delay")
                }
                try await manual.submitPass()
                if firstQueuedAt == nil, try await Self.queued(manual) > 0 { firstQueuedAt = second }
                if second < 30 {
                    #expect(emulator.requests.isEmpty, "must not: sent before max_delay (at \(second) s)")
                }
            }
            #expect(firstQueuedAt == 30, "the window closed at max_delay, with the tree still changing")
            #expect(emulator.acceptedURLs == [Self.page], "one purge for thirty changes")

            // The changes stop: the window the later changes opened closes after quiet, once.
            let last = t0.advanced(by: .seconds(34))
            manual.advance(to: last.advanced(by: .seconds(2)))
            try await manual.input(.tick)
            try await manual.submitPass()
            clock.advance(by: .seconds(60))
            try await manual.input(.tick)
            try await manual.submitPass()
            #expect(emulator.acceptedURLs == [Self.page, Self.page], "35 changes, two windows, two purges")
        }
    }
}
