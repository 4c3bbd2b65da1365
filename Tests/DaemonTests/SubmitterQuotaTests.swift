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

    /// SPEC §6: "At the quota reset (00:00 UTC+8) everything that waited is planned again,
    /// duplicates collapsed" — and not before: parked work is sent at the reset itself, once.
    @Test func everythingParkedIsPlannedAgainAtTheResetOnceWithDuplicatesCollapsed() async throws {
        try await ManualDaemon.with(wall: Self.reset.addingTimeInterval(-600)) { manual, emulator, clock in
            // 23:50 UTC+8: the day's URL and directory quota are used up; 30 URLs are parked.
            emulator.setQuota(area: "mainland", urls: 0, paths: 0)
            try await manual.queue(30)
            try await manual.submitPass()
            #expect(try await manual.daemon.db.read { try $0.waitingQuotaURLCount() } == 30)
            // Ten of them change again while parked: queued a second time.
            clock.advance(by: .seconds(60))
            try await manual.queue(10)
            try await manual.submitPass()
            #expect(try await manual.daemon.db.read { try $0.waitingQuotaURLCount() } == 40)

            // Through the night, the submitter wakes only when it is due (quota re-reads), and
            // sends nothing; its last wake-up before the day turns is the reset itself.
            var wakes = 0
            while clock.wall < Self.reset {
                // A due time that stops moving would spin here and starve every other test of a
                // pool thread (seen once, with 250,000 failures): fail and stop instead.
                guard wakes < 100 else {
                    Issue.record("the submitter's due time stopped moving before the reset, at \(clock.wall)")
                    break
                }
                let due = try #require(try await manual.submitPass(), "parked work always has a due time")
                #expect(emulator.requests.allSatisfy { $0.action == "DescribePurgeQuota" }, "must not: sent before the reset")
                manual.advance(to: due)
                wakes += 1
            }
            #expect(abs(clock.wall.timeIntervalSince(Self.reset)) < 0.01, "due at the reset, not later: \(clock.wall)")
            #expect(wakes < 12, "woken on a backoff, not polled: \(wakes)")

            // 00:00 UTC+8: the CDN's day has turned too.
            emulator.setQuota(area: "mainland", urls: 10_000, paths: 100)
            try await manual.submitPass()
            let expected = Set((0..<30).map { "https://www.example.com/page\($0).html" })
            #expect(Set(emulator.acceptedURLs) == expected)
            #expect(emulator.acceptedURLs.count == 30, "must not: a URL parked twice is purged twice")
            let db = await manual.daemon.db!
            #expect(try db.read { try $0.waitingQuotaURLCount() } == 0)
            #expect(try db.read { try $0.queueCount(state: .superseded) } == 10, "the duplicates collapsed")

            // Sent once: later passes send nothing more.
            clock.advance(by: .seconds(60))
            try await manual.submitPass()
            #expect(emulator.acceptedURLs.count == 30)
        }
    }
}
