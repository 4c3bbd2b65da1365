import Synchronization
import Testing

@testable import Daemon

/// ``DeadlineTimer``: the control loop sleeps until its next deadline, is woken early by a
/// nearer one, and with none armed waits with no timer at all (SPEC §7). The sleep is scripted:
/// the test says when time has come.
@Suite struct DeadlineTimerTests {
    /// A sleep that returns when the test moves `now` past its instant, throws when cancelled.
    final class ScriptedSleep: Sendable {
        private struct Sleeper {
            var until: ContinuousClock.Instant
            var continuation: CheckedContinuation<Void, any Error>
        }
        private let state = Mutex<(now: ContinuousClock.Instant, sleepers: [Int: Sleeper], next: Int, asked: [ContinuousClock.Instant])>(
            (ContinuousClock.now, [:], 0, []))

        var now: ContinuousClock.Instant { state.withLock { $0.now } }
        /// Every instant a sleep was asked for, in order.
        var asked: [ContinuousClock.Instant] { state.withLock { $0.asked } }
        var sleeping: Int { state.withLock { $0.sleepers.count } }

        func sleep(until instant: ContinuousClock.Instant) async throws {
            let id = state.withLock { state -> Int in
                state.next += 1
                state.asked.append(instant)
                return state.next
            }
            try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let now = state.withLock { state -> Bool in
                        if Task.isCancelled || instant <= state.now { return true }
                        state.sleepers[id] = Sleeper(until: instant, continuation: continuation)
                        return false
                    }
                    if now { Task.isCancelled ? continuation.resume(throwing: CancellationError()) : continuation.resume() }
                }
            } onCancel: {
                state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
            }
        }

        func advance(by duration: Duration) {
            let due = state.withLock { state -> [Sleeper] in
                state.now = state.now.advanced(by: duration)
                let due = state.sleepers.filter { $0.value.until <= state.now }
                for key in due.keys { state.sleepers.removeValue(forKey: key) }
                return Array(due.values)
            }
            for sleeper in due { sleeper.continuation.resume() }
        }
    }

    /// A timer running on a scripted sleep, counting its fires.
    final class Running: Sendable {
        let sleep = ScriptedSleep()
        let timer = DeadlineTimer()
        let fired = Mutex(0)
        private let task = Mutex<Task<Void, Never>?>(nil)

        init() {
            let task = Task { [self] in
                await timer.run(sleep: { try await self.sleep.sleep(until: $0) }, fire: { self.fired.withLock { $0 += 1 } })
            }
            self.task.withLock { $0 = task }
        }

        func stop() async {
            guard let task = task.withLock({ $0 }) else { return }
            task.cancel()
            await task.value
        }
    }

    /// Waits (yielding, bounded) until `condition` holds.
    static func settle(_ condition: () -> Bool) async {
        for _ in 0..<10_000 where !condition() { await Task.yield() }
    }

    @Test func firesAtTheDeadlineOnlyAndNotAtRest() async throws {
        let running = Running()
        let (sleep, timer) = (running.sleep, running.timer)
        // At rest: nothing armed, no sleep asked for, nothing fires however far time moves.
        await Self.settle { false }
        #expect(sleep.asked.isEmpty)
        sleep.advance(by: .seconds(3_600))
        #expect(running.fired.withLock { $0 } == 0)

        let deadline = sleep.now.advanced(by: .seconds(2))
        timer.arm(deadline)
        await Self.settle { sleep.sleeping == 1 }
        #expect(sleep.asked == [deadline])
        sleep.advance(by: .seconds(1))
        await Self.settle { false }
        #expect(running.fired.withLock { $0 } == 0, "not before the deadline")
        sleep.advance(by: .seconds(1))
        await Self.settle { running.fired.withLock { $0 } == 1 }
        #expect(running.fired.withLock { $0 } == 1)
        // Fired once, then disarmed: no further sleep until armed again.
        await Self.settle { false }
        #expect(sleep.asked.count == 1 && timer.deadline == nil)
        await running.stop()
    }

    @Test func aNearerDeadlineWakesTheSleepAtOnce() async throws {
        let running = Running()
        let (sleep, timer) = (running.sleep, running.timer)
        let far = sleep.now.advanced(by: .seconds(3_600))
        timer.arm(far)
        await Self.settle { sleep.sleeping == 1 }
        let near = sleep.now.advanced(by: .seconds(2))
        timer.arm(near)
        await Self.settle { sleep.asked.count == 2 && sleep.sleeping == 1 }
        #expect(sleep.asked == [far, near], "the far sleep was given up for the near one")
        sleep.advance(by: .seconds(2))
        await Self.settle { running.fired.withLock { $0 } == 1 }
        #expect(running.fired.withLock { $0 } == 1)
        // Arming the same deadline again changes nothing (no churn per event).
        let next = sleep.now.advanced(by: .seconds(5))
        timer.arm(next)
        await Self.settle { sleep.sleeping == 1 }
        timer.arm(next)
        await Self.settle { false }
        #expect(sleep.asked.count == 3)
        await running.stop()
        #expect(running.fired.withLock { $0 } == 1, "cancelled before the deadline: no fire")
    }

    /// A deploy moves the coalescing window's end with every event: each later deadline must not
    /// give up the sleep under way (an interrupted sleep's timer lingers until its instant: one
    /// per event was ≈ 0.8 MiB at the 50k peak, issue 23), and must not fire before it is due.
    @Test func aLaterDeadlineIsSleptTowardsWhenTheCurrentSleepEnds() async throws {
        let running = Running()
        let (sleep, timer) = (running.sleep, running.timer)
        let first = sleep.now.advanced(by: .seconds(2))
        timer.arm(first)
        await Self.settle { sleep.sleeping == 1 }
        for extra in 1...100 { timer.arm(first.advanced(by: .milliseconds(30 * extra))) }
        let last = first.advanced(by: .seconds(3))
        await Self.settle { false }
        #expect(sleep.asked == [first], "no sleep given up for a later deadline")
        sleep.advance(by: .seconds(2))
        await Self.settle { sleep.asked.count == 2 }
        #expect(sleep.asked == [first, last], "the deadline armed last is slept towards next")
        #expect(running.fired.withLock { $0 } == 0, "not at the first instant: the deadline moved")
        sleep.advance(by: .milliseconds(2_999))
        await Self.settle { false }
        #expect(running.fired.withLock { $0 } == 0, "not before the moved deadline")
        sleep.advance(by: .milliseconds(1))
        await Self.settle { running.fired.withLock { $0 } == 1 }
        #expect(running.fired.withLock { $0 } == 1)
        await Self.settle { false }
        #expect(sleep.asked.count == 2 && sleep.sleeping == 0 && timer.deadline == nil)
        await running.stop()
    }

    /// What decides is the instant the sleep under way ends, not the deadline armed last: after
    /// a later arm, one still later than the sleep's instant leaves it alone, and one sooner
    /// than it wakes it at once.
    @Test func aDeadlineIsNearerThanTheSleepUnderWayNotThanTheLastOneArmed() async throws {
        let running = Running()
        let (sleep, timer) = (running.sleep, running.timer)
        let first = sleep.now.advanced(by: .seconds(2))
        timer.arm(first)
        await Self.settle { sleep.sleeping == 1 }
        timer.arm(first.advanced(by: .seconds(3)))
        timer.arm(first.advanced(by: .seconds(1)))  // sooner than the last armed, later than the sleep
        await Self.settle { false }
        #expect(sleep.asked == [first], "must not: woken for a deadline later than the sleep's own")
        let sooner = first.advanced(by: .seconds(-1))
        timer.arm(sooner)
        await Self.settle { sleep.asked.count == 2 }
        #expect(sleep.asked == [first, sooner], "woken at once for a deadline before the sleep's")
        sleep.advance(by: .seconds(1))
        await Self.settle { running.fired.withLock { $0 } == 1 }
        #expect(running.fired.withLock { $0 } == 1)
        await running.stop()
    }

    /// Disarmed during a sleep: the sleep ends at its instant without firing, and then nothing
    /// sleeps until the timer is armed again.
    @Test func aDisarmedTimerFiresNothingAndThenWaitsWithNoSleep() async throws {
        let running = Running()
        let (sleep, timer) = (running.sleep, running.timer)
        timer.arm(sleep.now.advanced(by: .seconds(2)))
        await Self.settle { sleep.sleeping == 1 }
        timer.arm(nil)
        sleep.advance(by: .seconds(2))
        await Self.settle { false }
        #expect(running.fired.withLock { $0 } == 0)
        #expect(sleep.asked.count == 1 && sleep.sleeping == 0)
        sleep.advance(by: .seconds(3_600))
        await Self.settle { false }
        #expect(sleep.asked.count == 1 && running.fired.withLock { $0 } == 0)
        // Armed again: it sleeps and fires as before.
        timer.arm(sleep.now.advanced(by: .seconds(1)))
        await Self.settle { sleep.sleeping == 1 }
        sleep.advance(by: .seconds(1))
        await Self.settle { running.fired.withLock { $0 } == 1 }
        #expect(running.fired.withLock { $0 } == 1)
        await running.stop()
    }
}
