/// SPEC §9's "one submitter per account, failover without loss", as one daemon sees it: at most
/// one daemon of an account sends purges, by holding a lease in the shared state; the lease has a
/// term (a fencing token: a daemon whose term is stale writes nothing — the store refuses it) and
/// lapses `origin_timeout` after its last renewal, so when its holder dies another live daemon
/// takes over within that time.
///
/// A pure state machine: the store's answers to a claim (granted with a term, or held by another)
/// and the clock are inputs; whether this daemon may send now and when to claim next are its
/// answers. Times are wall-clock milliseconds, as the shared state keeps them (the origins' clocks
/// are expected to agree within a small part of `origin_timeout`, as NTP keeps them).
/// Table-tested without a database or a clock (`PurgeCoreTests/SubmitterLeaseTests`).
public struct SubmitterLease: Sendable, Equatable {
    /// Where this daemon stands.
    public enum Standing: Sendable, Equatable {
        /// Not known yet, or the last claim could not reach the state and the lease held then has
        /// run out: claim at once.
        case unknown
        /// This daemon holds the lease with `term` until `until` (unless it renews).
        case holding(term: Int64, until: Int64)
        /// Another daemon (`holder`) holds it until `until`.
        case heldElsewhere(holder: String, until: Int64)
    }

    /// What the store answered to a claim.
    public enum Claim: Sendable, Equatable {
        /// This daemon holds the lease, with this term, until `until`.
        case granted(term: Int64, until: Int64)
        /// `holder` holds it until `until`.
        case refused(holder: String, until: Int64)
    }

    /// How long a claim or a renewal holds the lease (`origin_timeout`).
    public let ttlMilliseconds: Int64
    public private(set) var standing: Standing = .unknown
    /// When a claim last reached the store.
    public private(set) var lastClaimMilliseconds: Int64?
    /// After a claim that did not reach the store: not before this (no retry storm).
    public private(set) var retryAt: Int64?

    public init(ttlMilliseconds: Int64) {
        precondition(ttlMilliseconds > 0)
        self.ttlMilliseconds = ttlMilliseconds
    }

    /// A holder renews at a third of the lease, so two renewals can fail before it lapses.
    public var renewEvery: Int64 { max(1, ttlMilliseconds / 3) }

    /// How long after a claim that did not reach the store the next one is made.
    public var retryDelay: Int64 { max(1, renewEvery / 3) }

    /// A holder stops sending this long before its lease ends: a request begun just before the
    /// end must not still be on its way when another daemon may take over.
    public var margin: Int64 { max(1, ttlMilliseconds / 10) }

    /// Whether this daemon may send purges (and poll, and plan) at `now`.
    public func maySubmit(now: Int64) -> Bool {
        if case .holding(_, let until) = standing { return now < until - margin }
        return false
    }

    /// The term this daemon holds at `now` (its fencing token), if it may submit.
    public func term(now: Int64) -> Int64? {
        if case .holding(let term, _) = standing, maySubmit(now: now) { return term }
        return nil
    }

    /// When to claim (or renew) next: a holder at a third of its lease; a daemon that sees
    /// another holder at that holder's end (its failover); otherwise at once — but never sooner
    /// than ``retryDelay`` after a claim that did not reach the store.
    public func nextClaim(now: Int64) -> Int64 {
        let planned: Int64
        switch standing {
        case .unknown:
            planned = now
        case .holding(_, let until):
            planned = min((lastClaimMilliseconds ?? now) + renewEvery, until - margin)
        case .heldElsewhere(_, let until):
            // Claimed again once it may have lapsed, and at least once a lease's length.
            planned = min(until, (lastClaimMilliseconds ?? now) + ttlMilliseconds)
        }
        return max(planned, retryAt ?? planned)
    }

    /// The store answered a claim made at `now`.
    public mutating func claimed(_ claim: Claim, now: Int64) {
        lastClaimMilliseconds = now
        retryAt = nil
        switch claim {
        case .granted(let term, let until):
            standing = .holding(term: term, until: until)
        case .refused(let holder, let until):
            standing = .heldElsewhere(holder: holder, until: until)
        }
    }

    /// A claim made at `now` did not reach the store (the database is away): a holder keeps its
    /// lease until it ends — the store would refuse its writes after a takeover anyway — and
    /// stops sending then; a daemon that saw another holder knows nothing more.
    public mutating func claimFailed(now: Int64) {
        retryAt = now + retryDelay
        switch standing {
        case .holding(_, let until) where now < until - margin:
            break
        case .holding, .heldElsewhere, .unknown:
            standing = .unknown
        }
    }

    /// This daemon gave the lease up at `now` (a graceful stop): another may take it at once, and
    /// this one does not claim it back before a lease's length has passed.
    public mutating func released(now: Int64) {
        standing = .unknown
        retryAt = now + ttlMilliseconds
    }
}
