import FleetStore
import Foundation
import StateStore
import TestPostgres
import Testing

/// SPEC §9, "one submitter per account, failover without loss": at most one daemon of an account
/// holds the submitter lease; another takes it only once it has lapsed (or was given up), with a
/// higher term; and a daemon whose term is stale writes nothing. `psql` reads the lease back.
/// Time is the callers' wall clock, passed in: no test here sleeps.
@Suite struct PostgresLeaseTests {
    static let now: Int64 = 1_800_000_000_000
    static let ttl: Int64 = 30_000

    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func aLeaseHasOneHolderAndChangesHandsOnlyOnceItLapses() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let store = try await PostgresQueueStoreTests.connect(server, database, site: "www")
        let now = Self.now
        let a = try await store.claimLease(account: "acct", holder: "www/web1", ttlMilliseconds: Self.ttl, nowMilliseconds: now)
        #expect(a == LeaseClaim(granted: true, holder: "www/web1", term: 1, expiresAtMilliseconds: now + Self.ttl))
        // Must not: a second daemon take it while it holds.
        let b = try await store.claimLease(account: "acct", holder: "www/web2", ttlMilliseconds: Self.ttl, nowMilliseconds: now + 1)
        #expect(b == LeaseClaim(granted: false, holder: "www/web1", term: 1, expiresAtMilliseconds: now + Self.ttl))
        // A renewal keeps the term and moves the end.
        let renewed = try await store.claimLease(
            account: "acct", holder: "www/web1", ttlMilliseconds: Self.ttl, nowMilliseconds: now + 10_000)
        #expect(renewed == LeaseClaim(granted: true, holder: "www/web1", term: 1, expiresAtMilliseconds: now + 40_000))
        #expect(
            try await store.claimLease(account: "acct", holder: "www/web2", ttlMilliseconds: Self.ttl, nowMilliseconds: now + 39_999)
                .granted == false, "must not: taken a millisecond before the renewed lease ends")
        // Another account's lease is its own.
        #expect(
            try await store.claimLease(account: "other", holder: "shop/web2", ttlMilliseconds: Self.ttl, nowMilliseconds: now + 1)
                .granted)
        // web1 stopped renewing (killed): web2 takes it when it lapses, with a higher term.
        let takeover = try await store.claimLease(
            account: "acct", holder: "www/web2", ttlMilliseconds: Self.ttl, nowMilliseconds: now + 40_000)
        #expect(takeover == LeaseClaim(granted: true, holder: "www/web2", term: 2, expiresAtMilliseconds: now + 70_000))
        let back = try await store.claimLease(account: "acct", holder: "www/web1", ttlMilliseconds: Self.ttl, nowMilliseconds: now + 40_001)
        #expect(back.granted == false && back.holder == "www/web2")
        #expect(
            try server.psql(database, "SELECT account, holder, term FROM submitter_lease ORDER BY account") == "acct|www/web2|2\nother|shop/web2|1")
        #expect(try await store.lease(account: "acct")?.holder == "www/web2")
        #expect(try await store.lease(account: "nobody") == nil)
    }

    /// A holder whose own lease lapsed before it renewed gets a new term: what it began under the
    /// old one is fenced off as if another daemon had taken over in between.
    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func aHolderThatLetItsLeaseLapseComesBackWithANewTerm() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let store = try await PostgresQueueStoreTests.connect(server, database, site: "www")
        _ = try await store.claimLease(account: "acct", holder: "www/web1", ttlMilliseconds: Self.ttl, nowMilliseconds: Self.now)
        let again = try await store.claimLease(
            account: "acct", holder: "www/web1", ttlMilliseconds: Self.ttl, nowMilliseconds: Self.now + Self.ttl)
        #expect(again.granted && again.term == 2)
    }

    /// Claims racing for a free lease on separate connections: exactly one wins.
    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func racingClaimsLeaveOneHolder() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        var stores: [PostgresQueueStore] = []
        for _ in 0..<4 { stores.append(try await PostgresQueueStoreTests.connect(server, database, site: "www")) }
        let claims = try await withThrowingTaskGroup(of: LeaseClaim.self) { group in
            for (index, store) in stores.enumerated() {
                for round in 0..<3 {
                    group.addTask {
                        try await store.claimLease(
                            account: "acct", holder: "www/web\(index)", ttlMilliseconds: Self.ttl, nowMilliseconds: Self.now + Int64(round))
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let winners = Set(claims.filter(\.granted).map(\.holder))
        #expect(winners.count == 1, "\(claims)")
        #expect(claims.allSatisfy { $0.holder == winners.first && $0.term == 1 }, "every claim names the one holder: \(claims)")
        for store in stores { await store.close() }
    }

    /// The fence: a submitter whose term is stale writes nothing — not a batch sent, not a result
    /// recorded — while the new holder's writes go through; a lease given up is taken at once.
    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func aStaleTermWritesNothing() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let store = try await PostgresQueueStoreTests.connect(server, database, site: "www")
        let now = Self.now
        for page in ["a", "b"] {
            try await store.enqueue(url: PostgresQueueStoreTests.www + page, area: "", path: nil, kind: .modified, nowMilliseconds: now)
        }
        let first = try await store.claimLease(account: "acct", holder: "www/web1", ttlMilliseconds: Self.ttl, nowMilliseconds: now)
        let web1 = store.fenced(by: LeaseFence(account: "acct", holder: "www/web1", term: first.term))
        try await web1.planBatches(nowMilliseconds: now) { pending in
            [NewBatch(action: .urls, area: "", state: .planned, targets: pending.map(\.url), queueIDs: pending.map(\.id), dryRun: false)]
        }
        let batch = try #require(try await store.batches(in: .planned, dueBy: nil).first)
        // web1 is killed mid-batch; web2 takes the lease over once it lapses.
        let second = try await store.claimLease(
            account: "acct", holder: "www/web2", ttlMilliseconds: Self.ttl, nowMilliseconds: now + Self.ttl)
        #expect(second.granted && second.term == first.term + 1)
        let web2 = store.fenced(by: LeaseFence(account: "acct", holder: "www/web2", term: second.term))
        // Must not: web1 (had it survived, paused) mark the batch sent or record it accepted.
        await #expect {
            try await web1.markSending(batch: batch.id, state: .sending, attempts: 1, nowMilliseconds: now + Self.ttl + 1)
        } throws: { ($0 as? PostgresStoreError)?.code == .fenced }
        await #expect {
            try await web1.recordAccepted(
                batch,
                acceptance: Acceptance(
                    state: .accepted, taskID: "stale", requestID: "r", acceptedMilliseconds: now, firstPollMilliseconds: now, areas: [""]),
                nowMilliseconds: now + Self.ttl + 1)
        } throws: { ($0 as? PostgresStoreError)?.code == .fenced }
        #expect(try server.psql(database, "SELECT state, attempts, coalesce(task_id, '-') FROM batches") == "planned|0|-")
        // Its lease units are not fenced: a renewal through its fenced store is refused as a claim
        // (another holds the lease), not failed by the fence.
        let renewal = try await web1.claimLease(
            account: "acct", holder: "www/web1", ttlMilliseconds: Self.ttl, nowMilliseconds: now + Self.ttl + 1)
        #expect(renewal.granted == false && renewal.holder == "www/web2")
        // The holder's writes go through.
        try await web2.markSending(batch: batch.id, state: .sending, attempts: 1, nowMilliseconds: now + Self.ttl + 2)
        #expect(try server.psql(database, "SELECT state, attempts FROM batches") == "sending|1")
        // A graceful stop gives the lease up: another daemon takes it at once (and a stale
        // holder's release changes nothing).
        try await store.releaseLease(LeaseFence(account: "acct", holder: "www/web1", term: first.term))
        #expect(try await store.lease(account: "acct")?.holder == "www/web2")
        try await store.releaseLease(LeaseFence(account: "acct", holder: "www/web2", term: second.term))
        let third = try await store.claimLease(account: "acct", holder: "www/web3", ttlMilliseconds: Self.ttl, nowMilliseconds: now + Self.ttl + 3)
        #expect(third.granted && third.term == second.term + 1)
        await store.close()
    }
}

