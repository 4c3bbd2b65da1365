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
        guard let server = try await gate.openWhenAllowed({ try ControlServer(path: path, logger: logger, onCommand: onCommand) })
        else { return }
        mode.attach(server)
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

extension ResourceGate where Value == Void {
    /// The start of an outward resource's Service: waits to be allowed — giving up when the
    /// graceful shutdown begins first (then nothing is opened and the group does not wait on
    /// it) —, opens the resource with `open` and reports the outcome to the control loop.
    /// - Returns: the resource, or nil when nothing was to be opened.
    /// - Throws: what `open` threw (the control loop's start fails with it too).
    func openWhenAllowed<Resource>(_ open: () async throws -> Resource) async throws -> Resource? {
        guard await cancelWhenGracefulShutdown({ await self.waitUntilAllowed() }) else {
            abandoned()
            return nil
        }
        do {
            let resource = try await open()
            opened(.success(()))
            return resource
        } catch {
            opened(.failure(error))
            throw error
        }
    }
}
