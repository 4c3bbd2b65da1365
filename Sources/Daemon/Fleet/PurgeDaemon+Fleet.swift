import FleetStore
import Foundation
import Logging
import PurgeCore
import ServiceLifecycle
import StateStore
import TencentCDN

/// A fleet's daemon (SPEC §9): the queue, the batches and the quota are the site's in the shared
/// PostgreSQL state; the manifest stays in this origin's SQLite file (a stat cache of its own
/// disk). Every origin compares its own tree and queues what changed with what it found at each
/// path; only the daemon holding the lease plans, sends and polls.
extension PurgeDaemon {
    /// Takes on the shared store its Service opened: the detector queues there (URLs first, with
    /// this origin's reports, then the manifest), the planner waits for convergence, and the
    /// submitter and the verifier work the queue only while this daemon holds the lease.
    func adoptFleet(_ shared: PostgresQueueStore) async throws {
        guard let identity = fleetIdentity, fleet == nil else { return }
        // Rows already in the shared queue belong to no flush of this process (read first: what
        // follows takes the store on without a suspension, so no stage sees half of it).
        let watermark = try await shared.highestQueueID()
        flush.rebase(watermark: watermark)
        store = shared
        submitter?.store = shared
        verifier?.store = shared
        let member = FleetMember(identity: identity, store: shared, logger: logger) { [clock] in clock.wallMilliseconds() }
        fleet = member
        submitter?.mayStillSend = { [clock] in member.maySubmit(now: clock.wallMilliseconds()) }
        submitter?.readiness = ConvergenceGate(
            store: shared, identity: identity, logger: logger, metrics: metrics, livenessGrace: { member.livenessGrace(now: $0) })
        detection.changeCommit = QueueFirstCommit(
            queue: shared, manifest: db, observer: QueueFirstCommit.FleetObserver(store: shared, origin: identity.origin))
        metrics.fleetSubmitter(false)
        metrics.sharedQueueExpected()
        await register(identity, in: shared)
        if let left = try? db.read({ try $0.unsentURLCount() }), left > 0 {
            logger.warning(
                "this origin's SQLite state still holds \(left) URL(s) queued before it joined the fleet: they are not sent from there (queue them again with `purgewatch purge`)"
            )
        }
        logger.info(
            "fleet: site \(identity.site), origin \(identity.origin), account \(identity.account); converge \(identity.convergeMilliseconds / 1_000)s, origin timeout \(identity.originTimeoutMilliseconds / 1_000)s"
        )
    }

    /// Registers the site as this origin runs it, and says what an operator must know: another
    /// origin runs it with other settings, or other sites share the account — each site has its
    /// own submitter for now, so their request rates add up (README, "A fleet of origins").
    private func register(_ identity: FleetIdentity, in shared: PostgresQueueStore) async {
        let registration = SiteRegistration(
            site: identity.site, account: identity.account, provider: Self.providerName(config),
            settings: [
                "area": config.purge.area.rawValue, "requests_per_second": "\(config.purge.requestsPerSecond)",
                "directory_fallback": "\(config.purge.directoryFallback)", "url_encode": "\(config.purge.urlEncode)",
                "converge_ms": "\(identity.convergeMilliseconds)", "origin_timeout_ms": "\(identity.originTimeoutMilliseconds)",
            ])
        do {
            if let (previous, origin) = try await shared.registerSite(
                registration, origin: identity.origin, nowMilliseconds: clock.wallMilliseconds())
            {
                logger.warning(
                    "origin \(origin) ran site \(identity.site) with other settings (\(previous.account), \(previous.provider), \(previous.settings.sorted { $0.key < $1.key })): the origins of a site should share one config"
                )
            }
            let others = try await shared.sites(account: identity.account).filter {
                $0.site != identity.site && $0.provider != identity.provider
            }
            if !others.isEmpty {
                logger.notice(
                    "account \(identity.account) also purges for \(others.map(\.site).joined(separator: ", ")) through other EdgeOne zones: each zone has its own submitter, so their requests per second add up"
                )
            }
        } catch {
            logger.warning("cannot register the site in the fleet's state now: \(error)")
        }
    }

