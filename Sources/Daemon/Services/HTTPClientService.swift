import AsyncHTTPClient
import ServiceLifecycle
import TencentCDN

/// The HTTP client the API client and the credential chain share, as a `Service` that owns it:
/// made inside ``run()``, handed over through its gate, shut down when ``run()`` ends — once no
/// stage that sends requests runs any more (``ResourceUsers``; the group stops those first at the
/// graceful shutdown). None in a dry run.
struct HTTPClientService: Service {
    let gate: ResourceGate<HTTPClient>
    let users: ResourceUsers

    func run() async throws {
        let client = TencentCDNClient.makeHTTPClient()
        gate.opened(.success(client))
        try? await gracefulShutdown()
        await users.waitUntilNone()
        try? await client.shutdown()
    }
}
