import FleetStore
import Foundation
import Logging
import PurgeCore

/// Who this daemon is in its fleet (SPEC §9), from `[fleet]`: the names that key the shared
/// state and the timings its rules use.
public struct FleetIdentity: Sendable, Equatable {
    let site: String
    let origin: String
    let account: String
    /// This process's name as a lease holder: `site/origin/instance`, the instance drawn at start,
    /// so a restarted daemon is another holder (``PostgresQueueStore/claimLease``).
    let holder: String
    let convergeMilliseconds: Int64
    let originTimeoutMilliseconds: Int64
    /// The provider the site purges through (`cdn`, `edgeone zone-…`: ``PurgeDaemon/providerName(_:)``).
    let provider: String

    public init(
        _ fleet: SiteConfig.Fleet, provider: String = "cdn", instance: String = String(UInt32.random(in: 0...UInt32.max), radix: 36)
    ) {
        self.provider = provider
        site = fleet.site
        origin = fleet.origin
        account = fleet.account
        holder = "\(fleet.site)/\(fleet.origin)/\(instance)"
        convergeMilliseconds = fleet.converge.milliseconds
        originTimeoutMilliseconds = fleet.originTimeout.milliseconds
    }

    /// The lease's key: one submitter per account and provider. The holder plans and sends for
    /// every site of the account that purges through the same provider (``AccountWork``), through
    /// one API client: one rate, one quota ledger (``QuotaLedger``). Sites of one account on
    /// different EdgeOne zones have a submitter per zone (a zone's API client cannot purge
    /// another's).
    public var leaseKey: String { "\(account)/\(provider)" }

    /// How often an origin says it is alive: three times per `origin_timeout`, so one late
    /// heartbeat does not make it a laggard or gone.
    var heartbeatEvery: Int64 { max(1, originTimeoutMilliseconds / 3) }
}

/// The fleet stage's own state (SPEC §9): this origin's heartbeat and its side of the submitter
/// lease (``SubmitterLease``). It opens nothing: the shared store is the ``FleetStateService``'s.
///
/// The daemon runs a ``pass(now:)`` when its due time comes (``nextDue()``) and applies what it
/// returns: a term granted hands the submitter and the verifier a store fenced by that term; a
/// lease lost (or about to end) stops them before the next request. Runs on its caller's
/// executor (the daemon's thread).
final class FleetMember {
    let identity: FleetIdentity
    /// The site's shared store, unfenced (the lease's own units are never fenced).
    let store: PostgresQueueStore
    let logger: Logger
    private(set) var lease: SubmitterLease
    private(set) var nextHeartbeat: Int64 = 0
    /// The term the stages were last handed a store for (nil: none).
    private(set) var handedTerm: Int64?
    /// Why the last unit could not reach the database (nil: it could), for `status` and the log.
    private(set) var trouble: String?
    /// The site's origins as last read (at each heartbeat), for the metrics.
    private(set) var origins: [FleetOrigin] = []
    /// Who else holds the lease, as last seen (for the log, once per holder).
    private var lastOtherHolder: String?
    /// When a unit last reached the database, and — after an outage — when it was reached again
    /// and when it had last been reached before (``livenessGrace(now:)``).
    private var lastReached: Int64?
    private var outage: (lastReachedBefore: Int64, back: Int64)?
    /// The wall clock (milliseconds), read when a unit returns: a unit may wait for the pool a
    /// long time before it succeeds (a database away whose connections are refused is waited out,
    /// not always failed), and that wait is an outage too.
    let wallClock: () -> Int64

    init(identity: FleetIdentity, store: PostgresQueueStore, logger: Logger, wallClock: @escaping () -> Int64) {
        self.identity = identity
        self.store = store
        self.logger = logger
        self.wallClock = wallClock
        self.lease = SubmitterLease(ttlMilliseconds: identity.originTimeoutMilliseconds)
    }

    /// What a pass changed for the stages.
    enum Change: Equatable {
        case none
        /// This daemon holds a new term: the stages send through a store fenced by it.
        case granted(term: Int64)
        /// It may not send any more (the lease lost, ended or about to end).
        case stopped
    }

    /// Whether this daemon may plan, send and poll now.
    func maySubmit(now: Int64) -> Bool { lease.maySubmit(now: now) }

    /// When the next pass is due (wall-clock milliseconds): the next heartbeat or claim, or the
    /// moment a held lease stops allowing sends.
    func nextDue(now: Int64) -> Int64 {
        var due = [nextHeartbeat, lease.nextClaim(now: now)]
        // The moment sending stops, while it is ahead (once passed, it is no deadline).
        if case .holding(_, let until) = lease.standing, until - lease.margin > now { due.append(until - lease.margin) }
        return max(now, due.min() ?? now)
    }

