import Foundation
import PurgeCore
import StateStore
import TencentCDN
import TencentEmulator
import Testing

@testable import Daemon

/// The submitter and the verifier over hours and days (SPEC §6), against the API emulator on a
/// manual clock: each stage is run when its own due time says, and the clock jumps there. What
/// took the wall clock (or a scaled binary) now takes milliseconds.
@Suite struct StagesOverTimeTests {
    /// 2026-12-07T04:00:00Z: far from a quota reset.
    static let start = Date(timeIntervalSince1970: 1_796_616_000)

    static func with(
        options: DaemonOptions = DaemonOptions(), product: SiteConfig.Product = .cdn,
        _ body: (ManualDaemon, TencentEmulator, ManualClock) async throws -> Void
    ) async throws {
        var options = options
        // The client's own retries within one request sleep for real: one attempt per request here.
        options.retryPolicy = RetryPolicy(baseDelay: .milliseconds(1), maxDelay: .milliseconds(1), maxAttempts: 1)
        let extraConfig = product == .edgeone ? "product = \"edgeone\"\nzone_id = \"zone-2noz78a8ev6k\"" : ""
        try await ManualDaemon.with(wall: start, options: options, extraConfig: extraConfig, body)
    }

    static func requests(_ emulator: TencentEmulator, _ action: String) -> Int {
        emulator.requests.filter { $0.action == action }.count
    }

    /// SPEC §6: a task still `process` 30 minutes after it was accepted becomes `unverified`,
    /// polled no more — and until then it is polled on a doubling backoff, not every tick. The
    /// same for an EdgeOne job whose target stays `processing` (SPEC §10).
    @Test(arguments: SiteConfig.Product.allCases)
    func aTaskNeverDoneBecomesUnverifiedAfterThirtyMinutesPolledOnABackoff(product: SiteConfig.Product) async throws {
        try await Self.with(product: product) { manual, emulator, clock in
            emulator.setTaskCompletionDelay(.seconds(1_000_000))
            try await manual.queue(1)
            _ = try await manual.submitPass()
            #expect(try await manual.batchCounts()[.accepted] == 1)
            let purge = product == .cdn ? "PurgeUrlsCache" : "CreatePurgeTask"
            #expect(emulator.requests.filter { $0.action == purge }.count == 1, "sent to \(product)")
            let accepted = clock.wall
            var pollTimes: [TimeInterval] = []
            while clock.wall.timeIntervalSince(accepted) < 3_600 {
                guard let due = try await manual.verifyPass() else { break }
                if try await manual.batchCounts()[.unverified] == 1 { break }
                manual.advance(to: due)
                pollTimes.append(clock.wall.timeIntervalSince(accepted))
            }
            let counts = try await manual.batchCounts()
            #expect(counts[.unverified] == 1, "\(counts)")
            let polls = Self.requests(emulator, "DescribePurgeTasks")
            // 15 s, doubling to 5 min: about ten polls in 30 minutes (a 200 ms tick made thousands).
            #expect(pollTimes.count >= 5 && pollTimes.count <= 12, "polled at \(pollTimes)")
            #expect(zip(pollTimes, pollTimes.dropFirst()).allSatisfy { $1 - $0 <= 300 }, "at most 5 min apart: \(pollTimes)")
            // Not before 30 minutes: every poll before the deadline found it still accepted.
            #expect(pollTimes.dropLast().allSatisfy { $0 < 1_800 }, "\(pollTimes)")
            #expect((pollTimes.last ?? 0) >= 1_800, "\(pollTimes)")
            // Polled no more, whatever comes due next (the hourly prune).
            if let after = try await manual.verifyPass() {
                manual.advance(to: after)
                _ = try await manual.verifyPass()
            }
            #expect(Self.requests(emulator, "DescribePurgeTasks") == polls)
        }
    }

