import Foundation

/// The CDN's daily quota boundary: purge and prefetch quotas reset at 00:00 UTC+8 (Beijing),
/// which is 16:00 UTC ("Quota Management", tencentcloud.com/document/product/228/46738).
public enum QuotaClock {
    /// Seconds past UTC midnight at which quotas reset (16:00 UTC).
    static let resetSecondOfDayUTC: Int64 = 16 * 3600

    /// The first reset strictly after `date`.
    public static func nextReset(after date: Date) -> Date {
        let t = Int64(date.timeIntervalSince1970.rounded(.down))
        let dayStart = UTCDate.floorDiv(t, 86_400) * 86_400
        var reset = dayStart + resetSecondOfDayUTC
        if reset <= t { reset += 86_400 }
        return Date(timeIntervalSince1970: TimeInterval(reset))
    }

    /// `date` as the API writes its times (DescribePurgeTasks' `StartTime`, `CreateTime`):
    /// `YYYY-MM-DD HH:MM:SS` in UTC+8.
    public static func beijingTimestamp(_ date: Date) -> String {
        UTCDate.dateTime(fromUnixSeconds: Int64(date.timeIntervalSince1970.rounded(.down)) + 8 * 3600)
    }

    /// The UTC+8 calendar day (`YYYY-MM-DD`) that a quota counter for `date` belongs to.
    public static func quotaDay(of date: Date) -> String {
        UTCDate.string(fromUnixSeconds: Int64(date.timeIntervalSince1970.rounded(.down)) + 8 * 3600)
    }
}
