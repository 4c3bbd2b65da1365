import Foundation
import StateStore
import TencentEmulator
import Testing

@testable import Daemon

/// The submitter against the API emulator on a manual clock (SPEC §6): a quota reading taken a
/// moment too early never parks work for a day, and a day limit hit by someone else parks only
/// what cannot be sent. Days pass in microseconds: the clock is moved, nothing sleeps.
@Suite struct SubmitterQuotaTests {
    /// 2026-12-07T16:00:00Z, 00:00 UTC+8.
    static let reset = Date(timeIntervalSince1970: 1_796_659_200)

    /// Runs the submitter as the control loop would when woken: one pass, then its next due time.
    static func pass(_ manual: ManualDaemon) async throws -> ContinuousClock.Instant? {
        try await manual.daemon.submit()
        await manual.daemon.submitterScheduled()
        return await manual.daemon.submitterDue
    }

    @Test func aReadingOfZeroAtTheResetIsReadAgainWithinTheBackoffAndTheWorkSent() async throws {
        try await ManualDaemon.with(wall: Self.reset.addingTimeInterval(-120)) { manual, emulator, clock in

        // Before the reset: the day's quota is used up; 51 URLs wait.
        emulator.setQuota(area: "mainland", urls: 0)
        try await manual.queue(51)
        _ = try await Self.pass(manual)
        #expect(emulator.acceptedURLs.isEmpty)

        // 16:00:00.017: the daemon's day turned; the CDN's has not yet (it reads 0 still).
        clock.advance(by: .seconds(120) + .milliseconds(17))
        let due = try await Self.pass(manual)
        #expect(emulator.acceptedURLs.isEmpty, "nothing fits yet")
        let quotaReads = emulator.requests.filter { $0.action == "DescribePurgeQuota" }.count
        #expect(quotaReads >= 2, "the reset itself asked DescribePurgeQuota again")
        // Not parked for a day: the submitter is due again within the 30 s backoff.
        let now = clock.daemonClock.now()
        let wait = now.duration(to: try #require(due))
        #expect(wait <= .seconds(30) && wait > .zero, "due again in \(wait)")

        // A minute later the CDN's day turns: 100 available.
        clock.advance(by: .seconds(30))
        emulator.setQuota(area: "mainland", urls: 100)
        _ = try await Self.pass(manual)
        #expect(emulator.acceptedURLs.count == 51, "sent within the backoff, not at the next reset")
        // What must not happen: a read per pass while nothing changes (no tight loop).
        let before = emulator.requests.filter { $0.action == "DescribePurgeQuota" }.count
        _ = try await Self.pass(manual)
        _ = try await Self.pass(manual)
        #expect(emulator.requests.filter { $0.action == "DescribePurgeQuota" }.count == before)
        }
    }

    @Test func aDayLimitHitBySomeoneElseSendsWhatStillFits() async throws {
        try await ManualDaemon.with(wall: Self.reset.addingTimeInterval(3_600)) { manual, emulator, clock in
            emulator.setQuota(area: "mainland", urls: 100)
            // Our reading says 100 (read for a first URL, sent) …
            try await manual.queue(1, prefix: "first")
            _ = try await Self.pass(manual)
            #expect(emulator.acceptedURLs.count == 1)
            #expect(await manual.daemon.currentQuotaView().urlAvailable == 99)
            // … then another site on the account sends 79: 20 are left, and 80 changes come.
            emulator.setQuota(area: "mainland", urls: 20)
            try await manual.queue(80)
            clock.advance(by: .seconds(5))
            _ = try await Self.pass(manual)
            let refusals = emulator.requests.filter { $0.action == "PurgeUrlsCache" && $0.outcome.contains("DayLimit") }
            #expect(refusals.count == 1, "the cached reading said 99: sent, refused by day limit")
            // The refusal asked for a reading at once: the next pass sends the 20 that fit.
            let due = try await Self.pass(manual)
            #expect(emulator.acceptedURLs.count == 21, "what fits is sent the same day")
            let db = await manual.daemon.db!
            #expect(try db.read { try $0.queueCount(state: .failed) } == 0, "nothing failed: the rest waits")
            #expect(try db.read { try $0.waitingQuotaURLCount() } == 60)
            // The 60 are looked at again on the quota backoff, not at the next reset only.
            let wait = clock.daemonClock.now().duration(to: try #require(due))
            #expect(wait <= .seconds(30), "due again in \(wait)")
        }
    }
}
