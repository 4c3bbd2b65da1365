import FleetStore
import Logging
import ServiceLifecycle
import StateStore
import Synchronization

/// The fleet's shared state as a `Service` that owns it (SPEC §9): connects to `[state] url`
/// (the password from PGPASSWORD, the systemd credential or the passfile, never printed),
/// brings the schema to this build's version — refusing a newer one, nothing written — and
/// hands the store to the daemon; closes the pool when ``run()`` ends, once no stage that uses
/// it runs (``ResourceUsers``).
///
/// The first attempt's outcome goes through `gate`: the store, or nil when the database cannot
/// be reached now — then the daemon starts without it (watching, comparing, answering `status`,
/// degraded; nothing queued, so its manifest stays behind and nothing detected is lost) and this
/// service keeps trying with a backoff (``DaemonOptions/fleetConnectRetryBase``), handing the
/// store over through `handoff` once it connects. A database that answers but refuses (a wrong
/// password, a missing database, a schema newer than this build) fails the start (exit 75,
/// `DaemonError.fleetStateUnavailable`) whenever it is found: nothing a retry would mend.
struct FleetStateService: Service {
    /// `[state] url` as written.
    let url: String
    let identity: FleetIdentity
    let ledger: QuotaLedger
    let environment: [String: String]
    let logger: Logger
    let gate: ResourceGate<PostgresQueueStore?>
    let handoff: FleetStateHandoff
    let users: ResourceUsers
    let clock: DaemonClock
    let retryBase: Duration
    let retryMax: Duration

    func run() async throws {
        var first = true
        var retry = RetrySchedule(base: retryBase, max: retryMax)
        let store: PostgresQueueStore
        let url: PostgresURL
        let password: PostgresPassword
        do {
            url = try PostgresURL(self.url)
            password = PostgresPassword.resolve(for: url, environment: environment)
        } catch {
            let failure = DaemonError.fleetStateUnavailable("\(error)")
            gate.opened(.failure(failure))
            throw failure
        }
        for note in password.notes { logger.warning("\(note)") }
        logger.info("the fleet's state: \(url) (\(password)), site \(identity.site), origin \(identity.origin)")
        while true {
            do {
                store = try await PostgresQueueStore.connect(
                    url: url, site: identity.site, ledger: ledger, password: password.value, logger: logger)
                break
            } catch let error as any StoreTrouble where error.isUnavailable {
                handoff.failed("\(error)")
                let now = clock.now()
                let (retryAt, log) = retry.failed("\(error)", now: now)
                if log {
                    logger.error(
                        "cannot reach the fleet's shared state (\(error)): DEGRADED — still watching and comparing; nothing is queued until it is reachable (the manifest waits, so nothing detected is lost); trying again with a backoff up to every \(retryMax)"
                    )
                }
                if first {
                    first = false
                    gate.opened(.success(nil))
                }
                do {
                    try await cancelWhenGracefulShutdown { try await Task.sleep(for: now.duration(to: retryAt)) }
                } catch {
                    return  // stopped before the database came
                }
            } catch {
                let failure = DaemonError.fleetStateUnavailable("\(error)")
                if first { gate.opened(.failure(failure)) }
                throw failure
            }
        }
        if first {
            gate.opened(.success(store))
        } else {
            logger.notice("the fleet's shared state is reachable now (\(retry.failures) attempt(s) failed before): joining the fleet")
            handoff.opened(store)
        }
        try? await gracefulShutdown()
        await users.waitUntilNone()
        // Bounded: the pool may wait for a unit stuck on a connection the network lost.
        await store.close(waitingAtMost: .seconds(3))
    }
}

/// The shared store's late arrival: a daemon that started while the database was away takes it
/// from here (its fleet stage, woken by ``opened(_:)``), and reads why it is not there yet.
final class FleetStateHandoff: Sendable {
    private struct State {
        var store: PostgresQueueStore?
        var away: String?
    }
    private let state = Mutex(State())
    private let arrived: @Sendable () -> Void

    /// - Parameter arrived: wakes whoever takes the store.
    init(arrived: @escaping @Sendable () -> Void) {
        self.arrived = arrived
    }

    /// An attempt failed: why, for STATUS= and `purge`'s answer.
    func failed(_ reason: String) {
        state.withLock { $0.away = reason }
    }

    /// The store connected after the start.
    func opened(_ store: PostgresQueueStore) {
        state.withLock {
            $0.store = store
            $0.away = nil
        }
        arrived()
    }

    /// The store, once (nil: not connected yet, or already taken).
    func take() -> PostgresQueueStore? {
        state.withLock { state in
            defer { state.store = nil }
            return state.store
        }
    }

    /// Puts a taken store back (the daemon could not adopt it yet: it tries again).
    func putBack(_ store: PostgresQueueStore) {
        state.withLock { $0.store = store }
    }

    /// Why the last attempt failed (nil once connected).
    var away: String? { state.withLock { $0.away } }
}