    /// Whether the submitter and the verifier may work the queue now: always for a single
    /// origin; in a fleet, only while this daemon holds the lease (and not in its last tenth).
    func mayWorkTheQueue() -> Bool {
        guard fleetGate != nil else { return true }
        guard !takingOver else { return false }
        return fleet?.maySubmit(now: clock.wallMilliseconds()) ?? false
    }

    /// A stage's write was refused by the fence: another daemon holds the lease now. Not trouble
    /// of the state: the stages stop working the queue (the fleet stage sees it at its next claim).
    func leaseLostMidPass(_ error: PostgresStoreError) {
        logger.notice("another daemon took the submitter lease over: this one stops sending (\(error.message))")
        submitterDue = nil
        verifierDue = nil
        fleetWake.yield()
    }

    /// The fleet stage: heartbeats and lease claims, each when due (``FleetMember``); at the
    /// graceful stop it gives the lease up so another daemon takes over at once.
    func fleetStage() async throws {
        defer { resourceUsers.leave() }
        var listener: Task<Void, Never>?
        for await _ in fleetWakes {
            if Task.isCancelled { break }
            if fleet == nil, let shared = fleetHandoff?.take() { await joinLate(shared) }
            if listener == nil, let store = fleet?.store { listener = listenForQueueChanges(store) }
            await fleetPass()
        }
        listener?.cancel()
        await listener?.value
        // Cancelled: the release must still reach the database.
        await Task { await self.releaseLease() }.value
    }

    /// LISTEN on the shared state's queue channel (a speed-up over the holder's look once a
    /// heartbeat): another origin queued URLs, reported what it holds or registered a site, so the
    /// holder's submitter looks now and its fleet stage reads the account's sites again. Other
    /// daemons' submitters return at once (they do not hold the lease). Reconnects with a backoff
    /// until the fleet stage ends; a notification missed meanwhile is found at the next look.
    private func listenForQueueChanges(_ store: PostgresQueueStore) -> Task<Void, Never> {
        let clock = clock
        let logger = logger
        var retry = RetrySchedule(base: options.fleetConnectRetryBase, max: .milliseconds(fleet?.identity.heartbeatEvery ?? 10_000))
        return Task.detached {
            while !Task.isCancelled {
                let began = clock.now()
                var reason = "the listening connection ended"
                do {
                    try await store.listenForQueueChanges { site in
                        Task { await self.queueChanged(site: site) }
                    }
                } catch {
                    reason = "\(error)"
                }
                if Task.isCancelled { break }
                let now = clock.now()
                // A listen that held for a while starts the backoff over.
                if began.duration(to: now) > retry.max { retry.succeeded() }
                let (retryAt, log) = retry.failed(reason, now: now)
                if log { logger.info("not listening for the fleet's queue changes (\(reason)); looking once a heartbeat meanwhile") }
                try? await Task.sleep(for: now.duration(to: retryAt))
            }
        }
    }

    /// A notification: `site` queued URLs, reported what it holds or registered. Only the holder
    /// acts — its submitter looks when the site is one it sends for, its fleet stage reads the
    /// account's sites again when it is not (a site new to the account, or another account's).
    func queueChanged(site: String) {
        guard let fleet, fleet.maySubmit(now: clock.wallMilliseconds()) else { return }
        if site == fleet.identity.site || accountWork.sites[site] != nil {
            submitRequested = true
            submitterWake.yield()
        } else {
            fleetWake.yield()
        }
    }