/// SPEC §9, "one account, one budget": the sites of an account count against one quota ledger
/// per provider; another account's, another provider's (an EdgeOne zone), and a store opened
/// without a ledger (its site's own cache) are apart.
@Suite struct PostgresAccountQuotaTests {
    static let now: Int64 = 1_800_000_000_000

    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func theSitesOfAnAccountSpendOneQuota() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let url = try server.url(database)
        let logger = TemporaryPostgres.quietLogger
        let cdn = QuotaLedger(account: "acct", provider: "cdn")
        let www = try await PostgresQueueStore.connect(url: url, site: "www", ledger: cdn, logger: logger)
        let shop = try await PostgresQueueStore.connect(url: url, site: "shop", ledger: cdn, logger: logger)
        let blog = try await PostgresQueueStore.connect(
            url: url, site: "blog", ledger: QuotaLedger(account: "other", provider: "cdn"), logger: logger)
        // The same account's EdgeOne zone has a quota of its own.
        let zone = try await PostgresQueueStore.connect(
            url: url, site: "app", ledger: QuotaLedger(account: "acct", provider: "edgeone zone-1"), logger: logger)
        let alone = try await PostgresQueueStore.connect(url: url, site: "www", logger: logger)
        let reading = [QuotaRow(area: "mainland", kind: .url, batch: 1_000, total: 100, available: 100, fetchedMilliseconds: Self.now)]
        try await www.replaceQuota(reading)
        try await blog.replaceQuota(reading)
        try await zone.replaceQuota([QuotaRow(area: "", kind: .url, batch: 100, total: 5, available: 5, fetchedMilliseconds: Self.now)])
        #expect(try await shop.quota() == reading, "the account's other site reads the same ledger")
        #expect(try await alone.quota().isEmpty, "must not: a site's own cache mixed with its account's")

