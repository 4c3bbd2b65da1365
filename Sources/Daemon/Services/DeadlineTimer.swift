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
        /// What the runner waits for: the instant its sleep ends, or nil when it waits for an arm.
        var sleepingUntil: ContinuousClock.Instant?
        /// The runner, while it waits to be woken early.
        var waiter: CheckedContinuation<Void, Never>?

        /// Takes the runner's waiter when `deadline` needs it awake sooner than it will be.
        mutating func waiterToWake() -> CheckedContinuation<Void, Never>? {
            guard let deadline, waiter != nil else { return nil }
            if let sleepingUntil, sleepingUntil <= deadline { return nil }
            defer {
                waiter = nil
                sleepingUntil = nil
            }
            return waiter
        }
    }

    private let state = Mutex(State())

    init() {}

    /// The instant armed last, to fire at (nil: none). The sleep under way may end sooner (a
    /// deadline armed before this later one) and then sleeps on to it.
    var deadline: ContinuousClock.Instant? { state.withLock { $0.deadline } }

    /// Asks for one wake-up at `deadline` (nil: none needed); it replaces the one armed before.
    ///
    /// Only a nearer deadline interrupts the sleep under way. A later one (a coalescing window
    /// that moves with every event of a deploy) is slept towards when the current sleep ends:
    /// an interrupted sleep's timer stays registered until its instant, so re-sleeping on every
    /// event of a burst left a thousand of them, ≈ 0.8 MiB at the 50k peak (issue 23).
    func arm(_ deadline: ContinuousClock.Instant?) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.deadline != deadline else { return nil }
            state.deadline = deadline
            return state.waiterToWake()
        }
        waiter?.resume()
    }

    /// Runs until its task is cancelled: sleeps until the armed deadline (woken early by a
    /// nearer one, re-reading a later one when the sleep ends), then calls `fire` once and disarms.
    /// - Parameter sleep: sleeps until an instant (the injected clock; throws when cancelled).
    func run(
        sleep: @escaping @Sendable (ContinuousClock.Instant) async throws -> Void, fire: @Sendable () -> Void
    ) async {
        while !Task.isCancelled {
            guard let deadline = state.withLock({ $0.deadline }) else {
                await waitToBeWoken(sleepingUntil: nil)
                continue
            }
            let slept = await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    do {
                        try await sleep(deadline)
                        return true
                    } catch {
                        return false
                    }
                }
                group.addTask {
                    await self.waitToBeWoken(sleepingUntil: deadline)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            guard slept, !Task.isCancelled else { continue }
            // Due when what is armed now is no later than the instant slept to; a later one
            // (re-armed during the sleep) is slept towards next; none (disarmed) waits for an arm.
            let due = state.withLock { state -> Bool in
                guard let current = state.deadline, current <= deadline else { return false }
                state.deadline = nil
                return true
            }
            if due { fire() }
        }
    }

    /// Returns once a deadline needs the runner sooner than `sleepingUntil` (any deadline when
    /// nil), or the task is cancelled.
    private func waitToBeWoken(sleepingUntil: ContinuousClock.Instant?) async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiter = continuation
                    state.sleepingUntil = sleepingUntil
                    return state.waiterToWake() != nil  // already armed sooner: resumed here
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer {
                    state.waiter = nil
                    state.sleepingUntil = nil
                }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
