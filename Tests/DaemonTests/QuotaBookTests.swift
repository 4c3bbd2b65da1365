import Daemon
import Foundation
import StateStore
import Testing

/// ``QuotaBook``, from SPEC §6's sentences: a reading taken a moment too early never parks work
/// for a day; only what cannot be sent waits; nothing is asked at rest. Time is an input.
@Suite struct QuotaBookTests {
    /// 2026-12-07T16:00:00Z: 00:00 UTC+8, a quota reset.
    static let reset = Date(timeIntervalSince1970: 1_796_659_200)

    static func at(_ seconds: Double) -> Date { reset.addingTimeInterval(seconds) }

    static func row(available: Int, total: Int = 10_000, kind: QuotaKind = .url, area: String = "mainland", at: Date)
        -> QuotaRow
    {
        QuotaRow(
            area: area, kind: kind, batch: kind == .url ? 1_000 : 20, total: total, available: available,
            fetchedMilliseconds: Int64((at.timeIntervalSince1970 * 1_000).rounded()))
    }

    @Test func theResetFallsAtMidnightBeijingTime() {
        #expect(QuotaBook.lastReset(before: Self.at(0.017)) == Self.reset)
        #expect(QuotaBook.lastReset(before: Self.at(-0.5)) == Self.reset.addingTimeInterval(-86_400))
    }

    @Test func aReadingFromBeforeTheResetCountsAsFullAndOneFromAfterAsRead() {
        let yesterday = Self.row(available: 0, at: Self.at(-60))
        let today = Self.row(available: 0, at: Self.at(0.017))
        #expect(QuotaBook.effective([yesterday], now: Self.at(1)).map(\.available) == [10_000])
        #expect(QuotaBook.effective([yesterday], now: Self.at(-1)).map(\.available) == [0], "not before the reset")
        #expect(QuotaBook.effective([today], now: Self.at(1)).map(\.available) == [0], "a reading of today is kept")
        let view = QuotaBook.view([today, Self.row(available: 7, kind: .path, at: Self.at(0.017))], area: "mainland", now: Self.at(1))
        #expect(view.urlAvailable == 0 && view.pathAvailable == 7 && view.urlBatch == 1_000)
        #expect(QuotaBook.view([], area: nil, now: Self.at(1)) == .documentedDefault)
        // area "" (nil here): the tightest area wins; a named area reads its own row only.
        let areas = [Self.row(available: 5, area: "mainland", at: Self.at(1)), Self.row(available: 9, area: "overseas", at: Self.at(1))]
        #expect(QuotaBook.view(areas, area: nil, now: Self.at(2)).urlAvailable == 5)
        #expect(QuotaBook.view(areas, area: "overseas", now: Self.at(2)).urlAvailable == 9)
    }

    @Test func nothingIsReadAtRest() {
        let book = QuotaBook()
        #expect(book.nextRead(now: Self.at(5), oldestReading: nil, work: .none) == nil)
        #expect(book.nextRead(now: Self.at(5), oldestReading: Self.at(-86_400 * 3), work: .none) == nil)
    }

    @Test func workWithoutAReadingOfTodayReadsAtOnce() {
        let book = QuotaBook()
        #expect(book.nextRead(now: Self.at(5), oldestReading: nil, work: .planning) == Self.at(5))
        #expect(book.nextRead(now: Self.at(5), oldestReading: Self.at(-10), work: .waiting) == Self.at(5))
        // A reading of today while planning: asked again only once it is 10 min old.
        #expect(book.nextRead(now: Self.at(5), oldestReading: Self.at(1), work: .planning) == Self.at(601))
    }

