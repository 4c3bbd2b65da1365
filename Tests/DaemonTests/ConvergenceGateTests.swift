import FleetStore
import PurgeCore
import Testing

@testable import Daemon

/// The planner's side of SPEC §9's "purge once, and only after every origin has the new bytes":
/// one path's decision from every origin's report of it, as the shared store hands them
/// (``ConvergenceGate/decide(_:identity:now:)``). Times are wall-clock milliseconds.
@Suite struct ConvergenceGateTests {
    /// converge 120 s, origin_timeout 30 s.
    static let identity = FleetIdentity(
        SiteConfig.Fleet(
            origin: "web1", site: "example", account: "default", converge: ConfigDuration(milliseconds: 120_000),
            originTimeout: ConfigDuration(milliseconds: 30_000)), instance: "i")
    static let v1 = Observation.Content.bytes([1])
    static let v2 = Observation.Content.bytes([2])

    static func report(_ origin: String, seen: Int64, _ content: Observation.Content?, since: Int64? = nil) -> OriginReport {
        OriginReport(origin: origin, lastSeenMilliseconds: seen, content: content, sinceMilliseconds: content == nil ? nil : since ?? seen)
    }

    func decide(_ reports: [OriginReport], now: Int64) -> ConvergenceGate.Decision {
        ConvergenceGate.decide(reports, identity: Self.identity, now: now)
    }

    @Test("every live origin holds the same bytes: ready, nobody lags")
    func everyOriginHoldsIt() {
        let reports = [
            Self.report("web1", seen: 10_000, Self.v2, since: 1_000), Self.report("web2", seen: 10_000, Self.v2, since: 4_000),
            Self.report("web3", seen: 10_000, Self.v2, since: 7_000),
        ]
        #expect(decide(reports, now: 10_000) == .ready(laggards: [], firstReported: 1_000))
    }

    @Test("an origin still on the old bytes before converge: not ready; looked at again by converge's end at the latest")
    func anOriginLagsBeforeConverge() {
        let reports = [Self.report("web1", seen: 10_000, Self.v2, since: 1_000), Self.report("web2", seen: 10_000, Self.v1, since: 0)]
        guard case .wait(let until?) = decide(reports, now: 10_000) else {
            Issue.record("ready while web2 serves the old bytes")
            return
        }
        #expect(until <= 1_000 + 120_000)
        #expect(until > 10_000)
    }

    @Test("an origin that never reported the path lags (it may serve the file unchanged since its baseline)")
    func anOriginThatNeverReportedLags() {
        let reports = [Self.report("web1", seen: 10_000, Self.v2, since: 1_000), Self.report("web2", seen: 10_000, nil)]
        #expect(decide(reports, now: 10_000) != .ready(laggards: [], firstReported: 1_000))
        if case .ready = decide(reports, now: 10_000) { Issue.record("ready while web2 never reported the new bytes") }
    }

    @Test("converge passed since the first report: ready, naming the origins that lag")
    func convergePassedNamesTheLaggards() {
        let reports = [
            Self.report("web1", seen: 121_500, Self.v2, since: 1_000), Self.report("web3", seen: 121_500, Self.v1, since: 0),
            Self.report("web2", seen: 121_500, nil),
        ]
        if case .ready = decide(reports, now: 120_999) { Issue.record("ready before converge while web2 and web3 lag") }
        #expect(decide(reports, now: 121_000) == .ready(laggards: ["web2", "web3"], firstReported: 1_000))
    }

    @Test("an origin silent longer than origin_timeout is not live: it does not hold the purge back")
    func aSilentOriginDoesNotCount() {
        let reports = [Self.report("web1", seen: 40_000, Self.v2, since: 35_000), Self.report("web2", seen: 9_999, Self.v1, since: 0)]
        #expect(decide(reports, now: 40_000) == .ready(laggards: [], firstReported: 35_000))
        // Still live (seen 30 s ago less a millisecond): it holds the purge back.
        let live = [Self.report("web1", seen: 40_000, Self.v2, since: 35_000), Self.report("web2", seen: 10_001, Self.v1, since: 0)]
        if case .ready = decide(live, now: 40_000) { Issue.record("ready while a live origin serves the old bytes") }
    }

    @Test("after a database outage an origin silent only because the database was away still counts (for origin_timeout)")
    func silenceDuringAnOutageIsNotAbsence() {
        // The database was away from 10 s to 60 s: web2 was last heard of at 9 s, web1 has just
        // committed its report. Without the grace web2 is gone and web1 alone decides.
        let reports = [Self.report("web1", seen: 61_000, Self.v2, since: 61_000), Self.report("web2", seen: 9_000, Self.v1, since: 0)]
        #expect(decide(reports, now: 61_000) == .ready(laggards: [], firstReported: 61_000))
        if case .ready = ConvergenceGate.decide(reports, identity: Self.identity, now: 61_000, graceFrom: 10_000) {
            Issue.record("web2 was live when the database went away: its silence is the database's")
        }
        // An origin already silent for origin_timeout when the database went away stays gone.
        let gone = [Self.report("web1", seen: 61_000, Self.v2, since: 61_000), Self.report("web2", seen: 0, Self.v1, since: 0)]
        #expect(ConvergenceGate.decide(gone, identity: Self.identity, now: 61_000, graceFrom: 40_000) == .ready(laggards: [], firstReported: 61_000))
    }

    @Test("deleted everywhere is the same content")
    func deletedEverywhere() {
        let reports = [
            Self.report("web1", seen: 5_000, .deleted, since: 1_000), Self.report("web2", seen: 5_000, .deleted, since: 3_000),
        ]
        #expect(decide(reports, now: 5_000) == .ready(laggards: [], firstReported: 1_000))
    }

    @Test("the version to converge on is the newest reported: an origin still on the one before lags")
    func theNewestVersionIsTheTarget() {
        // web2 reported v1 at 2 s, web1 v2 at 3 s: v2 is the deploy's.
        let reports = [Self.report("web1", seen: 5_000, Self.v2, since: 3_000), Self.report("web2", seen: 5_000, Self.v1, since: 2_000)]
        if case .ready = decide(reports, now: 5_000) { Issue.record("ready while web2 holds the version before") }
        let later = reports.map {
            OriginReport(origin: $0.origin, lastSeenMilliseconds: 123_000, content: $0.content, sinceMilliseconds: $0.sinceMilliseconds)
        }
        #expect(decide(later, now: 123_000) == .ready(laggards: ["web2"], firstReported: 3_000))
    }

    @Test("a path nobody reported (a URL queued by hand with its path) is ready at once")
    func nobodyReportedIt() {
        #expect(decide([Self.report("web1", seen: 5_000, nil)], now: 5_000) == .ready(laggards: [], firstReported: nil))
        #expect(decide([], now: 5_000) == .ready(laggards: [], firstReported: nil))
    }
}
