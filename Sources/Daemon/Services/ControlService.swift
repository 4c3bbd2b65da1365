import Logging
import ServiceLifecycle
import Synchronization

/// The control socket as a `Service` that owns it: opened inside ``run()`` once the control loop
/// holds the state (``ResourceGate``), served on its own thread (``ControlServer``) until the
/// graceful shutdown — the group shuts it down after the control loop — and closed (the socket
/// file removed) when ``run()`` ends, however it ends.
struct ControlService: Service {
    let path: String
    let logger: Logger
    let gate: ResourceGate<Void>
    let mode: ControlSocketMode
    /// Each command, with its connection, to the control loop.
    let onCommand: @Sendable (ControlConnection) -> Void

    func run() async throws {
        guard await gate.waitUntilAllowedOrShutdown() else {
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

extension ResourceGate {
    /// ``waitUntilAllowed()``, given up (false) when the graceful shutdown begins first: a service
    /// still waiting then has nothing to open, and the group must not wait on it.
    func waitUntilAllowedOrShutdown() async -> Bool {
        await cancelWhenGracefulShutdown { await self.waitUntilAllowed() }
    }
}