    /// The observed bug: at 16:00:00.017 the CDN's day has not rolled over, the reading says 0,
    /// and the work was parked until the next reset. Now it is read again 30 s later.
    @Test func aReadingTakenAMomentTooEarlyIsReadAgainWithinTheBackoff() {
        var book = QuotaBook()
        let tooEarly = Self.at(0.017)
        #expect(book.nextRead(now: tooEarly, oldestReading: Self.at(-3_600), work: .waiting) == tooEarly)
        book.read(at: tooEarly, .noRoom)
        let next = book.nextRead(now: tooEarly, oldestReading: tooEarly, work: .waiting)
        #expect(next == tooEarly.addingTimeInterval(30))
        #expect(next! < Self.reset.addingTimeInterval(86_400), "never parked until the next reset")
    }

    @Test func readingsWithoutRoomBackOffDoublingToTenMinutesAndAChangeStartsAgain() {
        var book = QuotaBook()
        var now = Self.at(100)
        var gaps: [TimeInterval] = []
        for _ in 0..<8 {
            book.read(at: now, .noRoom)
            let next = book.nextRead(now: now, oldestReading: now, work: .waiting)!
            gaps.append(next.timeIntervalSince(now))
            now = next
        }
        #expect(gaps == [30, 60, 120, 240, 480, 600, 600, 600])
        book.changed()
        #expect(book.nextRead(now: now, oldestReading: now, work: .waiting) == now.addingTimeInterval(30))
        // A failed request backs off the same way (never a tight loop against a broken API).
        var failing = QuotaBook()
        failing.read(at: Self.at(10), .failed)
        failing.read(at: Self.at(40), .failed)
        #expect(failing.nextRead(now: Self.at(40), oldestReading: Self.at(-100), work: .planning) == Self.at(100))
    }

    @Test func theBackoffStartsAgainAfterAReset() {
        var book = QuotaBook()
        var now = Self.at(-3_000)
        for _ in 0..<6 {
            book.read(at: now, .noRoom)
            now = book.nextRead(now: now, oldestReading: now, work: .waiting)!
        }
        // Past the reset the reading is yesterday's: read at once, then 30 s again.
        let after = Self.at(0.017)
        #expect(book.nextRead(now: after, oldestReading: Self.at(-1_000), work: .waiting) == after)
        book.read(at: after, .noRoom)
        #expect(book.nextRead(now: after, oldestReading: after, work: .waiting) == after.addingTimeInterval(30))
    }

    @Test func whatStillWaitsAfterAReadingWithRoomIsReadAgainOnTheBackoffNotInALoop() {
        var book = QuotaBook()
        book.read(at: Self.at(50), .room)
        #expect(book.nextRead(now: Self.at(50), oldestReading: Self.at(50), work: .waiting) == Self.at(80))
    }

    /// Two sites on one account: the other used the quota, the API refused by day limit. Read
    /// again at once (what still fits is sent), not after the 10-minute cache.
    @Test func aRefusalByDayLimitReadsAgainAtOnceAndRepeatedRefusalsBackOff() {
        var book = QuotaBook()
        book.read(at: Self.at(100), .room)
        book.refused(at: Self.at(101))
        #expect(book.nextRead(now: Self.at(101), oldestReading: Self.at(100), work: .waiting) == Self.at(101))
        // A second refusal of the same batch round, with no reading in between: the same news.
        book.refused(at: Self.at(101.5))
        #expect(book.nextRead(now: Self.at(101.5), oldestReading: Self.at(100), work: .waiting) == Self.at(101))
        // Read (room: the reading overstates), refused again at once: now it backs off.
        book.read(at: Self.at(102), .room)
        book.refused(at: Self.at(103))
        #expect(book.nextRead(now: Self.at(103), oldestReading: Self.at(102), work: .waiting) == Self.at(133))
        book.read(at: Self.at(133), .room)
        book.refused(at: Self.at(134))
        #expect(book.nextRead(now: Self.at(134), oldestReading: Self.at(133), work: .waiting) == Self.at(194))
        // A refusal long after the last one reads at once again.
        book.read(at: Self.at(194), .noRoom)
        book.refused(at: Self.at(5_000))
        #expect(book.nextRead(now: Self.at(5_000), oldestReading: Self.at(194), work: .waiting) == Self.at(5_000))
    }
}