    /// SPEC §6: history (done, failed, forgotten) older than 7 days is pruned; younger is kept.
    @Test func historyOlderThanSevenDaysIsPrunedAndYoungerKept() async throws {
        try await Self.with { manual, emulator, clock in
            emulator.setTaskCompletionDelay(.zero)
            try await manual.queue(2)
            _ = try await manual.submitPass()
            clock.advance(by: .seconds(20))
            _ = try await manual.verifyPass()
            #expect(try await manual.batchCounts()[.done] == 1)
            clock.advance(by: .seconds(6 * 86_400))
            _ = try await manual.verifyPass()
            #expect(try await manual.batchCounts()[.done] == 1, "six days old: kept")
            clock.advance(by: .seconds(2 * 86_400))
            _ = try await manual.verifyPass()
            #expect(try await manual.batchCounts()[.done] == 0, "eight days old: pruned")
            let settled = try await manual.daemon.db.read { try $0.queueCount(state: .done) }
            #expect(settled == 0, "with its settled queue rows")
        }
    }

    /// SPEC §6: a transient failure is retried with exponential backoff and jitter; nothing is
    /// sent before the backoff, and it is sent when it has passed.
    @Test func aTransientFailureIsRetriedAfterItsBackoffNotBefore() async throws {
        try await Self.with { manual, emulator, clock in
            emulator.failNext(2, with: .internalError, action: "PurgeUrlsCache")
            try await manual.queue(3)
            let first = try #require(try await manual.submitPass())
            let firstWait = clock.daemonClock.now().duration(to: first)
            #expect(firstWait >= .seconds(15) && firstWait <= .seconds(30), "30 s jittered to 50–100 %: \(firstWait)")
            clock.advance(by: .seconds(10))
            _ = try await manual.submitPass()
            #expect(Self.requests(emulator, "PurgeUrlsCache") == 1, "not before the backoff")
            manual.advance(to: first)
            let second = try #require(try await manual.submitPass())
            #expect(Self.requests(emulator, "PurgeUrlsCache") == 2)
            let secondWait = clock.daemonClock.now().duration(to: second)
            #expect(secondWait >= .seconds(30) && secondWait <= .seconds(60), "doubled: \(secondWait)")
            manual.advance(to: second)
            _ = try await manual.submitPass()
            #expect(emulator.acceptedURLs.count == 3)
        }
    }

    /// SPEC §6: an account-wide permanent failure fails its batch and pauses sending (60 s); URLs
    /// detected during the pause go out when it ends — the pause's end is a due time.
    @Test func anAccountWideFailurePausesAndWhatWaitsGoesOutWhenThePauseEnds() async throws {
        try await Self.with { manual, emulator, clock in
            emulator.failNext(
                1, with: .apiError(code: "UnauthorizedOperation.CdnCamUnauthorized", message: "no CAM policy"),
                action: "PurgeUrlsCache")
            try await manual.queue(1, prefix: "first")
            _ = try await manual.submitPass()
            #expect(try await manual.batchCounts()[.failed] == 1)
            // Two more changes during the pause.
            clock.advance(by: .seconds(5))
            try await manual.queue(2, prefix: "later")
            await manual.daemon.workQueued()
            let due = try #require(try await manual.submitPass())
            #expect(Self.requests(emulator, "PurgeUrlsCache") == 1, "nothing sent during the pause")
            let wait = clock.daemonClock.now().duration(to: due)
            #expect(wait > .seconds(50) && wait <= .seconds(56), "due at the pause's end, not a quota read later: \(wait)")
            manual.advance(to: due)
            _ = try await manual.submitPass()
            #expect(Set(emulator.acceptedURLs) == ["https://www.example.com/later0.html", "https://www.example.com/later1.html"])
        }
    }

