/// When to try again something that keeps failing, and when to say so (SPEC §7: one clear line
/// per condition, no log storm).
///
/// Pure: time is passed in. Each failure in a row doubles the delay from `base` up to `max`; a
/// success starts again from `base`. A failure is worth a log line when it is the first, when its
/// condition changed (another errno, another error), or when the same condition has lasted
/// `repeatEvery` since it was last said.
struct RetrySchedule: Sendable, Equatable {
    let base: Duration
    let max: Duration
    let repeatEvery: Duration
    /// Failures in a row since the last success.
    private(set) var failures = 0
    /// The condition of the last failure, and when it was last said (nil: nothing failing).
    private(set) var condition: String?
    private var saidAt: ContinuousClock.Instant?

    init(base: Duration, max: Duration, repeatEvery: Duration = .seconds(300)) {
        self.base = base
        self.max = Swift.max(base, max)
        self.repeatEvery = repeatEvery
    }

    /// A failure of `condition` at `now`: when to try again (`base` doubled per failure in a row,
    /// at most `max`), and whether this failure should be logged.
    mutating func failed(_ condition: String, now: ContinuousClock.Instant) -> (retryAt: ContinuousClock.Instant, log: Bool) {
        let log = shouldSay(condition, now: now)
        return (nextAttempt(now: now), log)
    }

    /// One more failure in a row at `now`: when to try again.
    mutating func nextAttempt(now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        let retryAt = now.advanced(by: delay(afterFailures: failures))
        failures += 1
        return retryAt
    }

    /// Whether a failure of `condition` at `now` is worth a line: the first, another condition,
    /// or the same one `repeatEvery` after it was last said.
    mutating func shouldSay(_ condition: String, now: ContinuousClock.Instant) -> Bool {
        let say = condition != self.condition || saidAt.map { $0.duration(to: now) >= repeatEvery } ?? true
        if say { saidAt = now }
        self.condition = condition
        return say
    }

    /// It worked: the next failure waits `base` again. Returns the condition that ended (nil when
    /// nothing was failing), for one "works again" line.
    @discardableResult
    mutating func succeeded() -> String? {
        let ended = condition
        failures = 0
        condition = nil
        saidAt = nil
        return ended
    }

    /// The wait after `failures` failures in a row: `base` · 2^failures, at most `max`.
    func delay(afterFailures failures: Int) -> Duration {
        var delay = base
        for _ in 0..<Swift.min(failures, 62) where delay < max { delay = delay * 2 }
        return Swift.min(delay, max)
    }
}
