import Foundation
import SiteWatch
import TencentCDN

/// How the daemon runs: the CLI's flags plus timings. Every timing has an operator-sensible
/// default; tests shrink them with `PURGEWATCH_TEST_TIME_SCALE` (see ``init(environment:)``).
public struct DaemonOptions: Sendable {
    /// `run --dry-run`: everything but the API; batches are logged and count as submitted.
    public var dryRun = false
    /// `run --once`: reconcile, submit what is pending, wait for the submissions, exit.
    public var once = false
    /// The soonest the control loop's timer fires again after it fired (a bound on wake-ups
    /// should a due time fail to move on; at rest nothing is due and nothing fires).
    public var minimumTimerGap: Duration = .milliseconds(50)
    /// While a stage is held back (the watchdog holding its ping for a stuck stage), it looks
    /// again this often.
    public var recheckInterval: Duration = .seconds(1)
    /// A comparison that could not run (the root unavailable, too many open files) is tried
    /// again after this long, doubling up to `detectRetryMax`.
    public var detectRetryBase: Duration = .seconds(1)
    public var detectRetryMax: Duration = .seconds(60)
    /// How long one submission may retry transient failures before it is rescheduled.
    public var submitDeadline: Duration = .seconds(120)
    /// Rescheduled submissions wait this long, doubling per attempt up to `retryMax`.
    public var retryBase: Duration = .seconds(30)
    public var retryMax: Duration = .seconds(900)
    /// After a permanent failure (bad credentials…) nothing is sent for this long, doubling up
    /// to `permanentPauseMax`: a broken setup costs a handful of requests an hour, not a storm.
    public var permanentPauseBase: Duration = .seconds(60)
    public var permanentPauseMax: Duration = .seconds(900)
    /// DescribePurgeTasks polling: first after `verifyInitial`, doubling up to `verifyMax`.
    public var verifyInitial: Duration = .seconds(15)
    public var verifyMax: Duration = .seconds(300)
    /// How old the cached DescribePurgeQuota may be before it is asked again.
    public var quotaRefresh: Duration = .seconds(600)
    /// While URLs wait for the quota it is read again after this long, doubling up to
    /// `quotaWaitMax` (``QuotaBook``): a reading taken a moment too early never parks work.
    public var quotaWaitFirst: Duration = .seconds(30)
    public var quotaWaitMax: Duration = .seconds(600)
    /// A URL whose purge task fails is queued again this many times, then reported.
    public var maxTaskRetries = 3
    public var monitor = SiteMonitor.Options()
    public var retryPolicy: RetryPolicy = .default
    public var requestTimeout: Duration = .seconds(30)
    /// A task still `process` (or not found) this long after it was accepted is `unverified`.
    public var unverifiedAfter: Duration = .seconds(30 * 60)
    /// `done`, `failed` and forgotten history older than this is pruned (SPEC §6), this often.
    public var historyRetention: Duration = .seconds(7 * 86_400)
    public var pruneInterval: Duration = .seconds(3_600)
    /// While the state cannot be written (a full disk), each stage tries again this often.
    public var storageRetry: Duration = .seconds(5)
    /// The longest one comparison of the tree may take before the watchdog stops (a hung hash).
    public var detectBound: Duration = .seconds(30 * 60)
    /// Where every stage reads the time (see ``DaemonClock``).
    public var clock = DaemonClock.system
    /// Where the retry backoff's jitter comes from.
    public var random = RandomSource.system

    public init() {}

