import Foundation

/// A UTC timestamp as `status` and `failures` show it: `2026-11-29T20:15:02Z`.
func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}
