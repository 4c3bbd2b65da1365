import Synchronization

/// The stages that use the state and the HTTP client (the control loop, the detector, the
/// submitter, the verifier), counted down as each one's `run()` ends: the Services that own those
/// resources close them only once none runs. At the graceful shutdown the group stops the stages
/// first anyway; when a stage fails, the group cancels every service at once, and this keeps the
/// owners from closing the state or the client under stages still unwinding (a commit, a
/// `recordAccepted`).
final class ResourceUsers: Sendable {
    private struct State {
        var running: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>

    /// - Parameter count: the stages that will run (each calls ``leave()`` once when it ends).
    init(count: Int) { state = Mutex(State(running: count)) }

    /// A stage's `run()` ended.
    func leave() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.running = max(0, state.running - 1)
            guard state.running == 0 else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once every stage has ended; not cut short by cancellation (that is when it matters).
    func waitUntilNone() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.running == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }
}
