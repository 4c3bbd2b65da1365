/// Decides, after a failed attempt, whether and when to try again.
///
/// A pure value: it is fed the error class, how many attempts were made, the current time, the
/// caller's deadline and a jitter draw in `[0, 1)`, and returns a ``Decision``. Transient errors
/// back off exponentially with full jitter (`delay = jitter × min(maxDelay, baseDelay × 2^(n−1))`);
/// ``ErrorClass/reSign`` retries at once, once; every other class stops.
public struct RetryPolicy: Sendable, Equatable {
    /// The backoff ceiling of the first retry.
    public var baseDelay: Duration
    /// No backoff is longer than this.
    public var maxDelay: Duration
    /// Attempts in all, the first included; `Int.max` leaves only the deadline.
    public var maxAttempts: Int

    public init(baseDelay: Duration, maxDelay: Duration, maxAttempts: Int) {
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxAttempts = max(1, maxAttempts)
    }

    /// 250 ms doubling to a 30 s cap, at most 10 attempts (then the deadline decides).
    public static let `default` = RetryPolicy(baseDelay: .milliseconds(250), maxDelay: .seconds(30), maxAttempts: 10)

    public enum Decision: Sendable, Equatable {
        /// Try again after `delay`; `refreshCredentials` asks the provider for new credentials first.
        case retry(after: Duration, refreshCredentials: Bool)
        /// Give up and report the error.
        case stop(StopReason)
    }

    public enum StopReason: Sendable, Equatable {
        /// The class is not retried (quota, batch too big, permanent).
        case notRetryable
        /// `maxAttempts` reached.
        case attemptsExhausted
        /// The next attempt could not start before the deadline.
        case deadline
        /// A re-sign retry was already spent and the error came back.
        case reSignFailedTwice
    }

    /// The backoff ceiling before attempt `attempt + 1` (exponential, capped).
    public func backoffCeiling(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 40)
        let ceiling = baseDelay * Double(UInt64(1) << UInt64(exponent))
        return ceiling > maxDelay ? maxDelay : ceiling
    }

    /// The decision after attempt number `attempt` (1-based) failed with `errorClass`.
    /// - Parameters:
    ///   - reSignsSoFar: how many re-sign retries this call already made.
    ///   - jitter: a uniform draw in `[0, 1)`; tests pass fixed values.
    public func decide<I: InstantProtocol>(
        errorClass: ErrorClass,
        attempt: Int,
        reSignsSoFar: Int,
        now: I,
        deadline: I,
        jitter: Double
    ) -> Decision where I.Duration == Duration {
        switch errorClass {
        case .quota, .batchTooBig, .permanent:
            return .stop(.notRetryable)
        case .reSign:
            guard reSignsSoFar == 0 else { return .stop(.reSignFailedTwice) }
            guard now < deadline else { return .stop(.deadline) }
            return .retry(after: .zero, refreshCredentials: true)
        case .transient:
            guard attempt < maxAttempts else { return .stop(.attemptsExhausted) }
            let unit = min(max(jitter, 0), 1)
            let delay = backoffCeiling(afterAttempt: attempt) * unit
            guard now.advanced(by: delay) < deadline else { return .stop(.deadline) }
            return .retry(after: delay, refreshCredentials: false)
        }
    }
}
