import Synchronization

/// Wakes the control loop at its next deadline and not before: nothing ticks at rest (SPEC §7,
/// "the daemon sleeps until its next deadline").
///
/// The control loop ``arm(_:)``s the earliest instant any of its timers needs (a coalescing
/// window, the watchdog's half interval, a retry, a verification poll, a quota re-read); the
/// timer service sleeps until then — woken early when a nearer deadline is armed — and calls
/// `fire`. With nothing due it waits for an arm, with no timer at all.
final class DeadlineTimer: Sendable {
    private struct State {
        var deadline: ContinuousClock.Instant?
        /// Bumped by every arm: a sleep for an older version is stale.
        var version = 0
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    init() {}

    /// The instant the timer sleeps towards (nil: none).
    var deadline: ContinuousClock.Instant? { state.withLock { $0.deadline } }

    /// Asks for one wake-up at `deadline` (nil: none needed); it replaces the one armed before.
    func arm(_ deadline: ContinuousClock.Instant?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.deadline != deadline else { return nil }
            state.deadline = deadline
            state.version += 1
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Runs until its task is cancelled: sleeps until the armed deadline (re-reading it whenever
    /// it is re-armed), then calls `fire` once and disarms.
    /// - Parameter sleep: sleeps until an instant (the injected clock; throws when cancelled).
    func run(
        sleep: @escaping @Sendable (ContinuousClock.Instant) async throws -> Void, fire: @Sendable () -> Void
    ) async {
        while !Task.isCancelled {
            let (deadline, version) = state.withLock { ($0.deadline, $0.version) }
            guard let deadline else {
                await waitForArm(since: version)
                continue
            }
            let fired = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    do {
                        try await sleep(deadline)
                        return true
                    } catch {
                        return false
                    }
                }
                group.addTask {
                    await self.waitForArm(since: version)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            guard fired, !Task.isCancelled else { continue }
            let current = state.withLock { state -> Bool in
                guard state.version == version else { return false }
                state.deadline = nil
                return true
            }
            if current { fire() }
        }
    }

    /// Returns once the timer is armed after `version` (or the task is cancelled).
    private func waitForArm(since version: Int) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.version != version || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
