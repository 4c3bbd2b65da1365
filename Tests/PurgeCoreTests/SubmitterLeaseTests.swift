import PurgeCore
import Testing

/// SPEC §9: one submitter per account, failover within `origin_timeout`; a holder stops sending
/// before its lease ends and keeps it through a short database outage; no claim storm. The
/// store's answers and the clock are inputs.
@Suite struct SubmitterLeaseTests {
    static let ttl: Int64 = 30_000
    static let t0: Int64 = 1_800_000_000_000

    @Test func aDaemonClaimsAtOnceThenRenewsAtAThirdOfItsLease() {
        var lease = SubmitterLease(ttlMilliseconds: Self.ttl)
        #expect(lease.nextClaim(now: Self.t0) == Self.t0)
        #expect(!lease.maySubmit(now: Self.t0), "must not: send before the store granted the lease")
        lease.claimed(.granted(term: 7, until: Self.t0 + Self.ttl), now: Self.t0)
        #expect(lease.maySubmit(now: Self.t0))
        #expect(lease.term(now: Self.t0) == 7)
        #expect(lease.nextClaim(now: Self.t0) == Self.t0 + 10_000)
        // Renewed: the same term, a later end.
        lease.claimed(.granted(term: 7, until: Self.t0 + 40_000), now: Self.t0 + 10_000)
        #expect(lease.nextClaim(now: Self.t0 + 10_000) == Self.t0 + 20_000)
    }

    @Test func aHolderStopsSendingBeforeItsLeaseEnds() {
        var lease = SubmitterLease(ttlMilliseconds: Self.ttl)
        lease.claimed(.granted(term: 1, until: Self.t0 + Self.ttl), now: Self.t0)
        let end = Self.t0 + Self.ttl
        #expect(lease.maySubmit(now: end - lease.margin - 1))
        #expect(!lease.maySubmit(now: end - lease.margin), "must not: a request begun in the last tenth may outlive the lease")
        #expect(!lease.maySubmit(now: end))
        #expect(lease.term(now: end) == nil)
    }

    @Test func anotherHoldersLeaseIsClaimedAgainWhenItEndsNotBefore() {
        var lease = SubmitterLease(ttlMilliseconds: Self.ttl)
        lease.claimed(.refused(holder: "www/web1", until: Self.t0 + 12_000), now: Self.t0)
        #expect(!lease.maySubmit(now: Self.t0))
        #expect(lease.standing == .heldElsewhere(holder: "www/web1", until: Self.t0 + 12_000))
        // Failover: looked at when web1's lease ends (≤ origin_timeout after its last renewal).
        #expect(lease.nextClaim(now: Self.t0) == Self.t0 + 12_000)
        // A lease reported to run far beyond a lease's length (a clock ahead) is looked at again
        // within one length anyway.
        lease.claimed(.refused(holder: "www/web1", until: Self.t0 + 10 * Self.ttl), now: Self.t0)
        #expect(lease.nextClaim(now: Self.t0) == Self.t0 + Self.ttl)
    }

    @Test func aDatabaseOutageKeepsTheLeaseUntilItEndsAndNeverStormsTheStore() {
        var lease = SubmitterLease(ttlMilliseconds: Self.ttl)
        lease.claimed(.granted(term: 3, until: Self.t0 + Self.ttl), now: Self.t0)
        // The renewal at t0+10 s fails: still the holder, tried again after the retry delay.
        lease.claimFailed(now: Self.t0 + 10_000)
        #expect(lease.maySubmit(now: Self.t0 + 10_000))
        #expect(lease.nextClaim(now: Self.t0 + 10_000) == Self.t0 + 10_000 + lease.retryDelay)
        // Failing past the end: no longer the holder (another may have taken it), and not
        // claimed again before the retry delay.
        lease.claimFailed(now: Self.t0 + 28_000)
        #expect(lease.standing == .unknown)
        #expect(!lease.maySubmit(now: Self.t0 + 28_000))
        #expect(lease.nextClaim(now: Self.t0 + 28_000) == Self.t0 + 28_000 + lease.retryDelay)
        // Back: the store decides again.
        lease.claimed(.refused(holder: "www/web2", until: Self.t0 + 60_000), now: Self.t0 + 31_000)
        #expect(!lease.maySubmit(now: Self.t0 + 31_000))
        #expect(lease.retryAt == nil)
    }

    @Test func aReleasedLeaseIsNoLongerUsed() {
        var lease = SubmitterLease(ttlMilliseconds: Self.ttl)
        lease.claimed(.granted(term: 2, until: Self.t0 + Self.ttl), now: Self.t0)
        lease.released(now: Self.t0 + 1)
        #expect(!lease.maySubmit(now: Self.t0 + 1))
        #expect(lease.term(now: Self.t0 + 1) == nil)
        #expect(lease.nextClaim(now: Self.t0 + 1) == Self.t0 + 1 + Self.ttl, "must not: claim straight back what it gave up")
    }
}
