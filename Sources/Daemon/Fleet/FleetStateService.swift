import FleetStore
import Logging
import ServiceLifecycle

/// The fleet's shared state as a `Service` that owns it (SPEC §9): connects to `[state] url`
/// (the password from PGPASSWORD, the systemd credential or the passfile, never printed),
/// brings the schema to this build's version — refusing a newer one, nothing written — and
/// hands the store to the control loop through its gate; closes the pool when ``run()`` ends,
/// once no stage that uses it runs (``ResourceUsers``).
///
/// A database that cannot be reached at start fails the start (exit 75, "try again later":
/// systemd's `Restart=` brings the daemon back), with the server's reason; one that goes away
/// later is the stages' trouble, not a stop (``FleetMember``).
struct FleetStateService: Service {
    /// `[state] url` as written.
    let url: String
    let identity: FleetIdentity
    let ledger: QuotaLedger
    let environment: [String: String]
    let logger: Logger
    let gate: ResourceGate<PostgresQueueStore>
    let users: ResourceUsers

    func run() async throws {
        let store: PostgresQueueStore
        do {
            let url = try PostgresURL(url)
            let password = PostgresPassword.resolve(for: url, environment: environment)
            for note in password.notes { logger.warning("\(note)") }
            logger.info("the fleet's state: \(url) (\(password)), site \(identity.site), origin \(identity.origin)")
            store = try await PostgresQueueStore.connect(
                url: url, site: identity.site, ledger: ledger, password: password.value, logger: logger)
        } catch {
            let failure = DaemonError.fleetStateUnavailable("\(error)")
            gate.opened(.failure(failure))
            throw failure
        }
        gate.opened(.success(store))
        try? await gracefulShutdown()
        await users.waitUntilNone()
        await store.close()
    }
}
