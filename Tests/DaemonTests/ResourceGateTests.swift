import Synchronization
import Testing

@testable import Daemon

/// A Service that owns an outward resource (the control socket, the metrics endpoint) opens it
/// only once the control loop holds the state, and the control loop goes on only once it is open;
/// either side ending first never leaves the other waiting.
@Suite struct ResourceGateTests {
    struct Refused: Error, Equatable {}

    @Test func theServiceOpensOnlyAfterAllowAndTheLoopGoesOnOnlyOnceItIsOpen() async throws {
        let gate = ResourceGate<Void>()
        let opened = Mutex(false)
        let service = Task { () -> Bool in
            guard await gate.waitUntilAllowed() else { return false }
            opened.withLock { $0 = true }
            gate.opened(.success(()))
            return true
        }
        // Must not: open before the state is held. The service is still waiting after it yielded.
        for _ in 0..<50 { await Task.yield() }
        #expect(opened.withLock { $0 } == false, "opened before it was allowed")
        let loop = Task { try await gate.waitUntilOpen() }
        gate.allow()
        #expect(await service.value)
        try await loop.value
        // Looked at again later, it is still open.
        try await gate.waitUntilOpen()
    }

    @Test func aResourceThatCannotOpenFailsTheStartWithItsError() async throws {
        let gate = ResourceGate<Void>()
        gate.allow()
        #expect(await gate.waitUntilAllowed())
        gate.opened(.failure(Refused()))
        await #expect(throws: Refused.self) { try await gate.waitUntilOpen() }
        // A later report does not change the first.
        gate.opened(.success(()))
        await #expect(throws: Refused.self) { try await gate.waitUntilOpen() }
    }

    @Test func aServiceCancelledBeforeItWasAllowedOpensNothingAndReleasesTheLoop() async throws {
        let gate = ResourceGate<Void>()
        let service = Task { () -> Bool in
            let allowed = await gate.waitUntilAllowed()
            if !allowed { gate.abandoned() }
            return allowed
        }
        let loop = Task { try await gate.waitUntilOpen() }
        service.cancel()
        #expect(await service.value == false)
        await #expect(throws: CancellationError.self) { try await loop.value }
        // Allowed afterwards (the loop got that far): the service is gone, nothing waits.
        gate.allow()
    }

    /// A control loop that ends its start before allowing (a stop, an error) releases a service
    /// still waiting; withdrawing after allowing changes nothing.
    @Test func aStartThatEndsBeforeAllowingReleasesTheWaitingService() async {
        let gate = ResourceGate<Void>()
        let service = Task { await gate.waitUntilAllowed() }
        for _ in 0..<10 { await Task.yield() }
        gate.withdraw()
        #expect(await service.value == false)
        #expect(await gate.waitUntilAllowed() == false, "a service that comes later is not allowed either")
        let allowed = ResourceGate<Void>()
        allowed.allow()
        allowed.withdraw()
        #expect(await allowed.waitUntilAllowed())
    }

    /// The state's and the HTTP client's owners close them only once every stage that uses them
    /// has ended — even when cancelled (a failing stage cancels the whole group at once).
    @Test func theOwnersWaitForEveryStageThatUsesTheResourcesEvenWhenCancelled() async {
        let users = ResourceUsers(count: 2)
        let closed = Mutex(false)
        let owner = Task {
            await users.waitUntilNone()
            closed.withLock { $0 = true }
        }
        owner.cancel()
        users.leave()
        for _ in 0..<50 { await Task.yield() }
        #expect(closed.withLock { $0 } == false, "must not: close while a stage still runs")
        users.leave()
        await owner.value
        #expect(closed.withLock { $0 })
        // Once none runs, the wait returns at once.
        await users.waitUntilNone()
    }
}