    /// The shared state connected after the start (it was away then): the daemon takes it on now,
    /// and the detector compares what it could not commit meanwhile (``AwayFleetCommit`` refused
    /// it, so the paths — the start's whole walk included — are still owed and the manifest
    /// still holds their old state).
    private func joinLate(_ shared: PostgresQueueStore) async {
        do {
            // The origins as the outage left them, before this daemon's own reports land.
            let origins = try await shared.origins()
            try await adoptFleet(shared)
            fleet?.joinedLate(origins: origins, awaySince: startedWallMilliseconds, now: clock.wallMilliseconds())
        } catch {
            // The database went away again at once: the next attempt is the next heartbeat's.
            fleetHandoff?.putBack(shared)
            logger.warning("cannot join the fleet's shared state yet (\(error)); trying again shortly")
            fleetDue = clock.now().advanced(by: options.fleetConnectRetryBase)
            armTimer(now: clock.now())
            return
        }
        logger.notice("joined the fleet's shared state: what was detected while it was away is queued now")
        if !detection.isIdle { coalescer.noteChange(at: clock.now()) }
        armTimer(now: clock.now())
        fleetWake.yield()
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
            // The previous holder's half-sent batches first: no pass of this term runs meanwhile.
            takingOver = true
            await resendInterrupted(through: fenced, provider: provider, areas: submitter?.quotaAreas ?? [])
            takingOver = false
            submitRequested = true
            submitterWake.yield()
            verifierWake.yield()
        case .stopped:
            accountWork.clear()
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
        let seenBy = clock.wallMilliseconds() - fleet.identity.originTimeoutMilliseconds
        let live = fleet.origins.filter { $0.lastSeenMilliseconds > seenBy }.map(\.name)
        let lagging = (submitter?.readiness as? ConvergenceGate)?.laggards.intersection(live).count ?? 0
        metrics.fleetOrigins(live: live.count - lagging, lagging: lagging, gone: fleet.origins.count - live.count)
        if metricsGate != nil, clock.wallMilliseconds() >= nextQueueGaugeRead {
            // The endpoint's queue gauges on a fleet: the site's shared queue, read once a heartbeat
            // (a scrape never waits on PostgreSQL); kept as last read while it cannot be.
            nextQueueGaugeRead = clock.wallMilliseconds() + fleet.identity.heartbeatEvery
            if let queue = try? await fleet.store.queueOverview(OverviewRequest()) { metrics.sharedQueueRead(queue) }
        }
        if let term = fleet.handedTerm, fleet.maySubmit(now: clock.wallMilliseconds()) {
            await refreshAccountWork(term: term)
        }
        // `flush --wait` clients: their rows' progress is in the shared state (woken by the control
        // loop while they wait, at least once a second).
        await answerWaitersFromSharedState()
        fleetDue = clock.instant(atWallMilliseconds: fleet.nextDue(now: clock.wallMilliseconds()))
        updateStatus()
        armTimer(now: clock.now())
    }

    /// Whether the provider accepted `batch` before its sender died (DescribePurgeTasks): then it is
    /// recorded accepted with the task found — polled, not sent again — and true is returned.
    private func recordIfAccepted(
        _ batch: BatchRow, through fenced: PostgresQueueStore, provider: (any CDNProvider)?, areas: [String]
    ) async throws -> Bool {
        guard let provider else { return false }
        let sentAt = Date(timeIntervalSince1970: Double(batch.updatedMilliseconds) / 1_000)
        let taskID: String?
        do {
            // Tasks already recorded on the site's batches (an earlier purge of the same URLs) are not this one.
            let known = try await fenced.recordedTaskIDs(since: batch.updatedMilliseconds - 3_600_000)
            taskID = try await provider.acceptedTask(
                for: batch.targets, kind: batch.action == .urls ? .urls : .directories, sentAt: sentAt, excluding: known,
                deadline: ContinuousClock.now.advanced(by: .seconds(10)))
        } catch {
            logger.warning("cannot look batch \(batch.id) up with DescribePurgeTasks (\(error)): it is sent again")
            return false
        }
        guard let taskID else { return false }
        let now = clock.wall()
        let (next, actions) = BatchLifecycle.next(.sending, .accepted(now: now), policy: BatchLifecycle.Policy(options))
        var firstPoll = now
        if case .recordAccepted(let at)? = actions.first { firstPoll = at }
        try await fenced.recordAccepted(
            batch,
            acceptance: Acceptance(
                state: next ?? .accepted, taskID: taskID, requestID: "", acceptedMilliseconds: batch.updatedMilliseconds,
                firstPollMilliseconds: Int64(firstPoll.timeIntervalSince1970 * 1_000), areas: areas,
                attempts: batch.attempts),
            nowMilliseconds: clock.wallMilliseconds())
        logger.notice("batch \(batch.id), in flight when the previous submitter stopped, was accepted as task \(taskID): not sent again")
        return true
    }

