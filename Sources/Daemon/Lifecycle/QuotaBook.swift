import Foundation
import PurgeCore
import StateStore
import TencentCDN

/// The day's purge quota as the daemon reads it (SPEC §6), and when to ask DescribePurgeQuota
/// again: a pure value, fed the time and what happened, table-tested without sleeping.
///
/// **One reset rule.** A reading taken before the last 00:00 UTC+8 counts as full (its
/// `available` is back to `total`): ``effective(_:now:)`` is the only place that says so, and the
/// planner, STATUS=, `status`, `status --check` and the metrics all read the quota through it.
///
/// **When to read** (``nextRead(now:oldestReading:work:)``), so that a reading taken a moment too
/// early never parks work for a day, and nothing is asked at rest:
/// - nothing pending and nothing waiting: never (no request, no wake-up);
/// - no reading of today (none yet, or only one from before the last reset): at once;
/// - right after a refusal by day limit (`LimitExceeded.CdnPurgeUrlExceedDayLimit`: someone else
///   used the quota): at once, so what still fits is sent; refusals in quick succession back off;
/// - while URLs wait for the quota: again after 30 s, doubling with each reading that shows no
///   room, up to 10 min; any change (new URLs queued, a reset, a reading with room) starts again
///   at 30 s;
/// - otherwise (work to plan, the quota not exhausted): once the reading is 10 min old.
///
/// A failed read counts as a reading without room: it is tried again on the same backoff.
public struct QuotaBook: Sendable, Equatable {
    public struct Policy: Sendable, Equatable {
        /// How old a reading may be while work is planned with it.
        public var refresh: Duration
        /// While URLs wait for the quota: the first re-read, doubling up to `waitMax`.
        public var waitFirst: Duration
        public var waitMax: Duration

        public init(refresh: Duration = .seconds(600), waitFirst: Duration = .seconds(30), waitMax: Duration = .seconds(600)) {
            self.refresh = refresh
            self.waitFirst = waitFirst
            self.waitMax = waitMax
        }
    }

    /// What the queue needs from the quota.
    public enum Work: Sendable, Equatable {
        /// Nothing pending, nothing waiting: no reading is needed.
        case none
        /// URLs to plan, or batches to send.
        case planning
        /// URLs wait for the quota (`waiting-quota` batches).
        case waiting
    }

    /// What one DescribePurgeQuota request gave.
    public enum Reading: Sendable, Equatable {
        /// Quota left for what waits (or no work waited).
        case room
        /// No URL quota left (nor path quota, with directory fallback).
        case noRoom
        /// The request failed: planned with the last known quota, tried again on the backoff.
        case failed
    }

    public let policy: Policy
    /// The last request, whatever it answered.
    public private(set) var lastAttempt: Date?
    /// Readings in a row (since the last reset or change) that showed no room or failed.
    public private(set) var emptyReadings = 0
    /// A read asked for by an event (a refusal), before the schedule would.
    public private(set) var readAt: Date?
    /// The last refusal by day limit, and how many came in quick succession.
    private var lastRefusal: Date?
    private var refusalLevel = 0

    public init(policy: Policy = Policy()) {
        self.policy = policy
    }

    // MARK: - The reset rule

    /// The last 00:00 UTC+8 at or before `now`.
    public static func lastReset(before now: Date) -> Date {
        QuotaClock.nextReset(after: now).addingTimeInterval(-86_400)
    }

    /// The readings as they stand at `now`: one taken before the last reset counts as full.
    public static func effective(_ rows: [QuotaRow], now: Date) -> [QuotaRow] {
        let lastReset = Int64((lastReset(before: now).timeIntervalSince1970 * 1_000).rounded())
        return rows.map { row in
            var row = row
            if row.fetchedMilliseconds < lastReset { row.available = row.total }
            return row
        }
    }

