import Foundation
import SiteWatch
import TencentCDN

/// How the daemon runs: the CLI's flags plus timings. Every timing has an operator-sensible
/// default; in-process tests set them, the end-to-end harness scales them (``scaled(by:)``).
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
    /// The watcher that could not start (an inotify limit, descriptors) is started again after
    /// this long, doubling up to `monitorRestartMax`.
    public var monitorRestartBase: Duration = .seconds(5)
    public var monitorRestartMax: Duration = .seconds(300)
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
    /// A fleet's database unreachable at start is tried again after this long, doubling up to
    /// `fleetConnectRetryMax` (SPEC §9: reconnect with a backoff, watching meanwhile).
    public var fleetConnectRetryBase: Duration = .seconds(1)
    public var fleetConnectRetryMax: Duration = .seconds(15)
    /// The longest one comparison of the tree may take before the watchdog stops (a hung hash).
    public var detectBound: Duration = .seconds(30 * 60)
    /// Where every stage reads the time (see ``DaemonClock``).
    public var clock = DaemonClock.system
    /// Where the retry backoff's jitter comes from.
    public var random = RandomSource.system

    public init() {}

    /// Every timing multiplied by `scale` (0 < scale ≤ 1), with floors where a real wait needs
    /// one (a request's timeout, a storage retry, the root check): what the end-to-end test
    /// harness runs the daemon with (`Tests/Harness`).
    public func scaled(by scale: Double) -> DaemonOptions {
        var options = self
        func scaled(_ duration: Duration) -> Duration { duration * scale }
        options.submitDeadline = scaled(submitDeadline)
        options.retryBase = scaled(retryBase)
        options.retryMax = scaled(retryMax)
        options.permanentPauseBase = scaled(permanentPauseBase)
        options.permanentPauseMax = scaled(permanentPauseMax)
        options.verifyInitial = scaled(verifyInitial)
        options.verifyMax = scaled(verifyMax)
        options.quotaRefresh = scaled(quotaRefresh)
        options.quotaWaitFirst = scaled(quotaWaitFirst)
        options.quotaWaitMax = scaled(quotaWaitMax)
        options.unverifiedAfter = scaled(unverifiedAfter)
        options.storageRetry = max(scaled(storageRetry), .milliseconds(200))
        options.fleetConnectRetryBase = max(scaled(fleetConnectRetryBase), .milliseconds(100))
        options.fleetConnectRetryMax = max(scaled(fleetConnectRetryMax), .milliseconds(500))
        options.requestTimeout = max(scaled(requestTimeout), .seconds(2))
        options.detectRetryBase = scaled(detectRetryBase)
        options.detectRetryMax = scaled(detectRetryMax)
        options.monitorRestartBase = scaled(monitorRestartBase)
        options.monitorRestartMax = scaled(monitorRestartMax)
        options.retryPolicy = RetryPolicy(
            baseDelay: scaled(retryPolicy.baseDelay), maxDelay: scaled(retryPolicy.maxDelay), maxAttempts: retryPolicy.maxAttempts)
        options.monitor.rootCheckInterval = max(scaled(monitor.rootCheckInterval), .milliseconds(200))
        options.monitor.degradedRescanInterval = max(scaled(monitor.degradedRescanInterval), .milliseconds(500))
        return options
    }
}

/// The two clocks every stage reads, injected through ``DaemonOptions/clock``:
/// - `wall`: the quota day (00:00 UTC+8), verification deadlines, retention, stored times;
/// - `now`: the monotonic clock of the pipeline's timers (coalescing windows, pauses, the
///   watchdog's stage bounds, watcher restarts).
///
/// I/O deadlines handed to the API client and the control socket's per-command limit stay on
/// the real `ContinuousClock`: they bound real waits. The end-to-end harness shifts the wall one
/// (`Tests/Harness`); in-process tests pass a manual pair.
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

    /// The system clocks.
    public static let system = DaemonClock(wall: { Date() }, now: { ContinuousClock.now })

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
