import Dispatch
import ServiceLifecycle

/// The state as a `Service` that owns it (``HeldState``: the single-writer lock and the SQLite
/// connection): opened first thing inside ``run()`` — a second daemon on the same state is refused
/// here, exit 75 — handed to the control loop through its gate, and closed when ``run()`` ends,
/// once no stage that uses it runs any more (``ResourceUsers``): at the graceful shutdown the group
/// stops it last, and when a stage fails and the group is cancelled it waits for the others to
/// unwind rather than close the state under them. Opening (migrations, a dry run's copy) and
/// closing (a checkpoint) block: they run on a queue of their own, off the cooperative pool.
struct StateService: Service {
    let path: String
    /// In a dry run, the real state file the dry run's copy starts from.
    let dryRunOf: String?
    let gate: ResourceGate<HeldState>
    let users: ResourceUsers

    private static let queue = DispatchQueue(label: "purgewatch.state-service")

    func run() async throws {
        let state: HeldState
        do {
            state = try await Self.offPool { [path, dryRunOf] in try HeldState.open(path: path, dryRunOf: dryRunOf) }
        } catch {
            gate.opened(.failure(error))
            throw error
        }
        gate.opened(.success(state))
        try? await gracefulShutdown()
        await users.waitUntilNone()
        try? await Self.offPool { state.close() }
    }

    static func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