    /// What the planner may use at `now` for `area` (nil: every area, the tightest limits win),
    /// with the documented defaults for a kind never read.
    public static func view(_ rows: [QuotaRow], area: String?, now: Date) -> QuotaView {
        let rows = effective(rows, now: now).filter { area == nil || $0.area == area }
        func limits(_ kind: QuotaKind) -> [QuotaRow] { rows.filter { $0.kind == kind } }
        let urls = limits(.url)
        let paths = limits(.path)
        let fallback = QuotaView.documentedDefault
        return QuotaView(
            urlBatch: urls.map(\.batch).min() ?? fallback.urlBatch,
            urlAvailable: urls.map(\.available).min() ?? fallback.urlAvailable,
            pathBatch: paths.map(\.batch).min() ?? fallback.pathBatch,
            pathAvailable: paths.map(\.available).min() ?? fallback.pathAvailable)
    }

    // MARK: - When to read

    /// The backoff after `emptyReadings` readings without room (the first re-read after one).
    func waitBackoff(after empty: Int) -> Duration {
        var delay = policy.waitFirst
        for _ in 1..<max(1, empty) where delay < policy.waitMax { delay = delay * 2 }
        return min(delay, policy.waitMax)
    }

    /// When DescribePurgeQuota should be asked next; nil when no reading is needed.
    /// - Parameters:
    ///   - oldestReading: when the oldest cached reading was taken (nil: none cached).
    ///   - work: what the queue needs from the quota.
    public func nextRead(now: Date, oldestReading: Date?, work: Work) -> Date? {
        guard work != .none else { return nil }
        if let readAt { return readAt }
        let lastReset = Self.lastReset(before: now)
        let triedToday = lastAttempt.map { $0 >= lastReset } ?? false
        let backoff = TimeInterval(waitBackoff(after: emptyReadings).milliseconds) / 1_000
        guard let oldest = oldestReading, oldest >= lastReset else {
            // No reading of today: ask now, unless today's attempts failed (then on the backoff).
            return triedToday && emptyReadings > 0 ? lastAttempt!.addingTimeInterval(backoff) : now
        }
        switch work {
        case .waiting:
            // Even after a reading with room, what is still waiting did not fit it.
            let base = max(lastAttempt ?? oldest, oldest)
            return base.addingTimeInterval(TimeInterval(waitBackoff(after: max(1, emptyReadings)).milliseconds) / 1_000)
        case .planning, .none:
            if triedToday, emptyReadings > 0, let lastAttempt { return lastAttempt.addingTimeInterval(backoff) }
            return oldest.addingTimeInterval(TimeInterval(policy.refresh.milliseconds) / 1_000)
        }
    }

    /// A request was made at `at`, with this outcome.
    public mutating func read(at: Date, _ reading: Reading) {
        if let lastAttempt, lastAttempt < Self.lastReset(before: at) { emptyReadings = 0 }
        lastAttempt = at
        readAt = nil
        switch reading {
        case .room: emptyReadings = 0
        case .noRoom, .failed: emptyReadings += 1
        }
    }

    /// The API refused a batch by day limit at `at` although the reading said there was room:
    /// someone else used the quota. Read again at once — unless refusals come in quick
    /// succession (a reading that keeps overstating the quota), then on a doubling backoff.
    public mutating func refused(at: Date) {
        if let lastRefusal, !(lastAttempt.map { $0 > lastRefusal } ?? false) {
            return  // no reading since the last refusal: the same news, the read is already asked for
        }
        if let lastRefusal, at.timeIntervalSince(lastRefusal) < TimeInterval(waitBackoff(after: refusalLevel + 1).milliseconds) / 1_000 {
            refusalLevel += 1
        } else {
            refusalLevel = 0
        }
        lastRefusal = at
        readAt = refusalLevel == 0 ? at : at.addingTimeInterval(TimeInterval(waitBackoff(after: refusalLevel).milliseconds) / 1_000)
    }

    /// New URLs were queued: the backoff of readings without room starts again.
    public mutating func changed() {
        emptyReadings = min(emptyReadings, 1)
    }
}
