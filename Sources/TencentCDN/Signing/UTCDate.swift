/// Calendar arithmetic on Unix timestamps in UTC, without `Calendar` or the local time zone.
///
/// TC3 credential scopes use the **UTC** date of `X-TC-Timestamp`; using local time (for example
/// UTC+8) produces a wrong scope between 00:00 and 08:00 local time.
enum UTCDate {
    /// `YYYY-MM-DD` of the UTC day containing `timestamp` (Unix seconds).
    static func string(fromUnixSeconds timestamp: Int64) -> String {
        let days = floorDiv(timestamp, 86_400)
        let (year, month, day) = civil(fromDays: days)
        return pad(year, 4) + "-" + pad(month, 2) + "-" + pad(day, 2)
    }

    /// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
    static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    /// `YYYY-MM-DD HH:MM:SS` of `timestamp` (Unix seconds) in UTC.
    static func dateTime(fromUnixSeconds timestamp: Int64) -> String {
        let seconds = timestamp - floorDiv(timestamp, 86_400) * 86_400
        return string(fromUnixSeconds: timestamp) + " " + pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":"
            + pad(seconds % 60, 2)
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let s = String(value)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}
