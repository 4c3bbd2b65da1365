/// Shares one ``TokenBucket`` among every action of a client (`requests_per_second`).
actor RateLimiter {
    private var bucket: TokenBucket<ContinuousClock.Instant>

    init(requestsPerSecond: Double, burst: Int = 1) {
        bucket = TokenBucket(ratePerSecond: requestsPerSecond, burst: burst)
    }

    /// Reserves a slot and returns the instant the request may start.
    func reserve(now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        bucket.reserve(now: now)
    }
}
