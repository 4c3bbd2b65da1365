/// Shares one ``TokenBucket`` among every action of a client (`requests_per_second`).
actor RateLimiter {
    private var bucket: TokenBucket<ContinuousClock.Instant>

    init(requestsPerSecond: Double, burst: Int = 1) {
        bucket = TokenBucket(ratePerSecond: requestsPerSecond, burst: burst)
    }

    /// Waits for a grant and returns its instant, or `nil` without waiting further when the grant
    /// could not come before `deadline`.
    func acquire(before deadline: ContinuousClock.Instant) async throws -> ContinuousClock.Instant? {
        var wakeAt = bucket.reserve(now: .now)
        while true {
            if wakeAt >= deadline { return nil }
            if wakeAt > .now { try await Task.sleep(until: wakeAt, clock: .continuous) }
            let now = ContinuousClock.now
            guard let retryAt = bucket.confirm(now: now) else { return now }
            wakeAt = retryAt
        }
    }
}
