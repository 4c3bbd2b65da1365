import FleetStore
import Foundation
import PurgeCore
import TestPostgres
import Testing

/// SPEC §9: each origin records what it detected per path (the hash of the bytes, or deleted)
/// under its own name, with a heartbeat; a URL version's convergence is decided from every
/// origin's latest report. `psql` reads the rows back; `Convergence` is fed what the store hands.
@Suite struct PostgresObservationsTests {
    static let now: Int64 = 1_800_000_000_000
    static let old = [UInt8](repeating: 0x01, count: 32)
    static let new = [UInt8](repeating: 0x02, count: 32)
    static let page = Array("blog/post.html".utf8)
    static let gone = Array("old.html".utf8)
    static let untouched = Array("about.html".utf8)

    static func convergence(_ reports: [OriginReport]?) -> [Convergence.Origin] {
        (reports ?? []).map { report in
            let observed: Convergence.Content? = report.content.map {
                switch $0 {
                case .bytes(let hash): .bytes(hash)
                case .deleted: .deleted
                }
            }
            return Convergence.Origin(name: report.origin, lastSeenMilliseconds: report.lastSeenMilliseconds, observed: observed)
        }
    }

    /// The history prune (7 days) takes what has nothing left to converge on: a path deleted on
    /// every origin before the cutoff, and an origin silent since before it with its reports; a
    /// path one origin still holds, or deleted after the cutoff, stays.
    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func deletedEverywhereAndDecommissionedOriginsArePruned() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let store = try await PostgresQueueStoreTests.connect(server, database, site: "www")
        let other = try await PostgresQueueStoreTests.connect(server, database, site: "shop")
        let cutoff = Self.now + 100
        let fresh = Array("app.v2.css".utf8)
        for origin in ["web1", "web2"] {
            // gone: deleted everywhere, long ago; page: web2 still holds bytes; untouched: deleted
            // everywhere, but only just.
            try await store.recordObservations(
                [Observation(path: Self.gone, content: .deleted), Observation(path: fresh, content: .bytes(Self.new))], origin: origin,
                nowMilliseconds: Self.now)
            try await store.recordObservations([Observation(path: Self.untouched, content: .deleted)], origin: origin, nowMilliseconds: cutoff + 1)
        }
        try await store.recordObservations([Observation(path: Self.page, content: .deleted)], origin: "web1", nowMilliseconds: Self.now)
        try await store.recordObservations([Observation(path: Self.page, content: .bytes(Self.old))], origin: "web2", nowMilliseconds: Self.now)
        // web9 was decommissioned: silent since before the cutoff.
        try await store.recordObservations([Observation(path: fresh, content: .bytes(Self.old))], origin: "web9", nowMilliseconds: Self.now)
        // Another site's rows are its own prune's.
        try await other.recordObservations([Observation(path: Self.gone, content: .deleted)], origin: "web1", nowMilliseconds: Self.now)
        _ = try await store.prune(olderThan: cutoff)
        #expect(
            try server.psql(
                database, "SELECT site, origin, encode(path, 'escape') FROM observations ORDER BY site, origin, path")
                    == """
                    shop|web1|old.html
                    www|web1|about.html
                    www|web1|app.v2.css
                    www|web1|blog/post.html
                    www|web2|about.html
                    www|web2|app.v2.css
                    www|web2|blog/post.html
                    """,
            "psql: old.html deleted everywhere and web9 are gone; the rest stays")
        #expect(try server.psql(database, "SELECT origin FROM origins WHERE site = 'www' ORDER BY origin") == "web1\nweb2")
        await store.close()
        await other.close()
    }

    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func eachOriginsLatestReportDecidesTheConvergenceOfAPath() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let store = try await PostgresQueueStoreTests.connect(server, database, site: "www")
        let other = try await PostgresQueueStoreTests.connect(server, database, site: "shop")
        // origin-a was deployed first; origin-b still has the old bytes; origin-c reported nothing.
        try await store.recordObservations(
            [Observation(path: Self.page, content: .bytes(Self.new)), Observation(path: Self.gone, content: .deleted)], origin: "origin-a",
            nowMilliseconds: Self.now)
        try await store.recordObservations(
            [Observation(path: Self.page, content: .bytes(Self.old))], origin: "origin-b", nowMilliseconds: Self.now + 1)
        try await store.heartbeat(origin: "origin-c", nowMilliseconds: Self.now + 2)
        // Another site in the same database, whose origin has the same name: its report is
        // never among www's.
        try await other.recordObservations(
            [Observation(path: Self.gone, content: .bytes(Self.old))], origin: "origin-a", nowMilliseconds: Self.now + 3)

        #expect(
            try server.psql(
                database,
                "SELECT origin, encode(path, 'escape'), coalesce(encode(hash, 'hex'), 'deleted') FROM observations WHERE site = 'www' ORDER BY origin, path"
            )
                == "origin-a|blog/post.html|\(Self.hex(Self.new))\norigin-a|old.html|deleted\norigin-b|blog/post.html|\(Self.hex(Self.old))")
        let reports = try await store.originsObserving([Self.page, Self.gone, Self.untouched, Self.page])
        #expect(Set(reports.keys) == [Self.page, Self.gone, Self.untouched], "each path once")
        #expect(
            reports[Self.page]
                == [
                    OriginReport(origin: "origin-a", lastSeenMilliseconds: Self.now, content: .bytes(Self.new), sinceMilliseconds: Self.now),
                    OriginReport(origin: "origin-b", lastSeenMilliseconds: Self.now + 1, content: .bytes(Self.old), sinceMilliseconds: Self.now + 1),
                    OriginReport(origin: "origin-c", lastSeenMilliseconds: Self.now + 2, content: nil),
                ])
        #expect(reports[Self.gone]?.map(\.content) == [.deleted, nil, nil], "must not: the other site's origin-a report")
        #expect(reports[Self.untouched]?.map(\.content) == [nil, nil, nil], "every origin listed, none reported it")

        // Fed to the rule: not purged while origin-b and origin-c lag (before converge)…
        var version = Convergence(
            target: .bytes(Self.new), firstReportedMilliseconds: Self.now, convergeMilliseconds: 120_000, originTimeoutMilliseconds: 30_000)
        #expect(version.step(origins: Self.convergence(reports[Self.page]), now: Self.now + 5_000) == .wait(until: Self.now + 30_001))
        // …purged once both report the new bytes.
        try await store.recordObservations(
            [Observation(path: Self.page, content: .bytes(Self.new))], origin: "origin-b", nowMilliseconds: Self.now + 6_000)
        try await store.recordObservations(
            [Observation(path: Self.page, content: .bytes(Self.new))], origin: "origin-c", nowMilliseconds: Self.now + 7_000)
        let caughtUp = try await store.originsObserving([Self.page])
        #expect(version.step(origins: Self.convergence(caughtUp[Self.page]), now: Self.now + 8_000) == .purge)
        await store.close()
        await other.close()
    }

    /// A later report of a path replaces the earlier (in one call, the last one given wins), and
    /// a heartbeat never moves an origin's last sighting back.
    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func theLatestReportWinsAndHeartbeatsOnlyMoveForward() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let store = try await PostgresQueueStoreTests.connect(server, database, site: "www")
        try await store.recordObservations(
            [Observation(path: Self.page, content: .deleted), Observation(path: Self.page, content: .bytes(Self.new))], origin: "origin-a",
            nowMilliseconds: Self.now + 10)
        try await store.heartbeat(origin: "origin-a", nowMilliseconds: Self.now)  // late, older
        #expect(
            try server.psql(database, "SELECT first_seen, last_seen FROM origins WHERE origin = 'origin-a'") == "\(Self.now + 10)|\(Self.now + 10)")
        #expect(try await store.originsObserving([Self.page])[Self.page]?.map(\.content) == [.bytes(Self.new)])
        // The same content reported again keeps when it was first reported; another moves it.
        try await store.recordObservations(
            [Observation(path: Self.page, content: .bytes(Self.new))], origin: "origin-a", nowMilliseconds: Self.now + 15)
        #expect(try await store.originsObserving([Self.page])[Self.page]?.first?.sinceMilliseconds == Self.now + 10)
        try await store.recordObservations([Observation(path: Self.page, content: .deleted)], origin: "origin-a", nowMilliseconds: Self.now + 20)
        #expect(
            try await store.originsObserving([Self.page])[Self.page]
                == [OriginReport(origin: "origin-a", lastSeenMilliseconds: Self.now + 20, content: .deleted, sinceMilliseconds: Self.now + 20)])
        #expect(try server.psql(database, "SELECT count(*), bool_and(hash IS NULL) FROM observations") == "1|t")
        await store.close()
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}
