/// A token bucket for request pacing, as a pure state machine fed the current time.
///
/// Two steps per request. ``reserve(now:)`` hands out provisional slots in call order (GCRA), so
/// concurrent callers queue up instead of all waking at once. ``confirm(now:)``, called when the
/// caller wakes, grants the request only if it keeps the *actual* grants within the limit — at
/// most `burst` grants in any window of `burst / rate` seconds (with `burst` 1: grants at least
/// `1/rate` apart) — so a caller that woke late cannot squeeze the next ones closer together.
/// Hence no window of one second ever holds more than `rate` grants.
public struct TokenBucket<I: InstantProtocol>: Sendable where I.Duration == Duration, I: Sendable {
    public let interval: Duration
    public let burst: Int
    private var theoreticalArrival: I?
    /// The last `burst` grant instants, oldest first.
    private var recentGrants: [I] = []

    /// - Parameters:
    ///   - ratePerSecond: sustained requests per second (> 0).
    ///   - burst: requests that may go at once after a quiet spell (≥ 1).
    public init(ratePerSecond: Double, burst: Int = 1) {
        precondition(ratePerSecond > 0 && ratePerSecond.isFinite, "rate must be positive")
        // Rounded up to whole nanoseconds, so that `rate` intervals never add up to less than 1 s.
        self.interval = .nanoseconds(Int64((1e9 / ratePerSecond).rounded(.up)))
        self.burst = max(1, burst)
    }

    /// Reserves the next provisional slot and returns when it starts (`now` or later).
    public mutating func reserve(now: I) -> I {
        var tat = theoreticalArrival ?? now
        if tat < now { tat = now }
        let allowedAt = tat.advanced(by: interval * (burst - 1) * -1)
        theoreticalArrival = tat.advanced(by: interval)
        return allowedAt < now ? now : allowedAt
    }

    /// Grants a request at `now` (returns `nil` and records the grant), or returns the instant
    /// to try again at.
    public mutating func confirm(now: I) -> I? {
        if recentGrants.count == burst, let oldest = recentGrants.first {
            let earliest = oldest.advanced(by: interval * burst)
            if now < earliest { return earliest }
            recentGrants.removeFirst()
        }
        recentGrants.append(now)
        return nil
    }
}