        // www sends 80 URLs: shop has 20 left, the other account still 100.
        for index in 0..<80 {
            try await www.enqueue(url: "https://www.example.com/p\(index)", area: "mainland", path: nil, kind: .modified, nowMilliseconds: Self.now)
        }
        try await www.planBatches(nowMilliseconds: Self.now) { pending in
            [NewBatch(action: .urls, area: "mainland", state: .planned, targets: pending.map(\.url), queueIDs: pending.map(\.id), dryRun: false)]
        }
        let batch = try #require(try await www.batches(in: .planned, dueBy: nil).first)
        try await www.markSending(batch: batch.id, state: .sending, attempts: 1, nowMilliseconds: Self.now)
        try await www.recordAccepted(
            batch,
            acceptance: Acceptance(
                state: .accepted, taskID: "t", requestID: "r", acceptedMilliseconds: Self.now, firstPollMilliseconds: Self.now,
                areas: ["mainland"]),
            nowMilliseconds: Self.now)
        #expect(try await shop.quota().first?.available == 20)
        #expect(try await blog.quota().first?.available == 100)
        #expect(
            try server.psql(database, "SELECT account, provider, available FROM account_quota ORDER BY account, provider")
                == "acct|cdn|20\nacct|edgeone zone-1|5\nother|cdn|100",
            "psql reads one row per account, provider and area")
        // Two sites replacing the ledger at once (both read the quota at the reset): both
        // succeed, one after the other, and one reading is left.
        let again = [QuotaRow(area: "mainland", kind: .url, batch: 1_000, total: 100, available: 90, fetchedMilliseconds: Self.now + 1)]
        async let first: Void = www.replaceQuota(again)
        async let second: Void = shop.replaceQuota(again)
        _ = try await (first, second)
        #expect(try await www.quota() == again)
        // A batch-too-big refusal lowers the account's batch size, for every site of it.
        try await shop.lowerBatchSize(kind: .url, to: 50, defaults: [])
        #expect(try await www.quota().first?.batch == 50)
        #expect(try await zone.quota().first?.batch == 100, "must not: another provider's batch size lowered")
        for store in [www, shop, blog, alone, zone] { await store.close() }
    }
}

/// The account's submitter sends for every site of the account: each site's daemons register its
/// provider and purge settings; a site run differently on two origins is said, the last wins.
@Suite struct PostgresSitesTests {
    static let now: Int64 = 1_800_000_000_000

    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func theSubmitterFindsEverySiteOfItsAccountWithItsSettings() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let store = try await PostgresQueueStoreTests.connect(server, database, site: "www")
        let www = SiteRegistration(site: "www", account: "acct", provider: "cdn", settings: ["area": "mainland", "url_encode": "false"])
        let app = SiteRegistration(site: "app", account: "acct", provider: "edgeone zone-1", settings: ["prefix_method": "invalidate"])
        let blog = SiteRegistration(site: "blog", account: "other", provider: "cdn", settings: ["area": "global"])
        #expect(try await store.registerSite(www, origin: "web1", nowMilliseconds: Self.now) == nil)
        // The same site from another origin, the same settings: nothing to say.
        #expect(try await store.registerSite(www, origin: "web2", nowMilliseconds: Self.now + 1) == nil)
        #expect(try await store.registerSite(app, origin: "web1", nowMilliseconds: Self.now) == nil)
        #expect(try await store.registerSite(blog, origin: "web9", nowMilliseconds: Self.now) == nil)
        #expect(try await store.sites(account: "acct") == [app, www], "by name, this account's only")
        // web3 runs www with another area: the earlier registration and its origin are said, and
        // the last registration wins.
        var changed = www
        changed.settings["area"] = "overseas"
        let said = try await store.registerSite(changed, origin: "web3", nowMilliseconds: Self.now + 2)
        #expect(said?.previous == www && said?.by == "web2")
        #expect(try await store.sites(account: "acct").last == changed)
        #expect(
            try server.psql(database, "SELECT site, account, provider, settings, registered_by FROM sites ORDER BY site")
                == "app|acct|edgeone zone-1|{\"prefix_method\":\"invalidate\"}|web1\nblog|other|cdn|{\"area\":\"global\"}|web9\nwww|acct|cdn|{\"area\":\"overseas\",\"url_encode\":\"false\"}|web3"
        )
        await store.close()
    }
}
