import PurgeCore
import Testing

/// SPEC §9, sentence by sentence: "A URL is purged once per new version, however many origins
/// report it: when every live origin of the site holds the same bytes for its path (same hash,
/// or deleted everywhere), or when `converge` has passed since the first origin reported it. A
/// purge made before convergence is logged as a warning naming the lagging origins, and the URL
/// is purged again once they catch up." And: "an origin silent this long is not live".
@Suite struct ConvergenceTests {
    static let old: Convergence.Content = .bytes(Array(repeating: 1, count: 32))
    static let new: Convergence.Content = .bytes(Array(repeating: 2, count: 32))
    static let t0: Int64 = 1_800_000_000_000
    static let converge: Int64 = 120_000
    static let timeout: Int64 = 30_000

    static func version(_ target: Convergence.Content = new) -> Convergence {
        Convergence(target: target, firstReportedMilliseconds: t0, convergeMilliseconds: converge, originTimeoutMilliseconds: timeout)
    }

    /// Three origins heard of at `now` (live), holding what is given.
    static func origins(_ web1: Convergence.Content?, _ web2: Convergence.Content?, _ web3: Convergence.Content?, seen: Int64)
        -> [Convergence.Origin]
    {
        [("web1", web1), ("web2", web2), ("web3", web3)].map {
            Convergence.Origin(name: $0.0, lastSeenMilliseconds: seen, observed: $0.1)
        }
    }

    @Test func purgedOnceAndOnlyAfterEveryOriginHoldsTheNewBytes() {
        var version = Self.version()
        // web1 has the deploy; web2 and web3 not yet: wait, never purge.
        for now in stride(from: Self.t0, to: Self.t0 + 6_000, by: 1_000) {
            let action = version.step(origins: Self.origins(Self.new, Self.old, Self.old, seen: now), now: now)
            #expect(action == .wait(until: now + Self.timeout), "must not: purged while web2 and web3 lag (at +\(now - Self.t0) ms)")
        }
        #expect(
            version.step(origins: Self.origins(Self.new, Self.new, Self.old, seen: Self.t0 + 3_000), now: Self.t0 + 3_000)
                == .wait(until: Self.t0 + 33_000))
        #expect(version.step(origins: Self.origins(Self.new, Self.new, Self.new, seen: Self.t0 + 6_000), now: Self.t0 + 6_000) == .purge)
        #expect(version.state == .done)
        // However many origins report it again: once.
        for now in [Self.t0 + 7_000, Self.t0 + 200_000] {
            #expect(version.step(origins: Self.origins(Self.new, Self.new, Self.new, seen: now), now: now) == .wait(until: nil))
        }
    }

    @Test func pastConvergeItIsPurgedNamingTheLaggardsAndAgainWhenTheyCatchUp() {
        var version = Self.version()
        let deadline = Self.t0 + Self.converge
        // web3 keeps its heartbeat but not the deploy: the wait ends at `converge`, not before.
        #expect(version.step(origins: Self.origins(Self.new, Self.new, Self.old, seen: deadline - 1), now: deadline - 1) == .wait(until: deadline))
        #expect(version.step(origins: Self.origins(Self.new, Self.new, Self.old, seen: deadline), now: deadline) == .purgeLagging(["web3"]))
        #expect(version.state == .purgedEarly(laggards: ["web3"]))
        // Still lagging: nothing more, and looked at again when it would stop being live.
        let later = deadline + 5_000
        #expect(version.step(origins: Self.origins(Self.new, Self.new, Self.old, seen: later), now: later) == .wait(until: later + Self.timeout))
        // It catches up: purged again, once.
        #expect(version.step(origins: Self.origins(Self.new, Self.new, Self.new, seen: later + 1), now: later + 1) == .purgeAgain)
        #expect(version.step(origins: Self.origins(Self.new, Self.new, Self.new, seen: later + 2), now: later + 2) == .wait(until: nil))
    }

    @Test func anOriginSilentPastTheTimeoutIsNotWaitedFor() {
        var version = Self.version()
        // web3 was last heard of 20 s before the first report: it is live for 10 s more.
        var origins = Self.origins(Self.new, Self.new, Self.old, seen: Self.t0)
        origins[2].lastSeenMilliseconds = Self.t0 - 20_000
        #expect(version.step(origins: origins, now: Self.t0) == .wait(until: Self.t0 + 10_000), "looked at again when web3 stops being live")
        #expect(version.step(origins: origins, now: Self.t0 + 9_999) == .wait(until: Self.t0 + 10_000))
        #expect(version.step(origins: origins, now: Self.t0 + 10_000) == .purge, "web3 is not live: the live ones hold it")
    }

    @Test func aLaggardThatGoesAwayAfterAnEarlyPurgeIsPurgedForOnce() {
        var version = Self.version()
        let deadline = Self.t0 + Self.converge
        #expect(version.step(origins: Self.origins(Self.new, Self.old, Self.old, seen: deadline), now: deadline) == .purgeLagging(["web2", "web3"]))
        // web2 catches up; web3 still lags: not yet.
        #expect(
            version.step(origins: Self.origins(Self.new, Self.new, Self.old, seen: deadline + 1_000), now: deadline + 1_000)
                == .wait(until: deadline + 31_000))
        // web3 falls silent: what the CDN may have fetched from it is purged once more.
        var origins = Self.origins(Self.new, Self.new, Self.old, seen: deadline + 40_000)
        origins[2].lastSeenMilliseconds = deadline + 1_000
        #expect(version.step(origins: origins, now: deadline + 40_000) == .purgeAgain)
        #expect(version.state == .done)
    }

    @Test func aDeletionConvergesWhenEveryLiveOriginReportsIt() {
        var version = Self.version(.deleted)
        // web2 reported nothing: it may hold the file unchanged since its baseline, so it lags.
        #expect(version.step(origins: Self.origins(.deleted, nil, .deleted, seen: Self.t0), now: Self.t0) == .wait(until: Self.t0 + Self.timeout))
        #expect(version.step(origins: Self.origins(.deleted, .deleted, .deleted, seen: Self.t0 + 1), now: Self.t0 + 1) == .purge)
        // New bytes likewise: an origin that did not report the path does not hold them.
        var created = Self.version(Self.new)
        #expect(created.step(origins: Self.origins(Self.new, nil, Self.new, seen: Self.t0), now: Self.t0) == .wait(until: Self.t0 + Self.timeout))
    }

    @Test func withNoLiveOriginNothingServesTheOldBytes() {
        var version = Self.version()
        let silent = Self.origins(Self.new, Self.old, Self.old, seen: Self.t0 - Self.timeout)
        #expect(version.step(origins: silent, now: Self.t0) == .purge)
    }

    /// A third content (a newer deploy on one origin) is not this version: that origin lags here,
    /// and at `converge` it is named.
    @Test func anOriginWithANewerVersionLagsForThisOne() {
        var version = Self.version()
        let newer: Convergence.Content = .bytes(Array(repeating: 3, count: 32))
        let deadline = Self.t0 + Self.converge
        #expect(version.step(origins: Self.origins(Self.new, Self.new, newer, seen: deadline), now: deadline) == .purgeLagging(["web3"]))
    }
}