    /// The defaults, with every timing multiplied by `PURGEWATCH_TEST_TIME_SCALE` when set (the
    /// end-to-end tests use 0.01 so a 30 s retry is 300 ms). Only the environment of the process
    /// can set it — nothing in a config file can.
    public init(environment: [String: String]) {
        self.init()
        guard let text = environment["PURGEWATCH_TEST_TIME_SCALE"], let scale = Double(text), scale > 0, scale < 1 else {
            return
        }
        func scaled(_ duration: Duration) -> Duration { duration * scale }
        submitDeadline = scaled(submitDeadline)
        retryBase = scaled(retryBase)
        retryMax = scaled(retryMax)
        permanentPauseBase = scaled(permanentPauseBase)
        permanentPauseMax = scaled(permanentPauseMax)
        verifyInitial = scaled(verifyInitial)
        verifyMax = scaled(verifyMax)
        quotaRefresh = scaled(quotaRefresh)
        quotaWaitFirst = scaled(quotaWaitFirst)
        quotaWaitMax = scaled(quotaWaitMax)
        unverifiedAfter = scaled(unverifiedAfter)
        storageRetry = max(scaled(storageRetry), .milliseconds(200))
        requestTimeout = max(scaled(requestTimeout), .seconds(2))
        detectRetryBase = scaled(detectRetryBase)
        detectRetryMax = scaled(detectRetryMax)
        retryPolicy = RetryPolicy(
            baseDelay: scaled(retryPolicy.baseDelay), maxDelay: scaled(retryPolicy.maxDelay),
            maxAttempts: retryPolicy.maxAttempts)
        monitor.rootCheckInterval = max(scaled(monitor.rootCheckInterval), .milliseconds(200))
        monitor.degradedRescanInterval = max(scaled(monitor.degradedRescanInterval), .milliseconds(500))
    }
}

/// The wall clock every stage reads (the quota day, verification deadlines, retention): the
/// system clock, shifted by `PURGEWATCH_TEST_WALL_CLOCK_OFFSET` seconds when that is set in the
/// process environment — tests run the real binary across 00:00 UTC+8 with it; no config file
/// can reach it. Read once per process.
let wallClockOffset: TimeInterval = {
    guard let text = ProcessInfo.processInfo.environment["PURGEWATCH_TEST_WALL_CLOCK_OFFSET"],
        let seconds = TimeInterval(text), seconds.isFinite
    else { return 0 }
    return seconds
}()

/// Now, on the daemon's wall clock (see ``wallClockOffset``).
public func wallClockNow() -> Date { Date().addingTimeInterval(wallClockOffset) }

/// The two clocks every stage reads, injected through ``DaemonOptions/clock``:
/// - `wall`: the quota day (00:00 UTC+8), verification deadlines, retention, stored times;
/// - `now`: the monotonic clock of the pipeline's timers (coalescing windows, pauses, the
///   watchdog's stage bounds, watcher restarts).
///
/// I/O deadlines handed to the API client and the control socket's per-command limit stay on
/// the real `ContinuousClock`: they bound real waits. The end-to-end tests move the wall clock of
/// the real binary with `PURGEWATCH_TEST_WALL_CLOCK_OFFSET`; in-process tests can pass any pair.
public struct DaemonClock: Sendable {
    public var wall: @Sendable () -> Date
    public var now: @Sendable () -> ContinuousClock.Instant
    /// Sleeps until an instant of `now`'s clock (throws when cancelled): the control loop's
    /// timer sleeps through it until its next deadline.
    public var sleep: @Sendable (ContinuousClock.Instant) async throws -> Void

    public init(
        wall: @escaping @Sendable () -> Date, now: @escaping @Sendable () -> ContinuousClock.Instant,
        sleep: @escaping @Sendable (ContinuousClock.Instant) async throws -> Void = { try await Task.sleep(until: $0, clock: .continuous) }
    ) {
        self.wall = wall
        self.now = now
        self.sleep = sleep
    }

    /// The system clocks, the wall one shifted by ``wallClockOffset``.
    public static let system = DaemonClock(wall: { wallClockNow() }, now: { ContinuousClock.now })

    /// The instant of `now`'s clock at which the wall clock reads `wallMilliseconds`.
    func instant(atWallMilliseconds wallMilliseconds: Int64) -> ContinuousClock.Instant {
        now().advanced(by: .milliseconds(wallMilliseconds - self.wallMilliseconds()))
    }

    /// Wall-clock milliseconds, the unit of every time stored in the state database.
    public func wallMilliseconds() -> Int64 { Int64((wall().timeIntervalSince1970 * 1_000).rounded()) }
}

/// Draws in [0, 1) for jitter: the system generator, or a scripted sequence in tests.
public struct RandomSource: Sendable {
    public var unitInterval: @Sendable () -> Double

    public init(unitInterval: @escaping @Sendable () -> Double) { self.unitInterval = unitInterval }

    public static let system = RandomSource { Double.random(in: 0..<1) }
}

/// A UTC timestamp as `status` and the logs show it: `2026-11-29T20:15:02Z`.
func iso8601(_ date: Date) -> String {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime]
    return formatter.string(from: date)
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1_000 + components.attoseconds / 1_000_000_000_000_000 }
}
