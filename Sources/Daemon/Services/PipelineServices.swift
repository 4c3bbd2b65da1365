import FleetStore
import ServiceLifecycle

/// The daemon's long-running stages, one `Service` each, run together in the CLI's one
/// `ServiceGroup` (SIGTERM and SIGINT shut it down; see `purgewatch run`). They share the
/// ``PurgeDaemon`` actor's state and hand work on through the durable queue and small wake-up
/// streams, never by awaiting each other's I/O:
///
/// | stage | does | waits on |
/// | --- | --- | --- |
/// | ``ControlLoopService`` | starts the daemon, then takes inotify events, socket commands, SIGHUP and ticks in order: coalescing, `flush`, STATUS=, WATCHDOG=1 | nothing slow: no network, no hashing |
/// | ``WatcherService`` | forwards the inotify monitor's events to the control loop | the monitor's thread |
/// | ``DetectorService`` | compares the tree with the manifest when a window closes, commits queue rows with the manifest | hashing on its own queue, SQLite |
/// | ``SubmitterService`` | plans the queue into batches and sends them | the API (bounded by deadlines) |
/// | ``VerifierService`` | polls the tasks of accepted batches, prefetches, prunes history | the API (bounded) |
/// | ``TimerService`` | wakes the control loop at its next deadline (coalescing, watchdog, retries, polls), never at rest | ``DeadlineTimer`` |
/// | ``FleetService`` | a fleet's daemon (SPEC §9): heartbeats and the submitter lease; gives the lease up at the stop | PostgreSQL |
/// | ``FleetStateService`` | owns a fleet's shared PostgreSQL state: connects and migrates at start (unreachable: the daemon starts degraded and it retries with a backoff; refused or newer: exit 75), closes it after every stage | PostgreSQL |
/// | ``StateService`` | owns the state's lock and connection: opens them first (a second daemon is refused here), closes them after every stage | SQLite |
/// | ``HTTPClientService`` | owns the HTTP client the API client and the credentials share: made at start, shut down after the stages that send | — |
/// | ``ControlService`` | owns the control socket: opens it once the state is held, hands each command to the control loop, closes it | its own thread (``ControlServer``) |
/// | ``MetricsService`` | owns `[metrics] listen`'s endpoint: binds it once the state is held, serves scrapes, closes it | its own event loop |
///
/// The stages end by cancellation at the graceful shutdown, the resources' owners when it reaches
/// them (the state and the HTTP client once no stage that uses them runs: ``ResourceUsers``); the
/// group's order is the pipeline's, so
/// the shutdown closes the metrics endpoint and stops the timer first, then the stages back to the
/// control loop, then the control socket, the HTTP client and, last, the state.
extension PurgeDaemon {
    /// The stages in the pipeline's order (the group shuts them down in reverse).
    public nonisolated func services() -> [any Service] {
        let control = ControlService(
            path: ControlSocket.path(forState: statePath), logger: logger, gate: controlGate, mode: controlMode
        ) { [inputs] connection in inputs.yield(.control(connection)) }
        var stages: [any Service] = [
            StateService(path: statePath, dryRunOf: options.dryRun ? realStatePath : nil, gate: stateGate, users: resourceUsers)
        ]
        if let fleetGate, let fleetHandoff, let fleetURL, let fleetIdentity, let fleetLedger {
            stages.append(
                FleetStateService(
                    url: fleetURL, identity: fleetIdentity, ledger: fleetLedger, environment: environment, logger: logger,
                    gate: fleetGate, handoff: fleetHandoff, users: resourceUsers, clock: clock,
                    // At least once a heartbeat: back within the other origins' grace after an outage.
                    retryBase: options.fleetConnectRetryBase,
                    retryMax: min(options.fleetConnectRetryMax, .milliseconds(fleetIdentity.heartbeatEvery))))
        }
        if let httpGate { stages.append(HTTPClientService(gate: httpGate, users: resourceUsers)) }
        stages += [control, ControlLoopService(daemon: self), WatcherService(daemon: self), DetectorService(daemon: self)]
        // Before the submitter and the verifier: the shutdown stops them first, then this stage
        // gives the lease up.
        if fleetGate != nil { stages.append(FleetService(daemon: self)) }
        stages += [SubmitterService(daemon: self), VerifierService(daemon: self), TimerService(daemon: self)]
        if let metricsGate {
            stages.append(
                MetricsService(
                    listen: initialMetricsListen, metrics: metrics, statePath: statePath, clock: clock, logger: logger,
                    gate: metricsGate))
        }
        return stages
    }
}

/// Runs `body` until it ends or the graceful shutdown cancels it (a cancellation is a clean end).
private func runStage(_ body: @escaping @Sendable () async throws -> Void) async throws {
    do {
        try await cancelWhenGracefulShutdown(body)
    } catch is CancellationError {
        // SIGTERM: the queue waits in SQLite for the next start (SPEC §6).
    }
}

/// Starts the daemon (adopts the state and the HTTP client, builds the API client, lets the
/// socket and the metrics endpoint open, starts the watcher, the first reconcile, READY=1), then
/// runs the control loop.
public struct ControlLoopService: Service {
    let daemon: PurgeDaemon
    public func run() async throws {
        defer { daemon.resourceUsers.leave() }
        try await runStage { try await daemon.controlLoopStage() }
    }
}

/// The inotify monitor's events → the control loop.
public struct WatcherService: Service {
    let daemon: PurgeDaemon
    public func run() async throws { try await runStage { await daemon.watcherStage() } }
}

/// One comparison of the tree per closed window.
public struct DetectorService: Service {
    let daemon: PurgeDaemon
    public func run() async throws {
        defer { daemon.resourceUsers.leave() }
        try await runStage { try await daemon.detectorStage() }
    }
}

/// Plans and sends batches.
public struct SubmitterService: Service {
    let daemon: PurgeDaemon
    public func run() async throws {
        defer { daemon.resourceUsers.leave() }
        try await runStage { try await daemon.submitterStage() }
    }
}

/// Verification polls, prefetch, history pruning.
public struct VerifierService: Service {
    let daemon: PurgeDaemon
    public func run() async throws {
        defer { daemon.resourceUsers.leave() }
        try await runStage { try await daemon.verifierStage() }
    }
}

/// Sleeps until the control loop's next deadline (``DeadlineTimer``), then wakes it: nothing
/// polls at rest (SPEC §7).
public struct TimerService: Service {
    let daemon: PurgeDaemon
    public func run() async throws {
        try await runStage { [daemon] in
            await daemon.timer.run(sleep: daemon.clock.sleep) { daemon.tick() }
        }
    }
}
