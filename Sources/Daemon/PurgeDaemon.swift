import AsyncHTTPClient
import CProcess
import ControlProtocol
import FleetStore
import Foundation
import Logging
import PurgeCore
import Reporting
import SiteWatch
import StateStore
import Synchronization
import TencentCDN

/// The daemon: reconcile, watch, coalesce, queue, plan, submit, verify (SPEC §1).
///
/// One actor runs the stages on its own thread (``DaemonThread``, so their SQLite calls never
/// block the cooperative pool). Each stage owns its state — ``WatcherStage``, ``DetectorStage``,
/// ``Submitter``, ``Verifier`` — and the actor keeps the control loop's (the coalescer, the flush
/// waiters, the watchdog, STATUS=) and applies what each stage's pass returns. Each stage is a
/// `Service` of the CLI's one `ServiceGroup` (``services()``, `Services/PipelineServices.swift`):
/// - the **control loop** starts the daemon, then takes every ``Input`` in order — inotify
///   events (forwarded by the **watcher**), control-socket commands, SIGHUP, the **watchdog**
///   stage's tick — runs the coalescer, answers `flush` and `flush --wait`, sends STATUS and
///   WATCHDOG; it never awaits the network or hashing;
/// - the **detector** compares the tree with the manifest when a window closes (hashing runs on
///   the detector's own dispatch queue) and commits the queue rows with the manifest;
/// - the **submitter** plans and sends batches, the **verifier** polls accepted tasks,
///   prefetches and prunes (HTTP, bounded by deadlines).
/// They hand work on through the durable queue and wake-up streams, never by awaiting each
/// other; while one awaits I/O the actor serves the others. `WATCHDOG=1` is sent only while every
/// stage is idle or busy for less than its bound (``StageHealth``), so a stage that hangs gets the
/// daemon restarted and a slow API does not. Every change crosses SQLite before it is
/// acknowledged: the manifest and the queue rows commit together, batches are written `planned`
/// before they are sent, and a batch left `sending` by a crash is sent again at the next start.
public actor PurgeDaemon {
    enum Input: Sendable {
        case site(SiteEvent)
        /// The event stream of monitor number `generation` ended.
        case siteEnded(generation: Int)
        case control(ControlConnection)
        case tick
        /// A stage finished a unit of work (a comparison, a batch sent or settled): the waiting
        /// `flush --wait` clients are looked at now rather than at the next tick.
        case progress
        case reload
    }

    public private(set) var config: SiteConfig {
        didSet {
            verifier?.config = config
            submitter?.config = config
            detection.config = config
            watcher.config = config
        }
    }
    let options: DaemonOptions
    /// The wall and monotonic clocks of every stage (``DaemonOptions/clock``).
    let clock: DaemonClock
    /// The actor runs on its own thread: its SQLite statements never block the cooperative pool.
    let thread = DaemonThread()
    public nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }
    let logger: Logger
    let notifier: SystemdNotifier
    /// The process environment without the credential variables (those are only in
    /// ``environmentCredentials``, as Secrets).
    let environment: [String: String]
    let environmentCredentials: Credentials?
    let statePath: String
    /// The real state file (a dry run works on a copy of it at ``statePath``).
    let realStatePath: String
    /// `[metrics] listen` at start (a reload does not move the endpoint).
    let initialMetricsListen: String

    var db: StateDatabase!
    /// The queue, batches and quota as the submitter and verifier change them (``QueueStore``):
    /// the SQLite store over ``db`` today.
    var store: (any QueueStore)!
    /// The product's API (``CDNProvider``: CDN or EdgeOne, SPEC §10); nil in a dry run.
    var provider: (any CDNProvider)? {
        didSet {
            verifier?.provider = provider
            submitter?.provider = provider
        }
    }
    /// The submitter stage's service (``Submitter``): plans, sends, reads the quota.
    var submitter: Submitter?
    /// The verifier stage's service (``Verifier``): polls, settles, prefetches, prunes.
    var verifier: Verifier?
    /// The HTTP client the API client uses (``HTTPClientService`` owns it; nil in a dry run).
    var httpClient: HTTPClient?
    /// The state's lock and connection (``StateService`` owns them: no other purgewatch writes
    /// this state while it runs).
    var heldState: HeldState?
    /// The state and the HTTP client, handed over by the Services that own them (no HTTP client
    /// in a dry run).
    let stateGate = ResourceGate<HeldState>()
    let httpGate: ResourceGate<HTTPClient>?
    /// The stages that use the state and the HTTP client (control loop, detector, submitter,
    /// verifier): their owners close them once none runs.
    let resourceUsers: ResourceUsers
    /// A fleet's daemon (SPEC §9, `[state] url`): who it is, and its shared state's start (the
    /// ``FleetStateService`` owns the store). Nil for a single origin on SQLite.
    let fleetIdentity: FleetIdentity?
    /// `[state] url` as written (``FleetStateService`` parses it: a URL it cannot read fails the
    /// start; the daemon never falls back to running alone).
    let fleetURL: String?
    /// The first connection attempt's outcome: the store, or nil when the database was away at
    /// start (the daemon runs without it until ``fleetHandoff`` has it).
    let fleetGate: ResourceGate<PostgresQueueStore?>?
    /// The shared store when it connects after the start, and why it has not yet.
    let fleetHandoff: FleetStateHandoff?
    /// The quota ledger the fleet's store counts against: the account's, for this provider.
    let fleetLedger: QuotaLedger?
    /// The fleet stage's own state: heartbeat and lease (nil until the shared state is open).
    var fleet: FleetMember?
    /// When the fleet stage is due next (a heartbeat, a claim, the lease's end).
    var fleetDue: ContinuousClock.Instant?
    let fleetWake: AsyncStream<Void>.Continuation
    /// When the fleet stage reads the site's queue for the metrics endpoint next (wall ms).
    var nextQueueGaugeRead: Int64 = 0
    /// Set while a newly granted term plans the previous holder's half-sent batches again.
    var takingOver = false
    /// The lease holder's work for the account's other sites (their submitters and verifiers).
    let accountWork: AccountWork
    /// The API client the provider wraps: another site of the account sends through it too
    /// (its rate limiter is the account's). Nil in a dry run.
    var apiClient: TencentCDNClient?
    let fleetWakes: AsyncStream<Void>
    /// Where the credentials come from (no secret), for the logs.
    var credentialSource: String?
    /// The watcher stage: the inotify monitor, its restarts and its event stream.
    let watcher: WatcherStage
    /// The running monitor (nil while none runs).
    var monitor: SiteMonitor? { watcher.monitor }
    /// The control socket's and the metrics endpoint's starts (their Services own them and open
    /// them once the state is held: ``ControlService``, ``MetricsService``); no metrics gate without
    /// `[metrics] listen`.
    let controlGate = ResourceGate<Void>()
    let metricsGate: ResourceGate<Void>?
    /// Whether the control socket serves only its spare descriptor (``DescriptorReserve/onChange``).
    let controlMode = ControlSocketMode()
    /// The control loop's inputs, in order (from the watcher stage, the control socket, SIGHUP
    /// and the watchdog stage's tick).
    let inputs: AsyncStream<Input>.Continuation
    let inputStream: AsyncStream<Input>
    /// Set once the first reconcile is queued and READY=1 sent.
    var started = false
    /// When this process began its start (wall-clock milliseconds).
    var startedWallMilliseconds: Int64 = 0

    var coalescer: Coalescer<ContinuousClock.Instant>
    /// The detector stage: the touched paths, the comparisons and their commit, and their trouble.
    let detection: DetectorStage
    /// Work asked of the submitter (its own state; nil until the state is open).
    var submitRequested: Bool {
        get { submitter?.requested ?? false }
        set { submitter?.requested = newValue }
    }
    /// The `flush --wait` protocol (barriers, comparisons, watermarks → answers), and the clients
    /// waiting on it by the tracker's waiter id.
    var flush: FlushTracker<ContinuousClock.Instant>
    var flushClients: [Int: ControlConnection] = [:]
    /// The submitter's pause after an account-wide failure (its state; read by the verifier).
    var pausedUntil: ContinuousClock.Instant? { submitter?.pausedUntil }
    /// After a permanent account-wide failure nothing is sent for a while (no retry storm).
    var isPaused: Bool {
        if let pausedUntil, clock.now() < pausedUntil { return true }
        return false
    }
    var lastWatchdog: ContinuousClock.Instant
    /// When the watchdog is looked at next (its half interval, or sooner while a stage is stuck).
    var nextWatchdogCheck: ContinuousClock.Instant?
    /// Wakes the control loop at its next deadline (the ``TimerService``); nothing ticks at rest.
    let timer = DeadlineTimer()
    /// When the submitter and the verifier have work next (a retry, a quota re-read, a poll,
    /// the hourly prune), as each computed it after its last run: the control loop wakes them
    /// then, not on a tick. Cleared when they are woken.
    var submitterDue: ContinuousClock.Instant?
    var verifierDue: ContinuousClock.Instant?
    /// Descriptors held back for the runtime, released when the process runs out (``DescriptorReserve``).
    let descriptorReserve = DescriptorReserve()
    /// Wake-ups of the stages: the detector (a window closed), the submitter and the verifier
    /// (work queued, a tick), the watcher (a new monitor started). Each holds at most one.
    let detectorWake: AsyncStream<Void>.Continuation
    let detectorWakes: AsyncStream<Void>
    let submitterWake: AsyncStream<Void>.Continuation
    let submitterWakes: AsyncStream<Void>
    let verifierWake: AsyncStream<Void>.Continuation
    let verifierWakes: AsyncStream<Void>
    /// Each stage's busy-since, for the watchdog (shared with the stage services).
    let health = StageBoard()
    /// Set while the state cannot be written (a full disk): reported in STATUS= and the log.
    var storageDegraded: String?
    /// The Prometheus series (SPEC §7) and, when `[metrics] listen` is set, their HTTP endpoint.
    public let metrics = DaemonMetrics()
    var lastStatusLine = ""
    var lastBatchSummary = "none yet"

    public init(
        config: SiteConfig, options: DaemonOptions, logger: Logger, notifier: SystemdNotifier,
        environment: [String: String], environmentCredentials: Credentials? = nil
    ) {
        self.environmentCredentials = environmentCredentials
        self.config = config
        self.options = options
        self.clock = options.clock
        self.lastWatchdog = options.clock.now()
        var logger = logger
        // Every line names the provider (SPEC §10: journald fields name it).
        logger[metadataKey: "purge.provider"] = "\(config.tencentCloud.product.rawValue)"
        self.logger = logger
        self.notifier = notifier
        self.environment = environment
        self.statePath = options.dryRun ? config.dryRunStatePath : config.state.path
        self.realStatePath = config.state.path
        self.httpGate = options.dryRun ? nil : ResourceGate()
        self.coalescer = Coalescer(quiet: config.coalesce.quiet.duration, maxDelay: config.coalesce.maxDelay.duration)
        self.flush = FlushTracker(watermark: 0, barrierTimeout: Self.barrierTimeout)
        self.detection = DetectorStage(
            config: config, options: options, clock: options.clock, logger: logger, metrics: metrics,
            descriptorReserve: descriptorReserve)
        self.watcher = WatcherStage(config: config, options: options, logger: logger)
        self.accountWork = AccountWork(logger: logger, clock: options.clock, retryAfter: options.storageRetry)
        (inputStream, inputs) = AsyncStream<Input>.makeStream(bufferingPolicy: .unbounded)
        (detectorWakes, detectorWake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        (submitterWakes, submitterWake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        (verifierWakes, verifierWake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let (fleetWakes, fleetWake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        (self.fleetWakes, self.fleetWake) = (fleetWakes, fleetWake)
        if let text = config.state.url, let fleet = config.fleet {
            fleetIdentity = FleetIdentity(fleet, provider: Self.providerName(config))
            fleetURL = text
            fleetGate = ResourceGate()
            fleetHandoff = FleetStateHandoff { fleetWake.yield() }
            fleetLedger = QuotaLedger(account: fleet.account, provider: Self.providerName(config))
        } else {
            fleetLedger = nil
            fleetIdentity = nil
            fleetURL = nil
            fleetGate = nil
            fleetHandoff = nil
        }
        // The stages that use the state: control loop, detector, submitter, verifier (and the
        // fleet stage).
        resourceUsers = ResourceUsers(count: fleetGate == nil ? 4 : 5)
        initialMetricsListen = config.metrics.listen
        metricsGate = options.once || config.metrics.listen.isEmpty ? nil : ResourceGate<Void>()
        descriptorReserve.onChange = { [controlMode] released in controlMode.spareOnly(released) }
    }

    // MARK: - Lifecycle

    /// `run --once`: reconcile, submit what is pending, wait for the submissions, stop.
    /// - Returns: the exit status: 0, or 1 when not everything could be accepted.
    ///
    /// `--once` is one Service (the CLI's `OnceService`) whose run is this function: it opens the
    /// state and the HTTP client here, and closes them here, after the stages' work.
    public func runOnce() async throws -> Int32 {
        let state = try HeldState.open(path: statePath, dryRunOf: options.dryRun ? realStatePath : nil)
        stateGate.opened(.success(state))
        let http = options.dryRun ? nil : TencentCDNClient.makeHTTPClient()
        if let http { httpGate?.opened(.success(http)) }
        let result: Result<Int32, any Error>
        do {
            try await start()
            result = .success(try await drainOnce())
        } catch {
            result = .failure(error)
        }
        shutDown()
        try? await http?.shutdown()
        state.close()
        return try result.get()
    }

    /// Adopts the state and the HTTP client their Services opened, builds the API client, lets the
    /// control socket and the metrics endpoint open (and waits until they are), starts the
    /// watcher, reconciles the tree with the manifest and sends READY=1. The control loop stage
    /// runs it first; the other stages wait on their wake-ups, which nothing sends before it has
    /// finished.
    func start() async throws {
        startedWallMilliseconds = clock.wallMilliseconds()
        for note in config.notes { logger.warning("\(note)") }
        metrics.provider(config.tencentCloud.product.rawValue)
        // A start that ends before the socket and the endpoint were allowed (an error, a stop)
        // releases their services, which would otherwise wait for it (no-op once allowed).
        defer {
            controlGate.withdraw()
            metricsGate?.withdraw()
        }
        try adoptState(try await stateGate.waitUntilOpen())
        if let fleetGate {
            // Away at start: the daemon watches and compares without it, queueing nothing (the
            // detector's commit says the state is unavailable, so the manifest waits), and the
            // fleet stage joins once ``FleetStateService`` connects.
            if let shared = try await fleetGate.waitUntilOpen() {
                try await adoptFleet(shared)
            } else {
                metrics.fleetSubmitter(false)
                metrics.sharedQueueExpected()
            }
        } else {
            try await switchProviderIfChanged()
        }
        if let httpGate {
            try makeClient(http: try await httpGate.waitUntilOpen())
            // Read the secrets now: a later reload that finds them unreadable keeps these.
            do {
                try await provider?.loadCredentials()
            } catch {
                logger.error("cannot read the credentials from \(credentialSource ?? "?") now: \(error); each request will try again")
            }
        }
        if !options.once {
            // The state is held: the control socket and the metrics endpoint open now, each in
            // the Service that owns it, and are open before the tree is watched and READY=1 sent.
            controlGate.allow()
            metricsGate?.allow()
            try await controlGate.waitUntilOpen()
            try await metricsGate?.waitUntilOpen()
            try startMonitor()
        }
        do {
            try await reconcile()
        } catch let error as any StoreTrouble where error.isUnavailable || error.isBusy {
            // A full disk at start: keep running (degraded), the walk is retried by the detector.
            storageDegraded = "\(error)"
            logger.error("cannot write the state at start (\(error)): DEGRADED — still watching; the first comparison is retried")
            coalescer.noteChange(at: clock.now())
            if options.once { throw error }
        }
        if options.once { return }
        try? notifier.ready()
        logger.info(
            "watching \(config.site.root)",
            metadata: [
                "purge.state": "\(statePath)", "purge.dry_run": "\(options.dryRun)",
                "purge.watches": "\(monitor?.status.watchCount ?? 0)",
            ])
        started = true
        submitRequested = true
        updateStatus()
        submitterWake.yield()
        verifierWake.yield()
        fleetWake.yield()
        pingWatchdog(now: clock.now())
        armTimer(now: clock.now())
    }

    /// The control loop stage: starts the daemon, then takes every ``Input`` in order.
    func controlLoopStage() async throws {
        try await start()
        for await input in inputStream {
            try Task.checkCancellation()
            health.begin(.controlLoop, now: clock.now())
            defer { health.end(.controlLoop) }
            try await handle(input)
        }
    }

    /// The watcher stage: forwards each monitor's events to the control loop, in order, and
    /// tells it when a monitor stopped (``WatcherStage/forward(into:)``).
    func watcherStage() async {
        await watcher.forward(into: inputs)
    }

    /// The timer's wake-up at the control loop's deadline: its handling runs the due work and
    /// sends `WATCHDOG=1` while every stage is healthy (``pingWatchdog(now:)``).
    nonisolated func tick() {
        inputs.yield(.tick)
    }

    /// The detector stage: one comparison per closed window, in order.
    func detectorStage() async throws {
        for await _ in detectorWakes { try await compareClosedWindows() }
    }

    /// What the detector does when woken: compares the windows the control loop closed, until
    /// none is left (in-process tests run it where the stage would, on a manual clock).
    func compareClosedWindows() async throws {
        while detection.takeClosedWindows() {
            try Task.checkCancellation()
            flush.detectionStarted()
            health.begin(.detector, now: clock.now())
            defer { health.end(.detector) }
            do {
                let started = clock.now()
                let outcome = try await detection.closeWindow(now: started, monitor: monitor)
                detected(outcome)
                if case .compared(_, let more) = outcome {
                    // Only a comparison that ran answers the flushes waiting on it, with the
                    // queue as it stands right now (their watermark).
                    // (A fleet's daemon not yet on its shared state has no queue to read.)
                    let queued =
                        fleetGate == nil
                        ? try? db.read { try $0.highestQueueID() } : fleet == nil ? nil : try? await store.highestQueueID()
                    flush.detectionFinished(watermark: queued ?? flush.detectionWatermark)
                    // A full walk held back by the rescan backoff: the window opens again for it.
                    if more { coalescer.noteChange(at: started) }
                }
                storageRecovered(.detector)
            } catch let error as any StoreTrouble {
                // The touched paths were put back (detectAndQueue); the window closes again —
                // not while a fleet's shared state has been away since the start (joining opens it).
                try await storageTrouble(error, in: .detector)
                if fleetGate == nil || fleet != nil { detection.windowClosed() }
                coalescer.noteChange(at: clock.now())
            }
            submitRequested = true
            submitterWake.yield()
            if !flush.waiters.isEmpty { inputs.yield(.progress) }
            armTimer(now: clock.now())  // a window it opened (a held-back full walk) has a deadline
        }
    }

    /// A database error in a stage: busy is retried at once, a full disk (or I/O error) puts the
    /// daemon in a reported degraded state — journald error, STATUS=, still watching — and the
    /// stage retries with a backoff until space returns. No detected change is lost: it is
    /// acknowledged in the manifest only with its queue rows, in one transaction.
    func storageTrouble(_ error: any StoreTrouble, in stage: StageHealth.Stage) async throws {
        if error.isBusy {
            logger.warning("the state database is busy (\(error)); retrying")
            try await Task.sleep(for: .milliseconds(200))
            return
        }
        if storageDegraded == nil {
            storageDegraded = "\(error)"
            logger.error(
                "cannot write the state (\(error)): DEGRADED — still watching; retrying every \(options.storageRetry). To end it: \(error.remedy); nothing detected is lost."
            )
            updateStatus()
        }
        health.end(stage)
        try await Task.sleep(for: options.storageRetry)
    }

    func storageRecovered(_ stage: StageHealth.Stage) {
        guard let reason = storageDegraded else { return }
        storageDegraded = nil
        logger.notice("the state can be written again (was: \(reason)); leaving degraded mode")
        updateStatus()
    }

    /// The submitter stage: plans and sends whatever is due, whenever woken (work queued, or
    /// the control loop's tick).
    func submitterStage() async throws {
        for await _ in submitterWakes {
            try Task.checkCancellation()
            try await submitterPass()
            await submitterScheduled()
        }
    }

    /// One wake of the submitter; what it did reaches the verifier, STATUS= and the flush
    /// waiters.
    private func submitterPass() async throws {
        guard let submitter, mayWorkTheQueue() else { return }
        do {
            // The account's other sites first (only the lease holder has any).
            let othersWorked = try await accountWork.submitPasses()
            guard try await submitter.pass() || othersWorked else { return }
            if let summary = submitter.summary { lastBatchSummary = summary }
            if !flush.waiters.isEmpty { inputs.yield(.progress) }
            // Batches it got accepted are the verifier's to poll: it looks at its schedule.
            verifierWake.yield()
            storageRecovered(.submitter)
        } catch let error as PostgresStoreError where error.code == .fenced {
            leaseLostMidPass(error)
        } catch let error as any StoreTrouble {
            try await storageTrouble(error, in: .submitter)
        }
    }

    /// When the submitter has work next, from the state (the earliest retry or quota-reset
    /// attempt, the end of a pause, the next quota re-read): the control loop wakes it then.
    func submitterScheduled() async {
        // A fleet's daemon that does not hold the lease has nothing due: the fleet stage wakes
        // the submitter when it is granted one.
        if mayWorkTheQueue() {
            let own = await submitter?.nextDue()
            let others = await accountWork.nextSubmitDue()
            submitterDue = [own, others].compactMap { $0 }.min()
        } else {
            submitterDue = nil
        }
        armTimer(now: clock.now())
    }

    /// Plans and sends what is due now (``Submitter/submit()``), as a pass does.
    func submit() async throws {
        try await submitter?.submit()
        if let summary = submitter?.summary { lastBatchSummary = summary }
    }

    /// The cached quota as the planner may use it now.
    func currentQuotaView() async -> QuotaView {
        await submitter?.currentQuotaView() ?? QuotaView.documentedDefault
    }

    /// `run --once` after the comparison: send everything due, wait for retries due within the
    /// submit deadline (``Submitter/drain()``).
    func drainOnce() async throws -> Int32 {
        guard let submitter else { return 1 }
        let status = try await submitter.drain()
        if let summary = submitter.summary { lastBatchSummary = summary }
        return status
    }

    /// When the verifier has work next: the earliest poll of an accepted batch (after a pause),
    /// the hourly prune.
    func verifierScheduled() async {
        guard mayWorkTheQueue() else {
            verifierDue = nil  // the fleet stage wakes it when this daemon is granted the lease
            armTimer(now: clock.now())
            return
        }
        // URLs it queued again (a task that failed them) are the submitter's to send.
        if let work = try? await store.workload(nowMilliseconds: clock.wallMilliseconds()), work.pending > 0 {
            submitRequested = true
            submitterWake.yield()
        }
        let own = await verifier?.nextDue(pausedUntil: pausedUntil)
        let others = await accountWork.nextVerifyDue()
        verifierDue = [own, others].compactMap { $0 }.min()
        armTimer(now: clock.now())
    }

    /// The verifier stage: polls the tasks of accepted batches that are due, prefetches what
    /// was purged, and prunes old history — one request at a time, beside the submitter.
    func verifierStage() async throws {
        for await _ in verifierWakes {
            try Task.checkCancellation()
            do {
                try await verifierPass()
                storageRecovered(.verifier)
            } catch let error as PostgresStoreError where error.code == .fenced {
                leaseLostMidPass(error)
            } catch let error as any StoreTrouble {
                try await storageTrouble(error, in: .verifier)
            }
            await verifierScheduled()
        }
    }

    /// One pass of the verifier; what it found reaches the submitter, STATUS= and the flush
    /// waiters.
    func verifierPass() async throws {
        guard let verifier, mayWorkTheQueue() else { return }
        try await accountWork.verifyPasses()
        let outcome = try await verifier.pass(pausedUntil: pausedUntil)
        if let summary = outcome.summary { lastBatchSummary = summary }
        if outcome.requeued { submitRequested = true }
        if !flush.waiters.isEmpty { inputs.yield(.progress) }
    }

    /// Asks the loop to re-read the config (SIGHUP).
    public nonisolated func requestReload() {
        inputs.yield(.reload)
    }

    /// Stops what the stages used, once they have all ended (or at the end of `--once`).
    public func shutDown() {
        try? notifier.stopping()
        watcher.stop()
        inputs.finish()
        for connection in flushClients.values { connection.answer(.error(.stopping, message: "daemon stopping")) }
        flushClients = [:]
        // The state and the HTTP client are closed by the Services that own them.
    }

    /// Takes on the state its Service opened (``HeldState``): the stages' stores over it, batches
    /// a crash left `sending` made due again, the dry run's quota, the detector's counts, the
    /// flush tracker's watermark.
    func adoptState(_ state: HeldState) throws {
        heldState = state
        db = state.db
        store = SQLiteQueueStore(db)
        verifier = Verifier(
            store: store, provider: provider, config: config, options: options, clock: clock, logger: logger, health: health)
        submitter = Submitter(
            store: store, provider: provider, config: config, options: options, clock: clock, logger: logger, health: health)
        var resent = 0
        do {
            resent = try db.transaction { tx in
                var count = 0
                for batch in try tx.batches(state: .sending) {
                    let next = BatchLifecycle.next(batch.state, .interrupted, policy: BatchLifecycle.Policy(options)).state
                    guard let next, next != batch.state else { continue }
                    try tx.updateBatch(id: batch.id, state: next, nextAttemptMilliseconds: .some(nil), nowMilliseconds: clock.wallMilliseconds())
                    count += 1
                }
                return count
            }
        } catch {
            logger.error("cannot reset interrupted batches (\(error)); they are sent again at the next start")
        }
        if resent > 0 {
            logger.warning("\(resent) batch(es) were being sent when the daemon stopped: sending them again")
        }
        if options.dryRun,
            let seeded = try db.read({ tx in
                Submitter.dryRunQuota(try tx.quotaRows(), now: clock.wall(), nowMilliseconds: clock.wallMilliseconds())
            })
        {
            try db.transaction { try $0.replaceQuota(seeded) }
        }
        try? db.transaction {
            try $0.setMetaValue(Self.degradedKey, .null)
            try $0.setMetaValue(Self.waitingForRootKey, .null)
            try $0.setMetaValue(Self.compareTroubleKey, .null)
            try $0.setMetaValue(Self.unreadableFilesKey, .null)
        }
        // A fleet's changes are queued in the shared state only: until it is adopted nothing is
        // committed (the manifest waits, so the change is found again).
        try detection.open(db, commit: fleetHandoff.map { AwayFleetCommit(handoff: $0) })
        // Rows from before this start belong to no flush of this process: only their failures
        // after a flush arrives count for it (an old failure never fails a later deploy).
        flush = FlushTracker(watermark: (try? db.read { try $0.highestQueueID() }) ?? 0, barrierTimeout: Self.barrierTimeout)
    }

    /// Builds the API client (the credential chain, the product's provider) over `http`.
    func makeClient(http: HTTPClient) throws {
        httpClient = http
        let credentials = CredentialChain(
            environment: environment, environmentCredentials: environmentCredentials,
            credentialsFile: config.tencentCloud.credentialsFile,
            cvmRole: config.tencentCloud.cvmRole, metadataEndpoint: config.tencentCloud.metadataEndpoint,
            httpClient: http, logger: logger)
        guard credentials.kind != nil else {
            throw DaemonError.noCredentials
        }
        credentialSource = credentials.detail
        let product = config.tencentCloud.product
        var made = try TencentCDNClient(
            service: product == .edgeone ? .teo : .cdn, endpoint: config.tencentCloud.endpoint, credentials: credentials,
            requestsPerSecond: config.purge.requestsPerSecond, httpClient: http, logger: logger,
            retryPolicy: options.retryPolicy, requestTimeout: options.requestTimeout, now: { [clock] in clock.wall() })
        made.outcomeObserver = { [metrics] action, code in metrics.apiRequest(action: action, code: code) }
        apiClient = made
        switch product {
        case .cdn:
            provider = TencentCDNProvider(
                client: made, area: config.purge.area == .any ? nil : config.purge.area.rawValue, urlEncode: config.purge.urlEncode)
        case .edgeone:
            provider = EdgeOneProvider(client: made, zoneID: config.tencentCloud.zoneID ?? "", prefixMethod: config.purge.prefixMethod.rawValue)
        }
    }

    func startMonitor() throws {
        // A new monitor says again whether the root is missing (its first event); until then the
        // old wait is void (a reload moved the root, or the root appeared while none watched).
        detection.forgetRootWait()
        try watcher.start()
    }

    // MARK: - The loop

    func handle(_ input: Input) async throws {
        let now = clock.now()
        switch input {
        case .site(let event):
            absorb(event, now: now)
        case .siteEnded(let generation) where !Task.isCancelled && watcher.ended(generation: generation, now: now):
            // The watcher stopped by itself: never keep running blind. Walk the tree (nothing
            // seen meanwhile is lost) and start watching again.
            logger.error("the inotify watcher stopped; starting it again and walking the whole tree")
            detection.owe(.overflow)
            coalescer.noteChange(at: now)
        case .siteEnded:
            break  // a monitor replaced by a reload
        case .control(let connection):
            logger.info(
                "control: \(connection.command.verb)",
                metadata: [
                    "purge.peer_uid": "\(connection.peer.map { "\($0.uid)" } ?? "unknown")",
                    "purge.peer_pid": "\(connection.peer.map { "\($0.pid)" } ?? "unknown")",
                ])
            switch connection.command {
            case .purge where fleetGate != nil && fleet == nil:
                // Not on the shared state yet (away since the start): nowhere to queue them.
                connection.answer(
                    .error(
                        .refused,
                        message:
                            "nothing queued: the fleet's shared state has not been reachable since the daemon started (\(fleetHandoff?.away ?? "connecting")); try again once it is"
                    ))
            case .purge(let items) where fleetGate != nil:
                // The shared state is not awaited by the control loop (it may be slow or away):
                // queued beside it, answered when done.
                Task { await self.enqueueAndAnswer(items, connection) }
            case .purge(let items):
                await enqueueAndAnswer(items, connection)  // SQLite never suspends
            case .failures where fleetGate != nil:
                connection.answer(.error(.refused, message: "failures --retry/--forget are not available on a fleet's daemon yet"))
            case .failures(let action, let urls):
                do {
                    let outcome = try db.transaction {
                        try FailureActions.apply(action, urls: urls, in: $0, nowMilliseconds: clock.wallMilliseconds())
                    }
                    logger.notice("failures --\(action.rawValue): \(outcome.applied) URL(s)")
                    if action == .retry {
                        submitter?.quotaBook.changed()
                        submitRequested = true
                        submitterWake.yield()
                    }
                    connection.answer(.failuresApplied(applied: outcome.applied, unmatched: outcome.unmatched))
                } catch {
                    connection.answer(.error(.refused, message: "\(error)"))
                }
            case .flush(wait: false, let full):
                requestFlush(full: full, now: now)
                connection.answer(.flushRequested)
            case .flush(wait: true, let full):
                let barrier = requestFlush(full: full, now: now)
                // Answered once a comparison that starts after the barrier (or, for a full walk,
                // after this moment) has queued its URLs.
                flushClients[flush.wait(behind: barrier, nowMilliseconds: clock.wallMilliseconds())] = connection
            case .ping:
                connection.answer(.pong)  // the socket's thread answers it; here for completeness
            }
        case .reload:
            await reload()
        case .progress:
            // Only the waiters: waking the stages from here would let a stage that reports
            // progress wake itself again at once.
            try? answerWaiters()
            return
        case .tick:
            break  // the timer: due work below
        }
        do {
            try runDueWork(now: clock.now())
        } catch let error as any StoreTrouble {
            // A busy or failing read on the control loop: the next tick tries again.
            logger.debug("control loop: \(error)")
        }
    }

    /// `purge` through the socket: queued, and the client told how many were added.
    func enqueueAndAnswer(_ items: [PurgeItem], _ connection: ControlConnection) async {
        do {
            let (added, total) = try await enqueueManual(items)
            workQueued()
            connection.answer(.queued(added: added, total: total))
        } catch {
            connection.answer(.error(.refused, message: "\(error)"))
        }
    }

    /// URLs were queued (by hand, a retry of failures): the submitter plans them at once, or when
    /// a pause ends.
    func workQueued() {
        submitRequested = true
        submitterWake.yield()
    }

    /// The `meta` key that tells `status` (and `status --check`) that watching is degraded.
    public static let degradedKey = "daemon.degraded"
    /// The `meta` key that tells `status` the daemon waits for its site root to exist.
    public static let waitingForRootKey = "daemon.waiting_for_root"
    /// The `meta` key that tells `status` why the tree cannot be compared now (too many open
    /// files…); nil while comparisons run.
    public static let compareTroubleKey = "daemon.compare_trouble"
    /// The provider the state's batches and quota belong to (`cdn`, `edgeone zone-…`).
    public static let providerKey = "daemon.provider"

    public static func providerName(_ config: SiteConfig) -> String {
        [config.tencentCloud.product.rawValue, config.tencentCloud.zoneID].compactMap { $0 }.joined(separator: " ")
    }

    /// The state was last used with another provider (or zone): its quota readings are not this
    /// provider's, and its unfinished batches (planned, sent, accepted, waiting for the quota)
    /// cannot be polled here. They are planned again for this provider (at least once), and the
    /// quota is read afresh.
    func switchProviderIfChanged() async throws {
        let current = Self.providerName(config)
        let recorded = try db.read { try $0.metaValue(Self.providerKey) }
        defer { try? db.transaction { try $0.setMetaValue(Self.providerKey, .text(current)) } }
        guard case .text(let previous)? = recorded, previous != current else { return }
        try await store.replaceQuota([])
        var moved = 0
        for state in [BatchState.planned, .sending, .accepted, .waitingQuota] {
            for batch in try await store.batches(in: state, dueBy: nil) {
                try await store.dissolve(batch: batch.id)
                moved += 1
            }
        }
        logger.notice(
            "the provider changed from \(previous) to \(current): \(moved) unfinished batch(es) are planned again for it, and its quota is read afresh"
        )
        if moved > 0 { submitter?.request() }
    }

    /// How many files cannot be read (EACCES and the like) and one of them, for `status`.
    public static let unreadableFilesKey = "daemon.unreadable_files"

    /// `purge` through the socket: each item a URL, with the path it was mapped from when it was
    /// given as a path, queued like detected changes (kind `manual`).
    func enqueueManual(_ items: [PurgeItem]) async throws -> (added: Int, total: Int) {
        let area = config.purge.area.rawValue
        // The socket is open to the state directory's group: check what the CLI checks.
        for item in items {
            guard ManualTarget.scheme(of: Array(item.url.utf8))?.lowercased().hasPrefix("http") == true,
                !item.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F })
            else { throw ControlSocketError("not an http(s) URL: \(item.url.prefix(200))") }
        }
        let added = try await store.enqueue(
            items.map { NewQueueRow(url: $0.url, area: area, path: $0.path, kind: .manual) }, nowMilliseconds: clock.wallMilliseconds())
        if added > 0 { submitter?.quotaBook.changed() }
        return (added, items.count)
    }

    func absorb(_ event: SiteEvent, now: ContinuousClock.Instant) {
        if detection.absorb(event) { coalescer.noteChange(at: now) }
        switch event {
        case .touched, .rescanNeeded, .rootUnavailable:
            break  // the detector's (above)
        case .degraded(let error):
            try? db.transaction { try $0.setMetaValue(Self.degradedKey, .text("watch limit reached")) }
            logger.error("\(error)", metadata: MessageID.watchLimitReached.metadata(["purge.required_watches": "\(error.requiredWatchLimit ?? 0)"]))
        case .watchesRestored:
            try? db.transaction { try $0.setMetaValue(Self.degradedKey, .null) }
            logger.notice("the watches fit again: leaving degraded mode")
        case .barrier(let id):
            barrierReached(id)
        }
        updateStatus()
    }

    /// Closes the window for a flush (SPEC §6: `flush`, `flush --wait`).
    ///
    /// A deploy's writes have returned before its `flush`, so their inotify events are already in
    /// the kernel's queue: the watcher drains it and answers with a barrier, and the window
    /// closes on the touched paths alone — the cost of the change, not of the tree. The whole
    /// tree is compared instead with `--full`, and whenever the watcher cannot vouch for its
    /// events: not running, degraded (watch limit), a full walk already owed (overflow, a failed
    /// watch, a root swap), or a barrier not answered within ``barrierTimeout``.
    /// - Returns: the barrier asked for, or nil when the window closed at once for a full walk.
    @discardableResult
    func requestFlush(full: Bool, now: ContinuousClock.Instant) -> UInt64? {
        let watcherVouches = monitor.map { $0.status.isRunning && !$0.status.isDegraded } ?? false
        if !full, watcherVouches, !detection.owesFullWalk, let monitor, monitor.barrier(flush.nextBarrierID) {
            return flush.barrierAsked(at: now)
        }
        // A full walk owed anyway runs now, whatever the rescan backoff says: a deploy waits on it.
        detection.requestFullWalk()
        coalescer.flush()
        return nil
    }

    /// How long a flush waits for the watcher's barrier before it compares the whole tree.
    static let barrierTimeout: Duration = .seconds(2)

    /// The watcher has delivered every event queued before barrier `id`: the flushes that asked
    /// for it (or an earlier one) close the window now, on what the watcher reported.
    func barrierReached(_ id: UInt64) {
        flush.barrierReached(id)
        // The drain itself may have found lost events or a root swap: then the flush needs the
        // full walk now, whatever the rescan backoff says (as when the flush arrived with one owed).
        if detection.owesFullWalk { detection.requestFullWalk() }
        coalescer.flush()
    }

    /// A barrier the watcher did not answer in time (it stopped, or was replaced by a reload):
    /// the flushes waiting on it compare the whole tree instead.
    func barrierOverdue(now: ContinuousClock.Instant) {
        guard flush.barrierOverdue(now: now) else { return }
        logger.warning("the watcher did not answer a flush's barrier within \(Self.barrierTimeout): comparing the whole tree")
        detection.requestFullWalk()
        coalescer.flush()
    }

    /// The control loop's share: never the network, never hashing (SPEC §6). Each stage is
    /// woken when asked to or when its own due time has come — never on a tick — and the timer
    /// is armed for the earliest deadline left (``armTimer(now:)``).
    func runDueWork(now: ContinuousClock.Instant) throws {
        defer { armTimer(now: clock.now()) }
        pingWatchdog(now: now)
        if let restartAt = watcher.restartAt, now >= restartAt {
            // A new monitor says again whether the root is missing (``startMonitor()``).
            detection.forgetRootWait()
            _ = watcher.restartIfDue(now: now)
        }
        barrierOverdue(now: now)
        if detection.takeDueRetry(now: now) { detectorWake.yield() }
        // A fleet's daemon not on its shared state yet compares nothing (nothing could be
        // queued): the touched paths wait, and joining opens a window for them.
        if fleetGate == nil || fleet != nil, coalescer.takeIfDue(at: now) {
            detection.windowClosed()
            detectorWake.yield()
        }
        if submitRequested || submitterDue.map({ now >= $0 }) == true {
            submitterDue = nil  // set again when the submitter has run
            submitterWake.yield()
        }
        if verifierDue.map({ now >= $0 }) == true {
            verifierDue = nil
            verifierWake.yield()
        }
        if fleetDue.map({ now >= $0 }) == true {
            fleetDue = nil
            fleetWake.yield()
        }
        if !flush.waiters.isEmpty { try answerWaiters() }
        updateStatus()
    }

    /// Arms the timer for the earliest deadline of the control loop and the stages (nil: none,
    /// and the daemon sleeps until an event). Never sooner than ``DaemonOptions/minimumTimerGap``
    /// from now, so a due time that fails to move on costs a few wake-ups, not a busy loop.
    func armTimer(now: ContinuousClock.Instant) {
        var deadlines: [ContinuousClock.Instant?] = [
            fleetGate == nil || fleet != nil ? coalescer.deadline : nil, nextWatchdogCheck, watcher.restartAt, detection.retryAt,
            submitterDue, verifierDue, fleetDue,
        ]
        deadlines.append(flush.barrierDeadline)
        // While a `flush --wait` waits, a client that gave up is noticed within a second.
        if !flush.waiters.isEmpty { deadlines.append(now.advanced(by: options.recheckInterval)) }
        guard let earliest = deadlines.compactMap({ $0 }).min() else {
            timer.arm(nil)
            return
        }
        timer.arm(max(earliest, now.advanced(by: options.minimumTimerGap)))
    }

    /// `WATCHDOG=1` at half the interval, and only while every stage is healthy: a stage busy
    /// longer than its bound (a hung hash, a request past its deadline) stops the pings and lets
    /// systemd restart the daemon.
    func pingWatchdog(now: ContinuousClock.Instant) {
        guard let interval = notifier.watchdogInterval else { return }
        nextWatchdogCheck = lastWatchdog.advanced(by: interval / 2)
        guard lastWatchdog.duration(to: now) >= interval / 2 else { return }
        // Held back (a stage stuck): looked at again shortly, so the ping resumes with progress.
        nextWatchdogCheck = now.advanced(by: min(options.recheckInterval, interval / 2))
        // The control loop never awaits I/O: a minute on one input means it hangs.
        let requestBound = options.submitDeadline + options.requestTimeout + .seconds(30)
        let bounds: [StageHealth.Stage: Duration] = [
            .controlLoop: .seconds(60), .detector: options.detectBound, .submitter: requestBound, .verifier: requestBound,
        ]
        if let stuck = health.stuck(now: now, bounds: bounds) {
            if !health.reportedStuck {
                health.reportedStuck = true
                logger.critical("the \(stuck) stage has made no progress within its bound: holding WATCHDOG=1 back")
            }
            return
        }
        health.reportedStuck = false
        try? notifier.watchdog()
        lastWatchdog = now
        nextWatchdogCheck = now.advanced(by: interval / 2)
    }

    // MARK: - Detect and queue

    /// The startup reconcile (``DetectorStage/reconcile(monitor:)``).
    func reconcile() async throws {
        let outcome = try await detection.reconcile(monitor: monitor)
        detected(outcome)
        armTimer(now: clock.now())
    }

    /// What a comparison leaves to the rest of the daemon: the submitter plans what it queued;
    /// out of descriptors, the flushes waiting are told to try again (their connections are
    /// descriptors too; the socket serves only its spare meanwhile: ``DescriptorReserve/onChange``).
    func detected(_ outcome: DetectorStage.Outcome) {
        if outcome.queued > 0 { submitter?.quotaBook.changed() }
        if outcome == .outOfDescriptors {
            refuseWaiters("the daemon cannot compare the tree now: out of file descriptors")
        }
    }

    // MARK: - Reload

    func reload() async {
        try? notifier.reloading()
        defer { try? notifier.ready() }
        let fresh: SiteConfig
        do {
            fresh = try SiteConfig.load(path: config.sourcePath, environment: environment)
        } catch {
            logger.error("reload rejected, keeping the running configuration: \(error)")
            return
        }
        if fresh.tencentCloud.product != config.tencentCloud.product || fresh.tencentCloud.zoneID != config.tencentCloud.zoneID {
            logger.error(
                "reload rejected, keeping the running configuration: [tencentcloud] product or zone_id changed (\(Self.providerName(config)) → \(Self.providerName(fresh))); switching providers needs a restart (systemctl restart), which plans the old provider's unfinished batches again for the new one"
            )
            return
        }
        if fresh.state.url != config.state.url || fresh.fleet != config.fleet {
            // The shared state and this origin's place in it are opened at start, by their
            // Service: a reload does not move them.
            logger.error(
                "reload rejected, keeping the running configuration: [state] url or [fleet] changed; moving to another state or fleet needs a restart (systemctl restart)"
            )
            return
        }
        for note in fresh.notes { logger.warning("\(note)") }
        let old = config
        config = fresh
        coalescer = Coalescer(quiet: fresh.coalesce.quiet.duration, maxDelay: fresh.coalesce.maxDelay.duration)
        if !detection.isIdle { coalescer.noteChange(at: clock.now()) }
        // Every reload reads every credential source again (SPEC §6: a rotated key is picked up
        // without a restart). The new client is built and its credentials loaded before the old
        // one is retired; if that fails, the old one keeps working.
        if !options.dryRun {
            // The HTTP client stays (a request in flight on it must not be cancelled); only the
            // API client with its credential chain is new, and it replaces the old one only once
            // its credentials could be read (not for the instance role, whose read is a request).
            let oldProvider = provider
            let oldClient = apiClient
            let oldSource = credentialSource
            do {
                if let httpClient { try makeClient(http: httpClient) }
                if config.tencentCloud.cvmRole == false || credentialSource?.contains("metadata") == false {
                    try await provider?.loadCredentials()
                }
                logger.info("reload: credentials read again from \(credentialSource ?? "?")")
                // The account's other sites send through the new client too (one rate limiter).
                accountWork.replaceProviders { siteProvider(for: $0) }
            } catch {
                provider = oldProvider
                apiClient = oldClient
                credentialSource = oldSource
                logger.error("reload: cannot build the new API client, keeping the old one: \(error)")
            }
        }
        if fresh.site != old.site, !options.once {
            detection.forgetRootWait()
            watcher.replace(now: clock.now())
            armTimer(now: clock.now())
            detection.owe(.rootReplaced(fresh.site.root))
            coalescer.noteChange(at: clock.now())
        }
        logger.notice("configuration reloaded from \(fresh.sourcePath)", metadata: MessageID.configReloaded.metadata())
    }

    // MARK: - Status

    func updateStatus() {
        guard let db else { return }
        metrics.setWatches(monitor?.status.watchCount ?? 0)
        let files = detection.filesTracked
        let pendingURLs = (try? db.read { try $0.unsentURLCount() }) ?? 0
        // STATUS= is set from the synchronous control loop: read through the connection.
        let quotaLeft =
            QuotaBook.view(
                (try? db.read { try $0.quotaRows() }) ?? [], area: config.purge.area == .any ? nil : config.purge.area.rawValue,
                now: clock.wall()
            ).urlAvailable
        var line = "\(files) files, \(pendingURLs) URLs pending, last batch \(lastBatchSummary), quota left \(quotaLeft)"
        if let fleet {
            // The queue and the quota are the fleet's, in PostgreSQL (`status` reads them there).
            let role = fleet.maySubmit(now: clock.wallMilliseconds()) ? "the submitter" : "watching"
            line = "\(files) files, fleet origin \(fleet.identity.origin) of \(fleet.identity.site): \(role), last batch \(lastBatchSummary)"
            if let trouble = fleet.trouble { line += ", DEGRADED: the fleet's state cannot be reached (\(trouble.prefix(120)))" }
        } else if let fleetIdentity, let away = fleetHandoff?.away {
            line =
                "\(files) files, fleet origin \(fleetIdentity.origin) of \(fleetIdentity.site): DEGRADED: the fleet's state has not been reachable since the start (\(away.prefix(120))); watching, nothing queued yet"
        }
        if monitor?.status.isDegraded == true { line += ", DEGRADED: watch limit reached" }
        if let waitingForRoot = detection.waitingForRoot { line += ", WAITING for the site root \(waitingForRoot) to exist" }
        if detection.waitingForRoot == nil, detection.failure != nil { line += ", TROUBLE: cannot compare the tree now (see the log)" }
        if storageDegraded != nil, fleetGate == nil { line += ", DEGRADED: cannot write the state (disk full?)" }
        if let storageDegraded, fleet != nil { line += ", DEGRADED: cannot queue (\(storageDegraded.prefix(120)))" }
        if options.dryRun { line = "dry run: " + line }
        // Recorded once sent: a line that could not go out is sent again at the next update.
        if line != lastStatusLine, (try? notifier.status(line)) != nil { lastStatusLine = line }
    }
}

/// ``StageHealth`` shared by the daemon's watchdog and the stage services that report into it.
final class StageBoard: Sendable {
    private let state = Mutex(StageHealth())

    func begin(_ stage: StageHealth.Stage, now: ContinuousClock.Instant) { state.withLock { $0.begin(stage, now: now) } }
    func end(_ stage: StageHealth.Stage) { state.withLock { $0.end(stage) } }
    func stuck(now: ContinuousClock.Instant, bounds: [StageHealth.Stage: Duration]) -> StageHealth.Stage? {
        state.withLock { $0.stuck(now: now, bounds: bounds) }
    }
    var reportedStuck: Bool {
        get { state.withLock { $0.reportedStuck } }
        set { state.withLock { $0.reportedStuck = newValue } }
    }
}

/// Per-stage progress for the watchdog: a stage is idle, or busy since an instant.
struct StageHealth {
    enum Stage: String, CustomStringConvertible, CaseIterable {
        case controlLoop = "control loop"
        case detector, submitter, verifier
        var description: String { rawValue }
    }
    private var busySince: [Stage: ContinuousClock.Instant] = [:]
    var reportedStuck = false

    /// A unit of bounded work starts (a comparison, one request with its retries).
    mutating func begin(_ stage: Stage, now: ContinuousClock.Instant) { busySince[stage] = now }
    mutating func end(_ stage: Stage) { busySince[stage] = nil }

    /// The first stage busy for longer than its bound, if any.
    func stuck(now: ContinuousClock.Instant, bounds: [Stage: Duration]) -> Stage? {
        Stage.allCases.first { stage in
            guard let since = busySince[stage], let bound = bounds[stage] else { return false }
            return since.duration(to: now) > bound
        }
    }
}

public enum DaemonError: Error, CustomStringConvertible {
    case noCredentials
    /// Another process writes this state file (exit 75: try again later).
    case stateLocked(StateLock.Error)
    /// `[metrics] listen` cannot be served (address in use, not an address).
    case metricsUnavailable(String)
    /// `run --once` found no site root to compare.
    case rootUnavailable(String)
    /// `run --once` could not read part of the tree for now (too many open files, EIO…).
    case comparisonIncomplete(String)
    /// A fleet's shared state cannot be opened at start (unreachable, refused, a schema newer
    /// than this build): exit 75, try again later.
    case fleetStateUnavailable(String)

    public var description: String {
        switch self {
        case .metricsUnavailable(let message):
            message
        case .rootUnavailable(let root):
            "cannot compare the site root \(root) (it does not exist, or cannot be opened now): nothing was sent"
        case .fleetStateUnavailable(let reason):
            "cannot open the fleet's shared state: \(reason)"
        case .comparisonIncomplete(let reason):
            "cannot compare the whole tree now (\(reason)): nothing was sent; try again later"

        case .stateLocked(let error) where error.errno != nil:
            "\(error): the state directory's permissions do not let this user write the state"
        case .stateLocked(let error):
            "\(error): stop it first (systemctl stop purgewatch@SITE), or use `purgewatch flush` / `purge` to reach it"
        case .noCredentials:
            "no Tencent Cloud credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, provide systemd credentials tencentcloud-secret-id and tencentcloud-secret-key (LoadCredential=), set credentials_file, or cvm_role = true — or use --dry-run"
        }
    }
}