    /// SPEC §6 "history is kept for 7 days (`done`, `failed` and forgotten rows older than that are
    /// pruned)": failed and forgotten rows too, not only done ones; younger ones are kept.
    @Test func failedAndForgottenHistoryIsPrunedAfterSevenDaysNotBefore() async throws {
        try await Self.with { manual, emulator, clock in
            let urls = ["https://www.example.com/page0.html", "https://www.example.com/page1.html"]
            emulator.rejectWithoutNaming(Set(urls))
            try await manual.queue(2)
            _ = try await manual.submitPass()  // rejected without naming which: split in halves
            _ = try await manual.submitPass()  // each half rejected alone: failed
            let db = await manual.daemon.db!
            #expect(try db.read { try $0.queueCount(state: .failed) } == 2)
            // `failures --forget` for one of them, through the control loop.
            let forget = try FlushClient(.failures(.forget, urls: [urls[1]]))
            try await manual.input(.control(forget.connection))
            #expect(forget.answer == .failuresApplied(applied: 1, unmatched: []))
            #expect(try db.read { try $0.queueCount(state: .forgotten) } == 1)

            clock.advance(by: .seconds(6 * 86_400 + 82_800))  // 6 days 23 hours
            _ = try await manual.verifyPass()
            #expect(try db.read { try $0.queueCount(state: .failed) } == 1, "younger than 7 days: kept")
            #expect(try db.read { try $0.queueCount(state: .forgotten) } == 1, "younger than 7 days: kept")
            #expect(try await manual.batchCounts()[.failed] == 2)

            clock.advance(by: .seconds(2 * 3_600))
            _ = try await manual.verifyPass()
            #expect(try db.read { try $0.queueCount(state: .failed) } == 0, "failed: pruned after 7 days")
            #expect(try db.read { try $0.queueCount(state: .forgotten) } == 0, "forgotten: pruned after 7 days")
            #expect(try await manual.batchCounts()[.failed] == 0, "with their batches")
        }
    }

    /// The auth pause (SPEC §6, §10 "the pause of §6"; docs/ARCHITECTURE.md: 60 s doubling to
    /// 15 min): each account-wide failure in a row doubles it, an accepted batch starts it again
    /// at 60 s, and nothing is sent while it lasts.
    @Test func theAuthPauseDoublesWhileTheAccountKeepsFailingAndStartsAgainAfterAnAcceptedBatch() async throws {
        try await Self.with { manual, emulator, clock in
            let camDenied = Fault.apiError(code: "UnauthorizedOperation.CdnCamUnauthorized", message: "no CAM policy")
            func failOnce(_ prefix: String) async throws -> Duration {
                emulator.failNext(1, with: camDenied, action: "PurgeUrlsCache")
                try await manual.queue(1, prefix: prefix)
                _ = try await manual.submitPass()
                let until = try #require(await manual.daemon.pausedUntil)
                return clock.daemonClock.now().duration(to: until)
            }
            #expect(try await failOnce("first") == .seconds(60))
            let sent = Self.requests(emulator, "PurgeUrlsCache")
            clock.advance(by: .seconds(59))
            try await manual.queue(1, prefix: "during")
            _ = try await manual.submitPass()
            #expect(Self.requests(emulator, "PurgeUrlsCache") == sent, "must not: a request during the pause")
            clock.advance(by: .seconds(1))
            // The work queued during the pause is the next to fail: the pause doubles.
            emulator.failNext(1, with: camDenied, action: "PurgeUrlsCache")
            _ = try await manual.submitPass()
            let second = try #require(await manual.daemon.pausedUntil)
            #expect(clock.daemonClock.now().duration(to: second) == .seconds(120), "doubled")
            manual.advance(to: second)
            #expect(try await failOnce("again") == .seconds(240), "doubled again")
            manual.advance(to: try #require(await manual.daemon.pausedUntil))

            // Accepted: the account works again; the next failure pauses 60 s, not 480 s.
            try await manual.queue(1, prefix: "fine")
            _ = try await manual.submitPass()
            #expect(emulator.acceptedURLs == ["https://www.example.com/fine0.html"])
            #expect(try await failOnce("later") == .seconds(60), "started again after an accepted batch")
        }
    }
}
