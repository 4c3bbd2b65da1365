import AsyncHTTPClient
import Foundation
import Logging
import PurgeCore
import Reporting
import SiteWatch
import StateStore
import TencentCDN

/// The daemon: reconcile, watch, coalesce, queue, plan, submit, verify (SPEC §1).
///
/// One actor owns the pipeline and runs one loop. Everything that happens arrives as an
/// ``Input`` on one stream — inotify events, control-socket commands, SIGHUP, a periodic tick —
/// and is handled in order, so the state machines (``Coalescer``, ``PendingChanges``) need no
/// locks. Every change crosses SQLite before it is acknowledged: the manifest and the queue rows
/// commit together, batches are written `planned` before they are sent, and a batch left
/// `sending` by a crash is sent again at the next start.
public actor PurgeDaemon {
    enum Input: Sendable {
        case site(SiteEvent)
        /// The event stream of monitor number `generation` ended.
        case siteEnded(generation: Int)
        case control(ControlConnection)
        case tick
        case reload
    }

    public private(set) var config: SiteConfig
    let options: DaemonOptions
    let logger: Logger
    let notifier: SystemdNotifier
    let environment: [String: String]
    let statePath: String

    var db: StateDatabase!
    var client: TencentCDNClient?
    var httpClient: HTTPClient?
    var monitor: SiteMonitor?
    var monitorTask: Task<Void, Never>?
    /// Counts monitors started, so the end of a replaced one (a reload) is not taken for a failure.
    var monitorGeneration = 0
    /// When a monitor that stopped on its own is started again (nil: none is waiting).
    var monitorRestartAt: ContinuousClock.Instant?
    var control: ControlServer?
    var inputs: AsyncStream<Input>.Continuation?

    var coalescer: Coalescer<ContinuousClock.Instant>
    var pending = PendingChanges()
    var submitRequested = false
    var waiters: [(upTo: Int64, connection: ControlConnection)] = []
    var pausedUntil: ContinuousClock.Instant?
    var pauseLevel = 0
    var verifyPolls: [Int64: Int] = [:]
    var lastQuotaWarningReset: Date?
    var lastWatchdog = ContinuousClock.now
    var lastStatusLine = ""
    /// Manifest rows, counted after each detection rather than on every tick.
    var filesTracked = 0
    var lastBatchSummary = "none yet"
    var needsRecoveryNotice: RescanReason?
    /// A flush compares the whole tree: the deploy's last inotify events may not have reached
    /// the loop yet when its `flush` arrives, and a stat-only walk of an unchanged tree is cheap.
    var flushRequested = false

    public init(
        config: SiteConfig, options: DaemonOptions, logger: Logger, notifier: SystemdNotifier,
        environment: [String: String]
    ) {
        self.config = config
        self.options = options
        self.logger = logger
        self.notifier = notifier
        self.environment = environment
        self.statePath = options.dryRun ? config.dryRunStatePath : config.state.path
        self.coalescer = Coalescer(quiet: config.coalesce.quiet.duration, maxDelay: config.coalesce.maxDelay.duration)
    }

    // MARK: - Lifecycle

    /// Runs until cancelled (SIGTERM) or, with `--once`, until the queue is submitted.
    /// - Returns: the exit status: 0, or 1 when `--once` could not get everything accepted.
    public func run() async throws -> Int32 {
        try openState()
        defer { shutDown() }
        if !options.dryRun { try makeClient() }

        let (stream, continuation) = AsyncStream<Input>.makeStream(bufferingPolicy: .unbounded)
        inputs = continuation
        if !options.once {
            control = try ControlServer(path: ControlSocket.path(forState: statePath)) { connection in
                continuation.yield(.control(connection))
            }
            try startMonitor()
        }
        try await reconcile()
        if options.once {
            return try await drainOnce()
        }
        try? notifier.ready()
        logger.info(
            "watching \(config.site.root)",
            metadata: [
                "purge.state": "\(statePath)", "purge.dry_run": "\(options.dryRun)",
                "purge.watches": "\(monitor?.status.watchCount ?? 0)",
            ])
        submitRequested = true
        updateStatus()

        let ticker = Task { [tick = options.tick] in
            while !Task.isCancelled {
                try? await Task.sleep(for: tick)
                continuation.yield(.tick)
            }
        }
        defer { ticker.cancel() }
        for await input in stream {
            try Task.checkCancellation()
            try await handle(input)
        }
        return 0
    }

    /// Asks the loop to re-read the config (SIGHUP).
    public nonisolated func requestReload() {
        Task { await self.inputs?.yield(.reload) }
    }

    func shutDown() {
        try? notifier.stopping()
        monitor?.stop()
        monitorTask?.cancel()
        control?.stop()
        for waiter in waiters { waiter.connection.answer("error daemon stopping") }
        waiters = []
        if let httpClient { try? httpClient.syncShutdown() }
        httpClient = nil
        db?.close()
    }

    func openState() throws {
        let directory = (statePath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if options.dryRun {
            try StateFiles.prepareDryRunCopy(real: config.state.path, dryRun: statePath)
        }
        db = try StateDatabase.open(path: statePath, migrations: QueueSchema.migrations)
        let resent = try db.transaction { try $0.resetInterruptedBatches(nowMilliseconds: nowMilliseconds()) }
        if resent > 0 {
            logger.warning("\(resent) batch(es) were being sent when the daemon stopped: sending them again")
        }
        if options.dryRun { try seedDryRunQuota() }
        filesTracked = try db.read { try $0.manifestCount() }
    }

    func makeClient() throws {
        let http = TencentCDNClient.makeHTTPClient()
        httpClient = http
        let credentials = CredentialChain(
            environment: environment, credentialsFile: config.tencentCloud.credentialsFile,
            cvmRole: config.tencentCloud.cvmRole, metadataEndpoint: config.tencentCloud.metadataEndpoint,
            httpClient: http, logger: logger)
        guard credentials.kind != nil else {
            throw DaemonError.noCredentials
        }
        client = try TencentCDNClient(
            endpoint: config.tencentCloud.endpoint, credentials: credentials,
            requestsPerSecond: config.purge.requestsPerSecond, httpClient: http, logger: logger,
            retryPolicy: options.retryPolicy, requestTimeout: options.requestTimeout)
    }

    var exclusion: ExclusionRule {
        ExclusionRule(config.mapper.excludeSet)
    }

    func startMonitor() throws {
        let monitor = SiteMonitor(root: config.site.root, exclude: exclusion, options: options.monitor, logger: logger)
        let events = try monitor.start()
        self.monitor = monitor
        monitorGeneration += 1
        let generation = monitorGeneration
        let continuation = inputs
        monitorTask = Task {
            for await event in events { continuation?.yield(.site(event)) }
            continuation?.yield(.siteEnded(generation: generation))
        }
    }

    // MARK: - The loop

    func handle(_ input: Input) async throws {
        let now = ContinuousClock.now
        switch input {
        case .site(let event):
            absorb(event, now: now)
        case .siteEnded(let generation) where generation == monitorGeneration && !Task.isCancelled:
            // The watcher stopped by itself: never keep running blind. Walk the tree (nothing
            // seen meanwhile is lost) and start watching again.
            logger.error("the inotify watcher stopped; starting it again and walking the whole tree")
            monitor = nil
            monitorRestartAt = now
            pending.requestFullRescan(.overflow)
            coalescer.noteChange(at: now)
        case .siteEnded:
            break  // a monitor replaced by a reload
        case .control(let connection):
            switch connection.command {
            case "flush":
                coalescer.flush()
                flushRequested = true
                submitRequested = true
                connection.answer("ok")
            case "flush-wait":
                coalescer.flush()
                flushRequested = true
                submitRequested = true
                // The watermark is taken after the window is closed below.
                waiters.append((upTo: -1, connection: connection))
            default:
                connection.answer("error unknown command \(connection.command)")
            }
        case .reload:
            await reload()
        case .tick:
            break
        }
        try await runDueWork(now: ContinuousClock.now)
    }

    func absorb(_ event: SiteEvent, now: ContinuousClock.Instant) {
        switch event {
        case .touched, .rescanNeeded:
            if case .rescanNeeded(let reason) = event {
                logger.warning("out of sync: \(reason); walking the whole tree against the manifest")
                needsRecoveryNotice = reason
            }
            pending.absorb(event)
            coalescer.noteChange(at: now)
        case .degraded(let error):
            logger.error("\(error)", metadata: MessageID.watchLimitReached.metadata(["purge.required_watches": "\(error.requiredWatchLimit ?? 0)"]))
        case .watchesRestored:
            logger.notice("the watches fit again: leaving degraded mode")
        case .rootUnavailable(let reason):
            logger.warning("site root unavailable: \(reason); waiting for it to come back")
        }
        updateStatus()
    }

    func runDueWork(now: ContinuousClock.Instant) async throws {
        pingWatchdog(now: now)
        if let restartAt = monitorRestartAt, now >= restartAt {
            do {
                try startMonitor()
                monitorRestartAt = nil
            } catch {
                logger.error("cannot watch \(config.site.root): \(error); trying again in 5 s")
                monitorRestartAt = now.advanced(by: .seconds(5))
            }
        }
        if coalescer.takeIfDue(at: now) {
            try await closeWindow(now: now)
            submitRequested = true
        }
        for index in waiters.indices where waiters[index].upTo < 0 {
            waiters[index].upTo = try db.read { try $0.highestQueueID() }
        }
        if submitRequested || hasDueBatches() {
            submitRequested = false
            try await submit()
        }
        try await verify()
        try answerWaiters()
        updateStatus()
    }

    func pingWatchdog(now: ContinuousClock.Instant) {
        guard let interval = notifier.watchdogInterval else { return }
        if lastWatchdog.duration(to: now) >= interval / 2 {
            try? notifier.watchdog()
            lastWatchdog = now
        }
    }

    // MARK: - Detect and queue

    func reconcile() async throws {
        pending.requestFullRescan(.overflow)
        try await detectAndQueue(now: .now, reconcile: true)
    }

    func closeWindow(now: ContinuousClock.Instant) async throws {
        logger.debug("coalescing window closed", metadata: ["purge.flush": "\(flushRequested)", "purge.full_walk_pending": "\(pending.fullRescanReason.map { "\($0)" } ?? "no")"])
        if flushRequested {
            flushRequested = false
            _ = pending.take(now: now)  // the full walk below covers every touched path
            try await detectAndQueue(now: now, reconcile: false, scope: .full)
        } else {
            try await detectAndQueue(now: now, reconcile: false)
        }
        // A full walk held back by the rescan backoff: come back when the window closes again.
        if !pending.isEmpty { coalescer.noteChange(at: now) }
    }

    func detectAndQueue(now: ContinuousClock.Instant, reconcile: Bool, scope forced: DetectionScope? = nil) async throws {
        guard let scope = forced ?? pending.take(now: now) else { return }
        let detector = Detector(root: config.site.root, exclude: exclusion)
        let detection: Detection
        do {
            detection = try await detector.detect(scope, in: db)
        } catch let error as SiteWatchError {
            logger.warning("cannot compare the tree now: \(error); will retry")
            pending.restore(scope, reason: .rootReplaced(config.site.root))
            coalescer.noteChange(at: now)
            return
        }
        logger.debug(
            "compared \(scope == .full ? "the whole tree" : "touched paths") with the manifest",
            metadata: [
                "purge.files_scanned": "\(detection.filesScanned)", "purge.files_hashed": "\(detection.filesHashed)",
                "purge.changes": "\(detection.changes.count)",
            ])
        if detection.isEmpty { return }
        let kinds = Set(config.purge.on.map(\.rawValue))
        let mapper = config.mapper
        let area = config.purge.area.rawValue
        let queued = try await detector.commit(detection, in: db) { tx -> Int in
            var added = 0
            let time = nowMilliseconds()
            for change in detection.changes where kinds.contains(change.kind.rawValue) {
                for url in mapper.map(change.path).urls {
                    if try tx.enqueue(url: url, area: area, path: change.path.bytes, kind: change.kind.rawValue, nowMilliseconds: time) {
                        added += 1
                    }
                }
            }
            return added
        }
        filesTracked = (try? db.read { try $0.manifestCount() }) ?? filesTracked
        if detection.isBaseline {
            logger.notice("recorded the baseline: \(detection.filesScanned) files; nothing is purged for a new site")
            return
        }
        let counts = Dictionary(grouping: detection.changes, by: \.kind).mapValues(\.count)
        var metadata: Logger.Metadata = [
            "purge.created": "\(counts[.created] ?? 0)", "purge.modified": "\(counts[.modified] ?? 0)",
            "purge.deleted": "\(counts[.deleted] ?? 0)", "purge.url_count": "\(queued)",
            "purge.files_hashed": "\(detection.filesHashed)",
        ]
        if let reason = needsRecoveryNotice, case .full = scope, !reconcile {
            needsRecoveryNotice = nil
            metadata = MessageID.outOfSyncRecovered.metadata(metadata)
            logger.notice("recovered from \(reason): \(detection.changes.count) change(s) found by a full walk", metadata: metadata)
        } else if !detection.changes.isEmpty || queued > 0 {
            logger.info("\(detection.changes.count) change(s), \(queued) URL(s) queued", metadata: metadata)
        }
        for path in detection.unreadable {
            logger.warning("cannot read \(path): left as it was in the manifest")
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
        let old = config
        config = fresh
        coalescer = Coalescer(quiet: fresh.coalesce.quiet.duration, maxDelay: fresh.coalesce.maxDelay.duration)
        if !pending.isEmpty { coalescer.noteChange(at: .now) }
        if fresh.purge.requestsPerSecond != old.purge.requestsPerSecond || fresh.tencentCloud != old.tencentCloud,
            !options.dryRun
        {
            do {
                if let httpClient { try await httpClient.shutdown() }
                try makeClient()
            } catch {
                logger.error("reload: cannot rebuild the API client: \(error)")
            }
        }
        if fresh.site != old.site, !options.once {
            monitor?.stop()
            monitorTask?.cancel()
            do {
                try startMonitor()
            } catch {
                logger.error("reload: cannot watch \(fresh.site.root): \(error); trying again in 5 s")
                monitor = nil
                monitorRestartAt = ContinuousClock.now.advanced(by: .seconds(5))
            }
            pending.requestFullRescan(.rootReplaced(fresh.site.root))
            coalescer.noteChange(at: .now)
        }
        logger.notice("configuration reloaded from \(fresh.sourcePath)", metadata: MessageID.configReloaded.metadata())
    }

    // MARK: - Status

    func updateStatus() {
        guard let db else { return }
        let files = filesTracked
        let pendingURLs = (try? db.read { try $0.count("SELECT COUNT(*) FROM queue WHERE state = 'pending'") }) ?? 0
        let quotaLeft = currentQuotaView().urlAvailable
        var line = "\(files) files, \(pendingURLs) URLs pending, last batch \(lastBatchSummary), quota left \(quotaLeft)"
        if monitor?.status.isDegraded == true { line += ", DEGRADED: watch limit reached" }
        if options.dryRun { line = "dry run: " + line }
        if line != lastStatusLine {
            lastStatusLine = line
            try? notifier.status(line)
        }
    }
}

public enum DaemonError: Error, CustomStringConvertible {
    case noCredentials

    public var description: String {
        switch self {
        case .noCredentials:
            "no Tencent Cloud credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, provide systemd credentials tencentcloud-secret-id and tencentcloud-secret-key (LoadCredential=), set credentials_file, or cvm_role = true — or use --dry-run"
        }
    }
}
