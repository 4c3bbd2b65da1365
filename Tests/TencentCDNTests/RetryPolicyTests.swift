import Testing

@testable import TencentCDN

@Suite("Retry policy and rate limit (pure, no sleeping)")
struct RetryPolicyTests {
    let policy = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .seconds(2), maxAttempts: 6)
    let t0 = ContinuousClock.now

    @Test(
        "backoff ceilings double from the base and stop at the cap",
        arguments: [
            (1, Duration.milliseconds(100)), (2, .milliseconds(200)), (3, .milliseconds(400)), (4, .milliseconds(800)),
            (5, .milliseconds(1600)), (6, .seconds(2)), (60, .seconds(2)),
        ]
    )
    func ceilings(_ attempt: Int, _ expected: Duration) {
        #expect(policy.backoffCeiling(afterAttempt: attempt) == expected)
    }

    @Test(
        "transient errors retry after jitter × ceiling (full jitter)",
        arguments: [
            (1, 0.0, 0.0), (1, 0.5, 50.0), (3, 0.25, 100.0), (5, 0.999, 1598.4), (5, 0.5, 800.0),
        ]
    )
    func fullJitter(_ attempt: Int, _ jitter: Double, _ milliseconds: Double) {
        let d = policy.decide(
            errorClass: .transient,
            attempt: attempt,
            reSignsSoFar: 0,
            now: t0,
            deadline: t0 + .seconds(60),
            jitter: jitter
        )
        guard case .retry(let delay, let refresh) = d else {
            Issue.record("expected a retry, got \(d)")
            return
        }
        #expect(!refresh)
        #expect(abs(delay / .milliseconds(1) - milliseconds) < 0.001)
    }

    @Test("transient errors stop at maxAttempts or when the delay would pass the deadline")
    func transientStops() {
        #expect(
            policy.decide(
                errorClass: .transient,
                attempt: 6,
                reSignsSoFar: 0,
                now: t0,
                deadline: t0 + .seconds(60),
                jitter: 0.5
            ) == .stop(.attemptsExhausted)
        )
        #expect(
            policy.decide(
                errorClass: .transient,
                attempt: 3,
                reSignsSoFar: 0,
                now: t0,
                deadline: t0 + .milliseconds(150),
                jitter: 0.5
            ) == .stop(.deadline)
        )
        #expect(
            policy.decide(
                errorClass: .transient,
                attempt: 3,
                reSignsSoFar: 0,
                now: t0,
                deadline: t0 + .milliseconds(250),
                jitter: 0.5
            ) == .retry(after: .milliseconds(200), refreshCredentials: false)
        )
        #expect(
            policy.decide(
                errorClass: .transient,
                attempt: 1,
                reSignsSoFar: 0,
                now: t0 + .seconds(5),
                deadline: t0,
                jitter: 0
            ) == .stop(.deadline)
        )
    }

    @Test("re-sign retries at once, once, with fresh credentials")
    func reSign() {
        #expect(
            policy.decide(
                errorClass: .reSign,
                attempt: 1,
                reSignsSoFar: 0,
                now: t0,
                deadline: t0 + .seconds(1),
                jitter: 0.9
            ) == .retry(after: .zero, refreshCredentials: true)
        )
        #expect(
            policy.decide(
                errorClass: .reSign,
                attempt: 2,
                reSignsSoFar: 1,
                now: t0,
                deadline: t0 + .seconds(1),
                jitter: 0.9
            ) == .stop(.reSignFailedTwice)
        )
    }

    @Test(
        "quota, batch-too-big and permanent errors are never retried",
        arguments: [ErrorClass.quota, .batchTooBig, .permanent]
    )
    func notRetried(_ errorClass: ErrorClass) {
        #expect(
            policy.decide(
                errorClass: errorClass,
                attempt: 1,
                reSignsSoFar: 0,
                now: t0,
                deadline: t0 + .seconds(60),
                jitter: 0
            ) == .stop(.notRetryable)
        )
    }

    @Test("a token bucket with burst 1 spaces requests 1/rate apart")
    func bucketSpacing() {
        var bucket = TokenBucket<ContinuousClock.Instant>(ratePerSecond: 10)
        let slots = (0..<5).map { _ in bucket.reserve(now: t0) }
        #expect(
            slots == [
                t0, t0 + .milliseconds(100), t0 + .milliseconds(200), t0 + .milliseconds(300), t0 + .milliseconds(400),
            ]
        )
        #expect(bucket.interval == .milliseconds(100))
        // After a quiet spell the next request goes at once, and credit does not pile up.
        #expect(bucket.reserve(now: t0 + .seconds(10)) == t0 + .seconds(10))
        #expect(bucket.reserve(now: t0 + .seconds(10)) == t0 + .seconds(10) + .milliseconds(100))
    }

    @Test("a token bucket with a burst lets that many through at once, then paces")
    func bucketBurst() {
        var bucket = TokenBucket<ContinuousClock.Instant>(ratePerSecond: 4, burst: 3)
        let slots = (0..<5).map { _ in bucket.reserve(now: t0) }
        #expect(slots == [t0, t0, t0, t0 + .milliseconds(250), t0 + .milliseconds(500)])
    }

    @Test("confirmed grants keep their spacing even when callers wake late")
    func bucketConfirm() {
        var bucket = TokenBucket<ContinuousClock.Instant>(ratePerSecond: 10)
        let first = bucket.reserve(now: t0)
        let second = bucket.reserve(now: t0)
        #expect(second == t0 + .milliseconds(100))
        // The first caller wakes 70 ms late; the second, on time, must wait for the spacing.
        #expect(bucket.confirm(now: first + .milliseconds(70)) == nil)
        #expect(bucket.confirm(now: second) == t0 + .milliseconds(170))
        #expect(bucket.confirm(now: t0 + .milliseconds(170)) == nil)
    }

    @Test("a burst allows that many grants per burst window, no more")
    func bucketConfirmBurst() {
        var bucket = TokenBucket<ContinuousClock.Instant>(ratePerSecond: 4, burst: 2)
        #expect(bucket.confirm(now: t0) == nil)
        #expect(bucket.confirm(now: t0) == nil)
        #expect(bucket.confirm(now: t0 + .milliseconds(100)) == t0 + .milliseconds(500))
        #expect(bucket.confirm(now: t0 + .milliseconds(500)) == nil)
    }

    @Test(
        "no one-second window of grants exceeds the rate, whatever the wake-up jitter",
        arguments: [1.0, 3.0, 7.0, 10.0, 20.0, 33.0]
    )
    func bucketWindow(_ rate: Double) {
        var bucket = TokenBucket<ContinuousClock.Instant>(ratePerSecond: rate)
        var rng = SystemRandomNumberGenerator()
        var grants: [ContinuousClock.Instant] = []
        for i in 0..<Int(rate * 3) {
            var wake = bucket.reserve(now: t0 + .milliseconds(i * 7))
            while true {
                wake = wake + .milliseconds(Int.random(in: 0...40, using: &rng))
                guard let retry = bucket.confirm(now: wake) else { break }
                wake = retry
            }
            grants.append(wake)
        }
        for (i, start) in grants.enumerated() {
            let inWindow = grants[i...].prefix { $0 < start + .seconds(1) }.count
            #expect(Double(inWindow) <= rate)
        }
    }
}