    /// The holder's work for the account's other sites, from the registry (read at each pass:
    /// a site joins or leaves the account without a restart).
    private func refreshAccountWork(term: Int64) async {
        guard let fleet, let shared = fleet.store as PostgresQueueStore?,
            let registrations = try? await shared.sites(account: fleet.identity.account)
        else { return }
        let own = fleet.identity
        let same = registrations.filter { $0.provider == own.provider }
        let added = accountWork.refresh(same, own: own.site, term: term) { registration in
            let siteConfig = AccountWork.config(for: registration, from: config)
            var siteLogger = logger
            siteLogger[metadataKey: "purge.site"] = "\(registration.site)"
            let plain = PostgresQueueStore(
                client: shared.client, site: registration.site, ledger: shared.ledger, url: shared.url, logger: siteLogger)
            let fenced = plain.fenced(by: LeaseFence(account: own.leaseKey, holder: own.holder, term: term))
            let siteProvider = siteProvider(for: siteConfig)
            let submitter = Submitter(
                store: fenced, provider: siteProvider, config: siteConfig, options: options, clock: clock, logger: siteLogger,
                health: health)
            submitter.readiness = ConvergenceGate(
                store: plain, identity: AccountWork.identity(for: registration, own: own), logger: siteLogger, metrics: metrics,
                livenessGrace: { fleet.livenessGrace(now: $0) })
            submitter.mayStillSend = { [clock] in fleet.maySubmit(now: clock.wallMilliseconds()) }
            let verifier = Verifier(
                store: fenced, provider: siteProvider, config: siteConfig, options: options, clock: clock, logger: siteLogger,
                health: health)
            logger.info("the submitter of \(own.leaseKey) sends for site \(registration.site) too")
            return AccountWork.Site(submitter: submitter, verifier: verifier, registration: registration, store: fenced)
        }
        guard !added.isEmpty else { return }
        // A new term, or a site new to the account: the previous holder's half-sent batches of
        // that site first (looked up, or planned again), then its queue is worked at once.
        takingOver = true
        for name in added {
            guard let site = accountWork.sites[name] else { continue }
            await resendInterrupted(through: site.store, provider: site.submitter.provider, areas: site.submitter.quotaAreas)
        }
        takingOver = false
        submitRequested = true
        submitterWake.yield()
        verifierWake.yield()
    }

    /// The provider another site of the account sends through: this daemon's API client (one
    /// rate limiter), with the site's area and URL encoding (EdgeOne: this daemon's provider, the
    /// same zone).
    func siteProvider(for siteConfig: SiteConfig) -> (any CDNProvider)? {
        guard let apiClient, siteConfig.tencentCloud.product == .cdn else { return provider }
        return TencentCDNProvider(
            client: apiClient, area: siteConfig.purge.area == .any ? nil : siteConfig.purge.area.rawValue,
            urlEncode: siteConfig.purge.urlEncode)
    }

    /// Batches a previous holder left `sending` (it died, or lost the lease, mid-request): planned
    /// again, so they are sent again — at most that one batch charged twice (SPEC §9).
    private func resendInterrupted(through fenced: PostgresQueueStore, provider: (any CDNProvider)?, areas: [String]) async {
        do {
            let interrupted = try await fenced.batches(in: .sending, dueBy: nil)
            var found = 0
            for batch in interrupted {
                if try await recordIfAccepted(batch, through: fenced, provider: provider, areas: areas) {
                    found += 1
                } else {
                    _ = try await fenced.dissolveIfSending(batch: batch.id)
                }
            }
            if !interrupted.isEmpty {
                logger.warning(
                    "\(interrupted.count) batch(es) were being sent by the previous submitter: \(found) found accepted (DescribePurgeTasks), the rest planned again"
                )
            }
        } catch {
            logger.error("cannot look at the previous submitter's batches now (\(error)); the next term tries again")
        }
    }

    /// Gives the lease up, or gives up after 2 s (a database away must not hold the stop past
    /// systemd's TimeoutStopSec: the lease then lapses by itself). Not a task group: one waits for
    /// its children, and a unit stuck on a connection the network lost may not end when cancelled.
    private func releaseLease() async {
        metrics.fleetSubmitter(false)
        guard fleet != nil else { return }
        await awaitAtMost(.seconds(2)) { await self.releaseNow() }
    }

    private func releaseNow() async {
        await fleet?.release(now: clock.wallMilliseconds())
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
