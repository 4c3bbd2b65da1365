import Logging
import PurgeCore
import SiteWatch

/// The watcher stage: the inotify monitor's life — started, its events handed to the control
/// loop in order, started again on a backoff when it cannot start or stops by itself, replaced
/// when a reload moves the root.
///
/// A Service that owns its state — the monitor, the generation of its event stream, the restart
/// backoff and when it is due — and the monitor it opens (started in ``start()``, stopped in
/// ``stop()``). The control loop asks it to start, restart or replace the monitor; the watcher
/// service runs ``forward(into:)``, which hands every event on as an input. It runs on its
/// caller's executor (the daemon's thread): every async method is `nonisolated(nonsending)`.
final class WatcherStage {
    /// The root and the exclusions the next monitor watches (a reload sets it).
    var config: SiteConfig
    let options: DaemonOptions
    let logger: Logger

    /// The running monitor, nil while none runs (it could not start, or it stopped).
    private(set) var monitor: SiteMonitor?
    /// The newest monitor's events, until the watcher service takes them, and their generation.
    private var handoff: (events: AsyncStream<SiteEvent>, generation: Int)?
    /// The generation of the newest monitor: an end of an older one's stream is no failure.
    private(set) var generation = 0
    /// When the monitor is started again (it could not start, or it stopped by itself).
    private(set) var restartAt: ContinuousClock.Instant?
    /// Restarts after failures (5 s doubling to 5 minutes) and their log lines (one per condition).
    private var restart: RetrySchedule
    /// Wakes the watcher service when a new monitor's events are ready.
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>

    init(config: SiteConfig, options: DaemonOptions, logger: Logger) {
        self.config = config
        self.options = options
        self.logger = logger
        self.restart = RetrySchedule(base: options.monitorRestartBase, max: options.monitorRestartMax)
        (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The running monitor's status (nil while none runs).
    var status: SiteMonitor.Status? { monitor?.status }

    /// Starts a monitor on the configured root; its events go to the watcher service.
    func start() throws {
        let monitor = SiteMonitor(
            root: config.site.root, exclude: ExclusionRule(config.mapper.excludeSet), options: options.monitor, logger: logger)
        let events = try monitor.start()
        self.monitor = monitor
        generation += 1
        handoff = (events, generation)
        wake.yield()
    }

    /// The monitor could not start: tried again on a backoff (5 s doubling to 5 minutes), said
    /// once per condition (and again every 5 minutes while it lasts), never every attempt.
    func cannotStart(_ error: any Error, now: ContinuousClock.Instant) {
        let restartAt = restart.nextAttempt(now: now)
        self.restartAt = restartAt
        if restart.shouldSay("\(error)", now: now) {
            logger.error(
                "cannot watch \(config.site.root): \(error); trying again in \(Self.seconds(now.duration(to: restartAt))) s, backing off to \(Self.seconds(options.monitorRestartMax)) s (said again only if it changes or lasts)"
            )
        }
    }

    static func seconds(_ duration: Duration) -> Int { Int(duration.components.seconds) }

    /// Monitor number `generation` stopped. Returns whether that was the running one stopping by
    /// itself (then it is started again at once); an older one was replaced by a reload.
    func ended(generation ended: Int, now: ContinuousClock.Instant) -> Bool {
        guard ended == generation else { return false }
        monitor = nil
        restartAt = now
        return true
    }

    /// Starts the monitor again if its restart is due. Returns whether it started.
    func restartIfDue(now: ContinuousClock.Instant) -> Bool {
        guard let restartAt, now >= restartAt else { return false }
        do {
            try start()
            self.restartAt = nil
            if let ended = restart.succeeded() { logger.notice("watching \(config.site.root) again (was: \(ended))") }
            return true
        } catch {
            cannotStart(error, now: now)
            return false
        }
    }

    /// A reload moved the root (or changed what is watched): the old monitor stops, a new one
    /// starts — or is tried again on the backoff.
    func replace(now: ContinuousClock.Instant) {
        monitor?.stop()
        do {
            try start()
        } catch {
            monitor = nil
            cannotStart(error, now: now)
        }
    }

    /// Stops the monitor (the daemon stops).
    func stop() {
        monitor?.stop()
        monitor = nil
    }

    /// The watcher service: forwards each monitor's events to the control loop, in order, and
    /// tells it when a monitor stopped (a replaced one after a reload, or one that failed).
    nonisolated(nonsending) func forward(into inputs: AsyncStream<PurgeDaemon.Input>.Continuation) async {
        for await _ in wakes {
            while let (events, generation) = handoff {
                handoff = nil
                for await event in events { inputs.yield(.site(event)) }
                // The shutdown cancels this stage before the control loop: not a failure.
                if Task.isCancelled { return }
                inputs.yield(.siteEnded(generation: generation))
            }
        }
    }
}
