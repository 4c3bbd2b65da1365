import Testing

@testable import Daemon

/// A Service that owns an outward resource (the control socket, the metrics endpoint) opens it
/// only once the control loop holds the state, and the control loop goes on only once it is open;
/// either side ending first never leaves the other waiting.
@Suite struct ResourceGateTests {
    struct Refused: Error, Equatable {}

    @Test func theServiceOpensOnlyAfterAllowAndTheLoopGoesOnOnlyOnceItIsOpen() async throws {
        let gate = ResourceGate<Void>()
        let service = Task { () -> Bool in
            guard await gate.waitUntilAllowed() else { return false }
            gate.opened(.success(()))
            return true
        }
        // Must not: open before the state is held. The service is still waiting after it yielded.
        for _ in 0..<50 { await Task.yield() }
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

}
