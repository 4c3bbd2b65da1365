import Foundation
import Testing

@testable import Daemon

/// An actor on ``DaemonThread``, as ``PurgeDaemon`` is.
private actor Counter {
    let thread = DaemonThread(name: "pw-test")
    nonisolated var unownedExecutor: UnownedSerialExecutor { thread.asUnownedSerialExecutor() }
    var value = 0
    var offThread = 0

    func increment() {
        // A read-modify-write split by a blocking call: only a serial executor keeps it exact.
        let seen = value
        if seen % 100 == 0 { usleep(100) }
        value = seen + 1
        if !thread.isCurrentThread { offThread += 1 }
    }

    func incrementAcrossAwait() async {
        await Task.yield()
        increment()
    }
}

@Suite struct DaemonThreadTests {
    @Test func theActorRunsSeriallyOnItsOwnThreadNotThePool() async {
        let counter = Counter()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<250 {
                        await counter.increment()
                        await counter.incrementAcrossAwait()
                    }
                }
            }
        }
        #expect(await counter.value == 4_000)
        // Every job ran on the daemon's thread, never on a cooperative pool thread.
        #expect(await counter.offThread == 0)
    }

    /// A blocking call on the actor (a slow SQLite statement) holds only its thread: tasks on
    /// the cooperative pool go on meanwhile. No timing: more actors block than the pool has
    /// threads, each until the pool's work releases it. Were the actors' jobs on the pool, the
    /// work could never run and every actor would see its wait run out instead of a release.
    @Test func blockingOnTheActorLeavesThePoolFree() async throws {
        let poolThreads = ProcessInfo.processInfo.activeProcessorCount
        let counters = (0...poolThreads).map { _ in Counter() }
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let blocked = counters.map { counter in
            Task { await counter.block(until: release, entered: entered, atMost: .seconds(60)) }
        }
        // Every actor is inside its blocking call before the pool's work starts.
        for _ in counters {
            #expect(await Self.wait(for: entered, atMost: 60), "an actor never started blocking: its job waited for a pool thread")
        }
        let work = await withTaskGroup(of: Int.self) { group in
            for index in 0..<64 { group.addTask { (0..<10_000).reduce(index, &+) } }
            return await group.reduce(0, &+)
        }
        #expect(work != 0)
        for _ in counters { release.signal() }
        for task in blocked {
            #expect(await task.value, "an actor's wait ran out: the pool's work could not run while it blocked")
        }
    }

    /// Waits for a semaphore on a thread of its own, never on the cooperative pool.
    private static func wait(for semaphore: DispatchSemaphore, atMost seconds: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                continuation.resume(returning: semaphore.wait(timeout: .now() + .seconds(seconds)) == .success)
            }
        }
    }
}

extension Counter {
    /// Blocks this actor's thread until `release` is signalled; false when `atMost` ran out first.
    /// Off its thread (on a pool thread) it does not block: it says so at once, so that the
    /// failure is this test's alone and not a pool held for `atMost` under every other test.
    func block(until release: DispatchSemaphore, entered: DispatchSemaphore, atMost: Duration) -> Bool {
        guard thread.isCurrentThread else {
            entered.signal()
            Issue.record("the actor's job ran off its thread, on \(Thread.current)")
            return false
        }
        entered.signal()
        return release.wait(timeout: .now() + .seconds(Int(atMost.components.seconds))) == .success
    }
}