    /// Heartbeat and claim, each when due. Never throws: a database away is recorded as trouble
    /// (the lease keeps what it knew until it ends) and tried again at the next due time.
    nonisolated(nonsending) func pass(now: Int64) async -> Change {
        var reached = true
        if now >= nextHeartbeat {
            do {
                try await store.heartbeat(origin: identity.origin, nowMilliseconds: now)
                nextHeartbeat = now + identity.heartbeatEvery
                origins = try await store.origins()
            } catch {
                reached = false
                noteTrouble(error)
                nextHeartbeat = now + min(identity.heartbeatEvery, 1_000)
            }
        }
        if now >= lease.nextClaim(now: now) {
            do {
                let claim = try await store.claimLease(
                    account: identity.leaseKey, holder: identity.holder, ttlMilliseconds: identity.originTimeoutMilliseconds,
                    nowMilliseconds: now)
                if claim.granted {
                    lease.claimed(.granted(term: claim.term, until: claim.expiresAtMilliseconds), now: now)
                } else {
                    lease.claimed(.refused(holder: claim.holder, until: claim.expiresAtMilliseconds), now: now)
                    if lastOtherHolder != claim.holder {
                        lastOtherHolder = claim.holder
                        logger.info("the submitter of \(identity.leaseKey) is \(claim.holder); this daemon watches and queues")
                    }
                }
            } catch {
                reached = false
                noteTrouble(error)
                lease.claimFailed(now: now)
            }
        }
        if reached {
            let done = wallClock()
            if let was = trouble {
                trouble = nil
                outage = (lastReached ?? now, done)
                logger.notice("the fleet's PostgreSQL state is reachable again (was: \(was))")
            } else if let last = lastReached, done - last > 2 * identity.heartbeatEvery {
                // No error, but nothing got through for that long: the units waited for the pool.
                outage = (last, done)
                logger.notice("the fleet's PostgreSQL state answered again after \((done - last) / 1_000) s without an answer")
            }
            lastReached = done
        }
        return handOver(now: now)
    }

    /// After this daemon could not reach the database, the other origins could not either: their
    /// silence says nothing about them. For `origin_timeout` after the database is back, an origin
    /// that was live when it went away counts as live (it has that long to be heard of again);
    /// returns that instant (origins seen within `origin_timeout` before it), or nil outside a grace.
    func livenessGrace(now: Int64) -> Int64? {
        // Still away as this stage last saw it (another stage may have got through since).
        if trouble != nil { return lastReached ?? now }
        guard let outage, now < outage.back + identity.originTimeoutMilliseconds else { return nil }
        return outage.lastReachedBefore
    }

    /// This daemon joined the shared state after starting without it (away at start, since
    /// `awaySince`): the other origins may have been as cut off as it was, so their silence says
    /// nothing either. The database was last reached by anyone about when the newest heartbeat
    /// older than `awaySince` was left (`origins`, read before this daemon's own); for
    /// `origin_timeout` from now, origins seen within `origin_timeout` before that count as live,
    /// as after an outage seen while running (``livenessGrace(now:)``).
    func joinedLate(origins: [FleetOrigin], awaySince: Int64, now: Int64) {
        guard let lastReachedByAnyone = origins.map(\.lastSeenMilliseconds).filter({ $0 <= awaySince }).max() else { return }
        outage = (lastReachedByAnyone, now)
    }

    /// Gives the lease up (a graceful stop): another daemon may take it at once.
    nonisolated(nonsending) func release(now: Int64) async {
        guard let term = lease.term(now: now) else { return }
        try? await store.releaseLease(LeaseFence(account: identity.leaseKey, holder: identity.holder, term: term))
        lease.released(now: now)
        handedTerm = nil
    }

    /// The store the stages send through while this daemon holds `term`.
    func fencedStore(term: Int64) -> PostgresQueueStore {
        store.fenced(by: LeaseFence(account: identity.leaseKey, holder: identity.holder, term: term))
    }

    private func handOver(now: Int64) -> Change {
        let term = lease.term(now: now)
        guard term != handedTerm else { return .none }
        handedTerm = term
        if let term {
            lastOtherHolder = nil
            logger.notice("this daemon is the submitter of \(identity.leaseKey) now (term \(term))")
            return .granted(term: term)
        }
        logger.notice("this daemon no longer holds the submitter lease of \(identity.leaseKey): it stops sending")
        return .stopped
    }

    private func noteTrouble(_ error: any Error) {
        let reason = "\(error)"
        if trouble != reason {
            logger.error(
                "cannot reach the fleet's PostgreSQL state: \(reason); watching and comparing go on, and what cannot be queued is found again")
        }
        trouble = reason
    }
}
