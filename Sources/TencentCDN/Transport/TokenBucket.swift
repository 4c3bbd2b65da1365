/// A token bucket in its GCRA form: the earliest instant each request may be sent.
///
/// With `burst` 1 requests are evenly spaced `1/rate` apart, so no window of one second ever
/// holds more than `rate` of them. Reservations are handed out in call order; a caller that
/// reserves must wait until the returned instant.
public struct TokenBucket<I: InstantProtocol>: Sendable where I.Duration == Duration, I: Sendable {
    public let interval: Duration
    public let burst: Int
    private var theoreticalArrival: I?

    /// - Parameters:
    ///   - ratePerSecond: sustained requests per second (> 0).
    ///   - burst: requests that may go at once after a quiet spell (≥ 1).
    public init(ratePerSecond: Double, burst: Int = 1) {
        precondition(ratePerSecond > 0 && ratePerSecond.isFinite, "rate must be positive")
        // Rounded up to whole nanoseconds, so that `rate` intervals never add up to less than 1 s.
        self.interval = .nanoseconds(Int64((1e9 / ratePerSecond).rounded(.up)))
        self.burst = max(1, burst)
    }

    /// Reserves the next slot and returns when it starts (`now` or later).
    public mutating func reserve(now: I) -> I {
        var tat = theoreticalArrival ?? now
        if tat < now { tat = now }
        let allowedAt = tat.advanced(by: interval * (burst - 1) * -1)
        theoreticalArrival = tat.advanced(by: interval)
        return allowedAt < now ? now : allowedAt
    }
}
