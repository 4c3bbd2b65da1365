import AsyncHTTPClient
import Logging
import ServiceLifecycle
import Synchronization
import TencentCDN

/// The control socket as a `Service` that owns it: opened inside ``run()`` once the control loop
/// holds the state (``ResourceGate``), served on its own thread (``ControlServer``) until the
/// graceful shutdown — the group shuts it down last, after the control loop — and closed (the
/// socket file removed) when ``run()`` ends, however it ends.
struct ControlService: Service {
    let path: String
    let logger: Logger
    let gate: ResourceGate<Void>
    let mode: ControlSocketMode
    /// Each command, with its connection, to the control loop.
    let onCommand: @Sendable (ControlConnection) -> Void

    func run() async throws {
        guard await gate.waitUntilAllowed() else {
            gate.abandoned()
            return
        }
        let server: ControlServer
        do {
            server = try ControlServer(path: path, logger: logger, onCommand: onCommand)
        } catch {
            gate.opened(.failure(error))
            throw error
        }
        mode.attach(server)
        gate.opened(.success(()))
        defer {
            mode.detach()
            server.stop()
        }
        try? await gracefulShutdown()
    }
}

/// Whether the control socket accepts only through its spare descriptor (while the descriptor
/// reserve is given back to the runtime: ``DescriptorReserve/onChange``), kept for the socket's
/// whole life: applied to the server when the ``ControlService`` opens it, and at each change.
final class ControlSocketMode: Sendable {
    private let state = Mutex<(server: ControlServer?, spareOnly: Bool)>((nil, false))

    init() {}

    func spareOnly(_ on: Bool) {
        state.withLock { state in
            state.spareOnly = on
            state.server?.acceptOnlyThroughSpare(on)
        }
    }

    func attach(_ server: ControlServer) {
        state.withLock { state in
            state.server = server
            if state.spareOnly { server.acceptOnlyThroughSpare(true) }
        }
    }

    func detach() { state.withLock { $0.server = nil } }
}

/// `[metrics] listen` as a `Service` that owns its endpoint: bound inside ``run()`` once the
/// control loop holds the state (a bind that fails fails the start: exit 1 before `READY=1`),
/// served on its own event loop, closed when ``run()`` ends. The group shuts it down first.
struct MetricsService: Service {
    let listen: String
    let metrics: DaemonMetrics
    let statePath: String
    let clock: DaemonClock
    let logger: Logger
    let gate: ResourceGate<Void>

    func run() async throws {
        guard await gate.waitUntilAllowed() else {
            gate.abandoned()
            return
        }
        let server: MetricsServer
        do {
            server = try await MetricsServer(listen: listen, metrics: metrics, statePath: statePath, clock: clock)
        } catch {
            let failure = DaemonError.metricsUnavailable("cannot serve metrics on \(listen): \(error)")
            gate.opened(.failure(failure))
            throw failure
        }
        logger.info("metrics at http://\(listen)/metrics")
        gate.opened(.success(()))
        try? await gracefulShutdown()
        await server.stop()
    }
}

/// The state as a `Service` that owns it (``HeldState``: the single-writer lock and the SQLite
/// connection): opened first thing inside ``run()`` — a second daemon on the same state is refused
/// here, exit 75 — handed to the control loop through its gate, and closed when ``run()`` ends.
/// It is first in the group, so the graceful shutdown closes it after every stage has stopped.
struct StateService: Service {
    let path: String
    /// In a dry run, the real state file the dry run's copy starts from.
    let dryRunOf: String?
    let gate: ResourceGate<HeldState>

    func run() async throws {
        let state: HeldState
        do {
            state = try HeldState.open(path: path, dryRunOf: dryRunOf)
        } catch {
            gate.opened(.failure(error))
            throw error
        }
        gate.opened(.success(state))
        defer { state.close() }
        try? await gracefulShutdown()
    }
}

/// The HTTP client the API client and the credential chain share, as a `Service` that owns it:
/// made inside ``run()``, handed over through its gate, shut down when ``run()`` ends — after the
/// stages that send requests, which the group stops first. None in a dry run.
struct HTTPClientService: Service {
    let gate: ResourceGate<HTTPClient>

    func run() async throws {
        let client = TencentCDNClient.makeHTTPClient()
        gate.opened(.success(client))
        try? await gracefulShutdown()
        try? await client.shutdown()
    }
}
