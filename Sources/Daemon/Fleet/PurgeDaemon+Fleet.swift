import FleetStore
import ServiceLifecycle
import StateStore

/// A fleet's daemon (SPEC §9): the queue, the batches and the quota are the site's in the shared
/// PostgreSQL state; the manifest stays in this origin's SQLite file (a stat cache of its own
/// disk). Every origin compares its own tree and queues what changed with what it found at each
/// path; only the daemon holding the lease plans, sends and polls.
extension PurgeDaemon {
    /// Takes on the shared store its Service opened: the detector queues there (URLs first, with
    /// this origin's reports, then the manifest), the planner waits for convergence, and the
    /// submitter and the verifier work the queue only while this daemon holds the lease.
    func adoptFleet(_ shared: PostgresQueueStore) throws {
        guard let identity = fleetIdentity else { return }
        store = shared
        submitter?.store = shared
        verifier?.store = shared
        let member = FleetMember(identity: identity, store: shared, logger: logger)
        fleet = member
        submitter?.readiness = ConvergenceGate(
            store: shared, identity: identity, logger: logger, metrics: metrics, livenessGrace: { member.livenessGrace(now: $0) })
        detection.changeCommit = QueueFirstCommit(
            queue: shared, manifest: db, observer: QueueFirstCommit.FleetObserver(store: shared, origin: identity.origin))
        metrics.fleetSubmitter(false)
        logger.info(
            "fleet: site \(identity.site), origin \(identity.origin), account \(identity.account); converge \(identity.convergeMilliseconds / 1_000)s, origin timeout \(identity.originTimeoutMilliseconds / 1_000)s"
        )
    }

    /// Whether the submitter and the verifier may work the queue now: always for a single
    /// origin; in a fleet, only while this daemon holds the lease (and not in its last tenth).
    func mayWorkTheQueue() -> Bool {
        guard fleetGate != nil else { return true }
        return fleet?.maySubmit(now: clock.wallMilliseconds()) ?? false
    }

    /// The fleet stage: heartbeats and lease claims, each when due (``FleetMember``); at the
    /// graceful stop it gives the lease up so another daemon takes over at once.
    func fleetStage() async throws {
        defer { resourceUsers.leave() }
        for await _ in fleetWakes {
            if Task.isCancelled { break }
            await fleetPass()
        }
        // Cancelled: the release must still reach the database.
        await Task { await self.releaseLease() }.value
    }

    func fleetPass() async {
        guard let fleet else { return }
        let now = clock.wallMilliseconds()
        switch await fleet.pass(now: now) {
        case .granted(let term):
            let fenced = fleet.fencedStore(term: term)
            submitter?.store = fenced
            verifier?.store = fenced
            metrics.fleetSubmitter(true)
            await resendInterrupted(through: fenced)
            submitRequested = true
            submitterWake.yield()
            verifierWake.yield()
        case .stopped:
            metrics.fleetSubmitter(false)
            submitterDue = nil
            verifierDue = nil
        case .none:
            // The holder looks at the shared queue once a heartbeat: the other origins queue
            // there without waking it.
            if fleet.maySubmit(now: now) {
                submitRequested = true
                submitterWake.yield()
            }
        }
        fleetDue = clock.instant(atWallMilliseconds: fleet.nextDue(now: clock.wallMilliseconds()))
        updateStatus()
        armTimer(now: clock.now())
    }

    /// Batches a previous holder left `sending` (it died, or lost the lease, mid-request): planned
    /// again, so they are sent again — at most that one batch charged twice (SPEC §9).
    private func resendInterrupted(through fenced: PostgresQueueStore) async {
        do {
            let interrupted = try await fenced.batches(in: .sending, dueBy: nil)
            for batch in interrupted { try await fenced.dissolve(batch: batch.id) }
            if !interrupted.isEmpty {
                logger.warning("\(interrupted.count) batch(es) were being sent by the previous submitter: planning them again")
            }
        } catch {
            logger.error("cannot look at the previous submitter's batches now (\(error)); the next term tries again")
        }
    }

    private func releaseLease() async {
        await fleet?.release(now: clock.wallMilliseconds())
        metrics.fleetSubmitter(false)
    }
}

/// The fleet stage as a `Service` (heartbeats, the submitter lease).
public struct FleetService: Service {
    let daemon: PurgeDaemon
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { try await daemon.fleetStage() }
        } catch is CancellationError {
            // SIGTERM: the lease was given up on the way out.
        }
    }
}
