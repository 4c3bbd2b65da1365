import Synchronization

/// The start of a Service that owns a resource (the state, the HTTP client, the control socket,
/// the metrics endpoint), in step with the control loop's start, and the resource handed over.
///
/// An outward resource's service opens it only once the control loop ``allow()``s it — after the state
/// lock is held, so a second daemon on the same state is refused by the lock (exit 75), never by
/// a socket it found taken — and reports how that went (``opened(_:)``); the control loop waits
/// for that report (``waitUntilOpen()``) before it watches the tree and sends `READY=1`, so a
/// client that sees the daemon ready finds its socket. The state's and the HTTP client's services
/// open theirs at once and hand them over through ``opened(_:)``. Either side may end first: a service
/// cancelled (or shut down) before it was allowed returns (``abandoned()``), and a control loop
/// that ends its start without allowing says so (``withdraw()``).
final class ResourceGate<Value: Sendable>: Sendable {
    private enum Opening {
        case notYet([CheckedContinuation<Result<Value, any Error>, Never>])
        case done(Result<Value, any Error>)
    }
    private struct State {
        /// nil until the control loop allows (true) or withdraws (false).
        var allowed: Bool?
        var allowWaiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var nextWaiter = 0
        var opening = Opening.notYet([])
    }
    private let state = Mutex(State())

    init() {}

    // MARK: The control loop's side

    /// The state is held: the service may open its resource now.
    func allow() { decide(true) }

    /// The control loop ends its start without allowing (it stops, or failed before): a service
    /// waiting to be allowed opens nothing and ends. Nothing after ``allow()``.
    func withdraw() { decide(false) }

    private func decide(_ allowed: Bool) {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard state.allowed == nil else { return [] }
            state.allowed = allowed
            defer { state.allowWaiters = [:] }
            return Array(state.allowWaiters.values)
        }
        for waiter in waiters { waiter.resume(returning: allowed) }
    }

    /// Waits until the service has opened its resource (and returns it), or rethrows why it could not.
    /// - Throws: the service's error, or `CancellationError` when it ended without opening (the
    ///   daemon is stopping).
    @discardableResult
    func waitUntilOpen() async throws -> Value {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Value, any Error>, Never>) in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                switch state.opening {
                case .done(let result):
                    return result
                case .notYet(var waiters):
                    waiters.append(continuation)
                    state.opening = .notYet(waiters)
                    return nil
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
        return try result.get()
    }

    // MARK: The service's side

    /// Waits for ``allow()``.
    /// - Returns: false when the control loop withdrew, or the waiting task was cancelled first
    ///   (the daemon stops before it started: nothing is to be opened).
    func waitUntilAllowed() async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = state.withLock { state -> Bool? in
                    if let allowed = state.allowed { return allowed }
                    if Task.isCancelled { return false }
                    state.allowWaiters[id] = continuation
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            state.withLock { $0.allowWaiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }

    /// The service opened its resource, or could not (the control loop's start fails with the error).
    func opened(_ result: Result<Value, any Error>) {
        let waiters = state.withLock { state -> [CheckedContinuation<Result<Value, any Error>, Never>] in
            guard case .notYet(let waiters) = state.opening else { return [] }
            state.opening = .done(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: result) }
    }

    /// The service ends without having opened (cancelled): a control loop waiting is told so.
    func abandoned() {
        let waiters = state.withLock { state -> [CheckedContinuation<Result<Value, any Error>, Never>] in
            guard case .notYet(let waiters) = state.opening else { return [] }
            state.opening = .done(.failure(CancellationError()))
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: .failure(CancellationError())) }
    }
}
