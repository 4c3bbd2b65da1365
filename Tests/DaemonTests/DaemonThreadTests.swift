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
    /// the cooperative pool go on meanwhile.
    @Test func blockingOnTheActorLeavesThePoolFree() async throws {
        let counter = Counter()
        let blocked = Task { await counter.blockFor(milliseconds: 1_500) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        let work = await withTaskGroup(of: Int.self) { group in
            for index in 0..<64 { group.addTask { (0..<10_000).reduce(index, &+) } }
            return await group.reduce(0, &+)
        }
        #expect(work != 0)
        #expect(started.duration(to: .now) < .milliseconds(1_000))
        await blocked.value
    }
}

extension Counter {
    func blockFor(milliseconds: UInt32) { usleep(milliseconds * 1_000) }
}
