import Foundation
import Glibc
import TencentEmulator
import TestPostgres
import Testing

/// SPEC §9 with the real binary: several origins, each a daemon with its own root and its own
/// SQLite manifest, on one real PostgreSQL server and one API emulator. Each test gets a fresh
/// database; deploys are real `rsync` runs.
@Suite(.serialized, .enabled(if: TemporaryPostgres.runs))
struct FleetEndToEndTests {
    /// Three origins of one site on a fresh database, their daemons running (each has reported
    /// its heartbeat), with the same `files` in every root (the baseline: nothing purged).
    static func withFleet(
        origins count: Int = 3, converge: String = "60s", originTimeout: String = "3s", files: [String: String],
        throughProxy: Bool = false, environment: [String: String] = [:], requestsPerSecond: Double = 10, product: Product = .cdn,
        _ body: ([DaemonFixture], TCPProxy?) async throws -> Void
    ) async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        // Through a relay the test can cut, when it takes the database away.
        let proxy = throughProxy ? try TCPProxy(target: server.port, port: PostgresServer.freePort()) : nil
        defer { proxy?.cut() }
        let url = "postgresql://\(PostgresServer.user)@127.0.0.1:\(proxy?.port ?? server.port)/\(database)?sslmode=disable"
        var origins: [DaemonFixture] = []
        do {
            let first = try await DaemonFixture(product: product)
            origins.append(first)
            for _ in 1..<count { origins.append(try await DaemonFixture(sharing: first.emulator, product: product)) }
            for (index, origin) in origins.enumerated() {
                try origin.writeFleetConfig(
                    url: url, origin: "web\(index + 1)", converge: converge, originTimeout: originTimeout, requestsPerSecond: requestsPerSecond,
                    metricsPort: PostgresServer.freePort())
                for (path, content) in files { try origin.write(path, content) }
                // Deployed long ago: rsync's quick check (size and mtime to the second) must not
                // take the new files, written in the same second, for the old ones.
                try await origin.shell("find site -exec touch -h -d '2026-01-01 00:00:00' {} +")
            }
            for origin in origins { try await origin.startDaemon(environment: environment) }
            // Every origin has said it is alive: one that had not would not lag, it would not exist.
            let registered = await origins[0].eventually(timeout: .seconds(20)) {
                (try? server.psql(database, "SELECT count(*) FROM origins")) == "\(count)"
            }
            #expect(registered, "the origins never all registered")
            try await body(origins, proxy)
        } catch {
            for origin in origins.reversed() { await origin.tearDown() }
            throw error
        }
        for origin in origins.reversed() { await origin.tearDown() }
    }

    /// Two sites, `alpha` and `beta`, on one account (one origin each, `web1`), on a fresh
    /// database and one emulator that serves both domains; `prepare` writes each site's files
    /// before its daemon starts. Torn down whatever `body` does.
    static func withTwoSites(
        originTimeout: String = "3s", prepare: (DaemonFixture) async throws -> Void,
        _ body: ([(String, DaemonFixture, String)], _ psql: (String) throws -> String) async throws -> Void
    ) async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let url = "postgresql://\(PostgresServer.user)@127.0.0.1:\(server.port)/\(database)?sslmode=disable"
        var account = EmulatorConfiguration()
        account.knownDomains = ["alpha.example.com", "beta.example.com"]
        let alpha = try await DaemonFixture(emulator: account)
        let beta = try await DaemonFixture(sharing: alpha.emulator)
        let sites = [("alpha", alpha, "https://alpha.example.com/"), ("beta", beta, "https://beta.example.com/")]
        do {
            for (name, fixture, base) in sites {
                try fixture.writeFleetConfig(
                    url: url, origin: "web1", site: name, converge: "60s", originTimeout: originTimeout, metricsPort: PostgresServer.freePort(),
                    base: base)
                try await prepare(fixture)
                try await fixture.startDaemon()
            }
            // Both sites registered (each daemon registers its own at start).
            let registered = await alpha.eventually(timeout: .seconds(10)) {
                (try? server.psql(database, "SELECT count(*) FROM sites WHERE account = 'default'")) == "2"
            }
            #expect(registered)
            try await body(sites) { try server.psql(database, $0) }
        } catch {
            await beta.tearDown()
            await alpha.tearDown()
            throw error
        }
        await beta.tearDown()
        await alpha.tearDown()
    }

    /// Confirms a deploy is over for the site: each of `origins` has committed a comparison that
    /// found changes (its log says so), and the site's shared queue holds nothing unsent (queued,
    /// planned or being sent: `status`'s pending, read from PostgreSQL). After that no purge of this
    /// deploy can still come, so counting the purges is final — no sleep needed.
    static func settled(_ origins: [DaemonFixture]) async -> Bool {
        await origins[0].eventually(timeout: .seconds(30)) {
            guard origins.allSatisfy({ $0.daemon?.log.contains(" change(s), ") == true }) else { return false }
            let status = try? await origins[0].status()
            return ((status?["pending"] as? [String: Any])?["urls"] as? Int) == 0
        }
    }

    /// The origin whose daemon says it is the submitter.
    static func holder(of origins: [DaemonFixture]) -> DaemonFixture? {
        origins.first { $0.daemon?.log.contains("is the submitter of") == true }
    }

    /// Copies `staging` into `origin`'s root with rsync, as a deploy does.
    static func rsync(_ staging: String, to origin: DaemonFixture) async throws {
        let status = try await origin.shell("rsync -a --delete '\(staging)/' '\(origin.site)/'")
        #expect(status == 0, "rsync failed")
    }

    /// Writes a staging tree for a deploy: the site as it should be.
    static func staging(_ files: [String: String]) throws -> String {
        let directory = "/tmp/pw-fleet-staging-\(UUID().uuidString.prefix(8))"
        for (path, content) in files {
            let full = directory + "/" + path
            try FileManager.default.createDirectory(
                atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try content.write(toFile: full, atomically: false, encoding: .utf8)
        }
        return directory
    }

    /// `status --check` on an origin while the database is away: CRITICAL, saying why.
    static func expectCriticalWhileAway(_ origin: DaemonFixture) async throws {
        let check = try await PurgewatchProcess.runAsync(["status", "--config", origin.configPath, "--check"], environment: origin.environment)
        #expect(check.status == 2, "\(check.stdout)")
        #expect(check.stdout.contains("the fleet's shared state cannot be read"), "\(check.stdout)")
    }

    /// Once the database is back: every URL of the deploy is sent, and each exactly once.
    static func expectEachChangeSentOnce(_ origins: [DaemonFixture], _ emulator: TencentEmulator) async {
        let logs = { origins.map { $0.daemon?.log.suffix(5000) ?? "" }.joined(separator: "\n----\n") }
        let purged = await origins[0].eventually(timeout: .seconds(60)) { changed.isSubset(of: Set(emulator.acceptedURLs)) }
        #expect(purged, "not everything was sent once the database was back: \(emulator.acceptedURLs); logs:\n\(logs())")
        #expect(await settled(origins))
        for url in changed { #expect(emulator.acceptedURLs.filter { $0 == url }.count == 1, "\(url); logs:\n\(logs())") }
    }

    static let before = ["index.html": "home v1", "a.css": "a v1", "b.css": "b v1", "docs/guide.html": "guide v1"]
    static let after = ["index.html": "home v2", "a.css": "a v2", "b.css": "b v1", "docs/guide.html": "guide v2"]
    /// The URLs of the files the deploy changes (and of the directories their index files are).
    static let changed: Set<String> = [
        DaemonFixture.www, DaemonFixture.www + "index.html", DaemonFixture.www + "a.css", DaemonFixture.www + "docs/guide.html",
    ]

    @Test("a deploy rsynced to three origins 3 s apart: each changed URL purged once, never before the last origin holds the new bytes")
    func staggeredDeployIsPurgedOnceAfterTheLastOrigin() async throws {
        try await Self.withFleet(files: Self.before) { origins, _ in
            let emulator = origins[0].emulator
            let staging = try Self.staging(Self.after)
            defer { try? FileManager.default.removeItem(atPath: staging) }
            var lastDeployStarted = Date()
            var waiting: Task<(PurgewatchProcess.Result, Date), any Error>?
            for (index, origin) in origins.enumerated() {
                if index == 1 {
                    // web1 has the new bytes, web2 and web3 not yet: the submitter's planner sees
                    // them lag (SPEC §9's metrics).
                    let holder = try #require(Self.holder(of: origins))
                    let seen = await holder.eventually(timeout: .seconds(3)) {
                        holder.metric("purgewatch_fleet_origins{state=\"lagging\"}") == 2
                    }
                    #expect(seen, "lagging: \(holder.metric("purgewatch_fleet_origins{state=\"lagging\"}") ?? -1)")
                    #expect(holder.metric("purgewatch_fleet_submitter") == 1)
                    #expect(origins.filter { $0 !== holder }.allSatisfy { $0.metric("purgewatch_fleet_submitter") == 0 })
                }
                if index > 0 { try await Task.sleep(for: .seconds(3)) }
                lastDeployStarted = Date()
                try await Self.rsync(staging, to: origin)
                // web1's deploy script waits: across the fleet, convergence included (SPEC §9).
                if index == 0 { waiting = Task { (try await origins[0].flushWait(), Date()) } }
            }
            let (waited, answeredAt) = try await #require(waiting).value
            #expect(waited.status == 0, "\(waited.stdout) \(waited.stderr)")
            #expect(answeredAt > lastDeployStarted, "flush --wait on web1 answered before web3 had the new bytes")
            #expect(Self.changed.isSubset(of: Set(emulator.acceptedURLs)), "flush --wait answered before the purge was accepted")
            let purged = await origins[0].eventually(timeout: .seconds(30)) { Self.changed.isSubset(of: Set(emulator.acceptedURLs)) }
            #expect(
                purged,
                "not every changed URL was purged: \(emulator.acceptedURLs); logs:\n\(origins.map { $0.daemon?.log.suffix(3000) ?? "" }.joined(separator: "\n----\n"))"
            )
            // Every origin has committed the deploy and nothing of the site is left unsent: a second
            // purge could only come from a row that is not there.
            #expect(await Self.settled(origins))
            let accepted = emulator.acceptedURLs
            for url in Self.changed {
                #expect(accepted.filter { $0 == url }.count == 1, "\(url) purged \(accepted.filter { $0 == url }.count) times")
            }
            #expect(!accepted.contains(DaemonFixture.www + "b.css"), "an unchanged file was purged")
            let purges = emulator.requests.filter { $0.action == "PurgeUrlsCache" }
            #expect(!purges.isEmpty)
            for request in purges {
                #expect(request.date >= lastDeployStarted, "a purge reached the API before the last origin had the new bytes")
            }
            // One daemon sent them all: the lease's holder.
            let submitters = origins.filter { $0.daemon?.log.contains("is the submitter of") == true }
            #expect(submitters.count == 1, "submitters: \(submitters.map(\.directory))")
            // `status --json` on any origin: the site's origins, its live submitter, the site's queue.
            let status = try await origins[1].status()
            let fleet = try #require(status["fleet"] as? [String: Any], "no fleet in \(status)")
            let listed = (fleet["origins"] as? [[String: Any]]) ?? []
            #expect(listed.compactMap { $0["name"] as? String } == ["web1", "web2", "web3"])
            #expect(listed.allSatisfy { $0["live"] as? Bool == true && $0["lagging_paths"] as? Int == 0 })
            #expect(fleet["submitter_live"] as? Bool == true)
            #expect(origins[1].metric("purgewatch_fleet_origins{state=\"live\"}") == 3)
            // The shipped rules and dashboard name only fleet series a fleet's daemon exports (the
            // holder's page: the convergence histogram is observed where the planner runs).
            let holderPage = try #require(Self.holder(of: origins)?.metricsPage())
            let exported = Set(try EndToEnd.MetricsTests.parse(holderPage).values.flatMap { $0.samples.map(\.name) })
            for (file, named) in try EndToEnd.MetricsTests.seriesNamedInShippedMonitoring() {
                for name in named where EndToEnd.MetricsTests.fleetOnly(name) {
                    #expect(exported.contains(name), "\(file) names \(name), which a fleet's daemon does not export")
                }
            }
            #expect(origins[1].metric("purgewatch_fleet_origins{state=\"gone\"}") == 0)
            #expect((fleet["submitter"] as? String)?.hasPrefix("example/web") == true)
            #expect((status["pending"] as? [String: Any])?["urls"] as? Int == 0)
            let check = try await PurgewatchProcess.runAsync(
                ["status", "--config", origins[2].configPath, "--check"], environment: origins[2].environment)
            #expect(check.status == 0, "\(check.stdout)")
        }
    }

    @Test("a laggard past converge: purged with a warning naming it, and purged again when it catches up")
    func aLaggardPastConvergeIsPurgedTwice() async throws {
        try await Self.withFleet(converge: "2s", files: Self.before) { origins, _ in
            let emulator = origins[0].emulator
            let staging = try Self.staging(Self.after)
            defer { try? FileManager.default.removeItem(atPath: staging) }
            let started = Date()
            for origin in origins.dropLast() { try await Self.rsync(staging, to: origin) }
            let early = await origins[0].eventually(timeout: .seconds(20)) { Self.changed.isSubset(of: Set(emulator.acceptedURLs)) }
            #expect(early, "converge passed and nothing was purged: \(emulator.acceptedURLs)")
            // Not before converge (2 s) since the first report.
            for request in emulator.requests where request.action == "PurgeUrlsCache" {
                #expect(request.date.timeIntervalSince(started) >= 2, "purged before converge while web3 lagged")
            }
            let warned = origins.contains { $0.daemon?.log.contains("web3 still lag") == true }
            #expect(warned, "no warning named the laggard")
            // SPEC §9: `status --check` is WARNING while an origin lags past converge.
            let check = try await PurgewatchProcess.runAsync(
                ["status", "--config", origins[0].configPath, "--check"], environment: origins[0].environment)
            #expect(check.status == 1, "\(check.stdout)")
            #expect(check.stdout.contains("origin web3 lags past converge"), "\(check.stdout)")
            #expect(emulator.acceptedURLs.filter { $0 == DaemonFixture.www + "a.css" }.count == 1)
            // The laggard catches up: the CDN may have cached its old bytes, so they go once more.
            try await Self.rsync(staging, to: origins[2])
            let again = await origins[0].eventually(timeout: .seconds(20)) {
                Self.changed.allSatisfy { url in emulator.acceptedURLs.filter { $0 == url }.count == 2 }
            }
            #expect(again, "not purged again after the laggard caught up: \(emulator.acceptedURLs)")
            #expect(await Self.settled(origins))
            for url in Self.changed { #expect(emulator.acceptedURLs.filter { $0 == url }.count == 2) }
            let caughtUp = try await PurgewatchProcess.runAsync(
                ["status", "--config", origins[0].configPath, "--check"], environment: origins[0].environment)
            #expect(caughtUp.status == 0, "\(caughtUp.stdout)")
        }
    }

    @Test("PostgreSQL away for 30 s during a deploy: watching and the watchdog go on, status says why, nothing lost, all sent after")
    func theDatabaseAwayDuringADeploy() async throws {
        try await Self.withFleet(origins: 2, files: Self.before, throughProxy: true, environment: ["WATCHDOG_USEC": "2000000"]) {
            origins, proxy in
            let proxy = try #require(proxy)
            let emulator = origins[0].emulator
            let staging = try Self.staging(Self.after)
            defer { try? FileManager.default.removeItem(atPath: staging) }
            proxy.cut()
            let cut = ContinuousClock.now
            for origin in origins { try await Self.rsync(staging, to: origin) }
            // While it is away: both daemons keep pinging the watchdog, `status` says why it is
            // degraded, and nothing is sent (nothing can be known to have converged).
            for origin in origins {
                let ping = await origin.notify?.message(timeout: .seconds(5)) { $0.contains("WATCHDOG=1") }
                #expect(ping != nil, "no WATCHDOG=1 while the database is away")
            }
            try await Self.expectCriticalWhileAway(origins[0])
            try await Task.sleep(until: cut.advanced(by: .seconds(30)))
            for origin in origins {
                let ping = await origin.notify?.message(timeout: .seconds(5)) { $0.contains("WATCHDOG=1") }
                #expect(ping != nil, "no WATCHDOG=1 after 30 s without the database")
                #expect(origin.daemon?.isRunning == true)
            }
            #expect(emulator.acceptedURLs.isEmpty)
            try proxy.restore()
            await Self.expectEachChangeSentOnce(origins, emulator)
        }
    }

    @Test(
        "PostgreSQL away when the origins restart: they start anyway (READY, watchdog), watch, say why, refuse `purge`, and send a deploy made meanwhile once it is back"
    )
    func theDatabaseAwayAtStart() async throws {
        try await Self.withFleet(origins: 2, files: Self.before, throughProxy: true, environment: ["WATCHDOG_USEC": "2000000"]) {
            origins, proxy in
            let proxy = try #require(proxy)
            let emulator = origins[0].emulator
            let staging = try Self.staging(Self.after)
            defer { try? FileManager.default.removeItem(atPath: staging) }
            // The origins reboot while the database is down: each starts without it.
            proxy.cut()
            for origin in origins {
                // A reboot: no graceful stop (one right after the database dropped may wait for
                // its connections until systemd's TimeoutStopSec: see docs/fleet.md).
                await origin.stopDaemon(signal: SIGKILL)
                try await origin.startDaemon(environment: ["WATCHDOG_USEC": "2000000"])  // waits for READY=1
            }
            for origin in origins { try await Self.rsync(staging, to: origin) }
            for origin in origins {
                let ping = await origin.notify?.message(timeout: .seconds(5)) { $0.contains("WATCHDOG=1") }
                #expect(ping != nil, "no WATCHDOG=1 while the database is away since the start")
                let saysWhy: @Sendable (String) -> Bool = { $0.contains("STATUS=") && $0.contains("has not been reachable since the start") }
                let said = origin.notify?.messages.contains(where: saysWhy) == true
                let saysNow = said ? nil : await origin.notify?.message(timeout: .seconds(5), where: saysWhy)
                #expect(said || saysNow != nil, "STATUS= does not say why: \(origin.notify?.messages ?? [])")
                #expect(origin.daemon?.isRunning == true)
            }
            try await Self.expectCriticalWhileAway(origins[0])
            // Nowhere to queue a manual purge: refused with the reason, not queued in the origin's
            // own SQLite file (which a fleet never sends from).
            let purge = try await PurgewatchProcess.runAsync(
                ["purge", "--config", origins[0].configPath, DaemonFixture.www + "manual.html"], environment: origins[0].environment)
            #expect(purge.status != 0, "\(purge.stdout)")
            #expect(purge.stderr.contains("has not been reachable since the daemon started"), "\(purge.stderr)")
            // A few reconnection attempts go by; nothing can be sent meanwhile.
            try await Task.sleep(for: .seconds(3))
            #expect(emulator.acceptedURLs.isEmpty)
            try proxy.restore()
            await Self.expectEachChangeSentOnce(origins, emulator)
            for origin in origins { #expect(origin.daemon?.log.contains("joined the fleet's shared state") == true) }
            #expect(!emulator.acceptedURLs.contains(DaemonFixture.www + "b.css"), "must not: an unchanged file purged")
            #expect(!emulator.acceptedURLs.contains(DaemonFixture.www + "manual.html"), "must not: a refused purge sent")
        }
    }

    @Test("a database that answers but refuses (no such database): the start fails with 75, the database named, never the password")
    func aRefusingDatabaseFailsTheStart() async throws {
        let server = try TemporaryPostgres.server()
        let fixture = try await DaemonFixture()
        defer { Task { await fixture.tearDown() } }
        let url = "postgresql://\(PostgresServer.user)@127.0.0.1:\(server.port)/no_such_database?sslmode=disable"
        try fixture.writeFleetConfig(url: url, origin: "web1", converge: "60s", originTimeout: "3s", metricsPort: PostgresServer.freePort())
        let secret = "s3cret-\(UUID().uuidString.prefix(6))"
        var environment = fixture.environment
        environment["PGPASSWORD"] = secret
        let process = try RunningProcess.start(
            ["run", "--config", fixture.configPath], environment: environment, logPath: fixture.directory + "/refused.log")
        let exited = await fixture.eventually(timeout: .seconds(30)) { !process.isRunning }
        #expect(exited, "must not: a daemon running on a database that refuses it; log:\n\(process.log)")
        if !exited { _ = process.stop(signal: SIGKILL) }
        #expect(process.exitStatus == 75, "\(process.log)")
        #expect(process.log.contains("no_such_database") && process.log.contains("cannot open the fleet's shared state"), "\(process.log)")
        #expect(!process.log.contains(secret), "must not: the password printed")
    }

    @Test("3 origins × 20 requests/s configured: the API never sees more than 20 requests of an action in any second")
    func theAccountsRateHoldsAcrossOrigins() async throws {
        var before: [String: String] = [:]
        var after: [String: String] = [:]
        for index in 0..<300 {
            before["p/\(index).html"] = "page \(index) v1"
            after["p/\(index).html"] = "page \(index) v2"
        }
        try await Self.withFleet(files: before, requestsPerSecond: 20) { origins, _ in
            let emulator = origins[0].emulator
            // Five URLs a request: 300 changed pages are 60 purge requests.
            for area in ["mainland", "overseas"] { emulator.setQuota(area: area, urls: 10_000, batch: 5) }
            let staging = try Self.staging(after)
            defer { try? FileManager.default.removeItem(atPath: staging) }
            for origin in origins { try await Self.rsync(staging, to: origin) }
            let purged = await origins[0].eventually(timeout: .seconds(60)) { Set(emulator.acceptedURLs).count >= 300 }
            #expect(purged, "\(Set(emulator.acceptedURLs).count) of 300 purged")
            let byAction = Dictionary(grouping: emulator.requests, by: \.action)
            #expect((byAction["PurgeUrlsCache"]?.count ?? 0) >= 60)
            // Counted as the API counts them: per second of its clock (one daemon sends, at 20/s).
            for (action, requests) in byAction {
                let perSecond = Dictionary(grouping: requests) { Int($0.date.timeIntervalSince1970.rounded(.down)) }
                for (second, arrivals) in perSecond {
                    #expect(arrivals.count <= 20, "\(arrivals.count) \(action) requests in second \(second)")
                }
            }
            let senders = origins.filter { $0.daemon?.log.contains("is the submitter of") == true }
            #expect(senders.count == 1)
            #expect(Set(emulator.acceptedURLs).count == emulator.acceptedURLs.count, "a URL purged twice")
        }
    }

    @Test(
        "two sites on one account with a URL quota of 100 and 80 changes each: one daemon sends for both, ≤ 100 URLs, the rest wait for the reset, none failed"
    )
    func twoSitesShareTheAccountsQuota() async throws {
        let eightyPages: (DaemonFixture) async throws -> Void = { fixture in
            for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 100, paths: 0) }
            try await fixture.shell("mkdir -p site/p && for i in $(seq 1 80); do echo v1 > site/p/$i.html; done")
        }
        try await Self.withTwoSites(prepare: eightyPages) { sites, _ in
            let emulator = sites[0].1.emulator
            let alpha = sites[0].1
            for (_, fixture, _) in sites { try await fixture.shell("for i in $(seq 1 80); do echo v2 > site/p/$i.html; done") }
            func waiting() async throws -> Int {
                var total = 0
                for (_, fixture, _) in sites {
                    total += ((try await fixture.status()["waiting_quota"] as? [String: Any])?["urls"] as? Int) ?? 0
                }
                return total
            }
            let settled = try await alpha.eventually(timeout: .seconds(30)) { try await waiting() == 60 }
            let waitingNow = try await waiting()
            #expect(
                settled,
                "waiting for the quota: \(waitingNow); accepted \(emulator.acceptedURLs.count); \(emulator.requests.map { "\($0.action) \($0.outcome)" }); logs:\n\(sites.map { $0.1.daemon?.log.suffix(5000) ?? "" }.joined(separator: "\n----\n"))"
            )
            #expect(emulator.acceptedURLs.count == 100, "accepted \(emulator.acceptedURLs.count)")
            #expect(emulator.acceptedURLs.allSatisfy { $0.hasPrefix("https://alpha.") || $0.hasPrefix("https://beta.") })
            // Never more than the quota asked for: no request the API refused for the day's limit.
            #expect(!emulator.requests.contains { $0.outcome.contains("ExceedDayLimit") }, "a foreseeable overrun was sent")
            for (_, fixture, _) in sites {
                let status = try await fixture.status()
                #expect((status["failures"] as? [String: Any]).map { ($0["urls"] as? [Any])?.isEmpty ?? false } == true)
            }
            // Each daemon's metrics endpoint shows its site's shared queue (read at each heartbeat),
            // not the origin's own SQLite file (which holds no queue on a fleet): 60 waiting in all.
            let gauges = await alpha.eventually(timeout: .seconds(10)) {
                sites.map { $0.1.metric("purgewatch_queue_urls{state=\"waiting_quota\"}") ?? 0 }.reduce(0, +) == 60
            }
            #expect(gauges, "\(sites.map { $0.1.metricsPage() ?? "" })")
            for (_, fixture, _) in sites {
                let page = fixture.metricsPage() ?? ""
                let waiting = ((try await fixture.status()["waiting_quota"] as? [String: Any])?["urls"] as? Int) ?? -1
                #expect(fixture.metric("purgewatch_queue_urls{state=\"waiting_quota\"}") == Double(waiting), "\(page)")
                #expect(fixture.metric("purgewatch_files_tracked") == 80, "files tracked: the origin's own manifest")
            }
            let senders = sites.filter { $0.1.daemon?.log.contains("is the submitter of") == true }
            #expect(senders.count == 1, "one submitter for the account")
            #expect(senders.first?.1.daemon?.log.contains("sends for site") == true)
        }
    }

    @Test(
        "origin_timeout 60 s (a heartbeat every 20 s): another site's registration and deploy reach the holder at once (LISTEN/NOTIFY), not at its next heartbeat"
    )
    func theHolderHearsOfAnotherSitesDeployAtOnce() async throws {
        let oneStylesheet: (DaemonFixture) async throws -> Void = { fixture in
            try fixture.write("a.css", "a v1")
            try await fixture.shell("touch -d '2026-01-01 00:00:00' site/a.css")
        }
        try await Self.withTwoSites(originTimeout: "60s", prepare: oneStylesheet) { sites, _ in
            let emulator = sites[0].1.emulator
            let elected = await sites[0].1.eventually(timeout: .seconds(10)) {
                sites.contains { $0.1.daemon?.log.contains("is the submitter of") == true }
            }
            #expect(elected)
            let (_, holder, _) = try #require(sites.first { $0.1.daemon?.log.contains("is the submitter of") == true })
            let (otherName, other, otherBase) = try #require(sites.first { $0.1 !== holder })
            // Without the listener it learns at its next heartbeat, 20 s after its first.
            let knows = await holder.eventually(timeout: .seconds(8)) { holder.daemon?.log.contains("sends for site \(otherName) too") == true }
            #expect(knows, "the holder learnt of the other site only at a heartbeat; log:\n\(holder.daemon?.log.suffix(3000) ?? "")")
            try other.write("a.css", "a v2")
            // quiet (300 ms), the other origin's commit, the notification, one plan and request —
            // with room for a loaded CI machine, and well short of the 20 s heartbeat.
            let sent = await holder.eventually(timeout: .seconds(6)) { emulator.acceptedURLs.contains(otherBase + "a.css") }
            #expect(sent, "not purged within 6 s of the deploy: the holder waited for its heartbeat; log:\n\(holder.daemon?.log.suffix(3000) ?? "")")
        }
    }

    @Test("two sites on one account: trouble with one site's rows (the database refuses its batches) never holds the other's purges back")
    func oneSitesTroubleStaysWithIt() async throws {
        let oneStylesheet: (DaemonFixture) async throws -> Void = { fixture in
            try fixture.write("a.css", "a v1")
            try await fixture.shell("touch -d '2026-01-01 00:00:00' site/a.css")
        }
        try await Self.withTwoSites(prepare: oneStylesheet) { sites, psql in
            let emulator = sites[0].1.emulator
            let elected = await sites[0].1.eventually(timeout: .seconds(10)) {
                sites.contains { $0.1.daemon?.log.contains("is the submitter of") == true }
            }
            #expect(elected)
            let (_, holder, holderBase) = try #require(sites.first { $0.1.daemon?.log.contains("is the submitter of") == true })
            let (otherName, other, otherBase) = try #require(sites.first { $0.1 !== holder })
            let worksBoth = await holder.eventually(timeout: .seconds(10)) {
                holder.daemon?.log.contains("sends for site \(otherName) too") == true
            }
            #expect(worksBoth)
            // The other site's batches are refused by the database (a statement error, not an
            // outage); the holder works that site before its own.
            _ = try psql(
                """
                CREATE FUNCTION refuse_site() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RAISE EXCEPTION ''refused by the test''; END';
                CREATE TRIGGER refuse_site BEFORE INSERT ON batches FOR EACH ROW WHEN (NEW.site = '\(otherName)') EXECUTE FUNCTION refuse_site();
                """)
            try other.write("a.css", "a v2")
            let queued = await holder.eventually(timeout: .seconds(10)) {
                (try? psql("SELECT count(*) FROM queue WHERE site = '\(otherName)' AND state = 'pending'")) == "1"
            }
            #expect(queued)
            try holder.write("a.css", "a v2")
            let ownSent = await holder.eventually(timeout: .seconds(20)) { emulator.acceptedURLs.contains(holderBase + "a.css") }
            #expect(
                ownSent,
                "the holder's own purge held back by another site's trouble; log:\n\(holder.daemon?.log.suffix(4000) ?? "")")
            #expect(holder.daemon?.log.contains("cannot work site \(otherName) of the account") == true, "\(holder.daemon?.log ?? "")")
            #expect(!emulator.acceptedURLs.contains(otherBase + "a.css"), "must not: a batch the database refused sent")
            // The trouble ends: the other site's purge goes out, once.
            _ = try psql("DROP TRIGGER refuse_site ON batches")
            let otherSent = await holder.eventually(timeout: .seconds(30)) { emulator.acceptedURLs.contains(otherBase + "a.css") }
            #expect(otherSent, "\(holder.daemon?.log.suffix(3000) ?? "")")
            for base in [holderBase, otherBase] { #expect(emulator.acceptedURLs.filter { $0 == base + "a.css" }.count == 1) }
        }
    }

    @Test("two sites on one account, kill -9 of the holder mid-batch: the other site's daemon takes over and finds the batch")
    func anotherSitesDaemonTakesOverMidBatch() async throws {
        let oneStylesheet: (DaemonFixture) async throws -> Void = { fixture in
            try fixture.write("a.css", "a v1")
            try await fixture.shell("touch -d '2026-01-01 00:00:00' site/a.css")
        }
        try await Self.withTwoSites(prepare: oneStylesheet) { sites, _ in
            let emulator = sites[0].1.emulator
            let alpha = sites[0].1
            let elected = await alpha.eventually(timeout: .seconds(10)) {
                sites.contains { $0.1.daemon?.log.contains("is the submitter of") == true }
            }
            #expect(elected)
            let (holderName, holder, holderBase) = try #require(sites.first { $0.1.daemon?.log.contains("is the submitter of") == true })
            let (_, other, _) = try #require(sites.first { $0.0 != holderName })
            // The holder's own site changes; the API takes the purge and holds its answer.
            emulator.failNext(1, with: .slow(30), action: "PurgeUrlsCache")
            try holder.write("a.css", "a v2")
            let inFlight = await holder.eventually(timeout: .seconds(20)) { emulator.acceptedURLs.contains(holderBase + "a.css") }
            #expect(inFlight)
            await holder.stopDaemon(signal: SIGKILL)
            let found = await other.eventually(timeout: .seconds(20)) { other.daemon?.log.contains("was accepted as task") == true }
            #expect(found, "the other site's daemon did not look the batch up; log:\n\(other.daemon?.log.suffix(3000) ?? "")")
            #expect(await Self.settled([holder]))
            #expect(emulator.acceptedURLs.filter { $0 == holderBase + "a.css" }.count == 1, "charged twice")
        }
    }

    @Test(
        "kill -9 of the submitter mid-batch: the next one finds the batch accepted (DescribePurgeTasks) and does not send it again",
        arguments: Product.allCases)
    func theSubmitterKilledMidBatch(product: Product) async throws {
        try await Self.withFleet(originTimeout: "3s", files: Self.before, product: product) { origins, _ in
            let emulator = origins[0].emulator
            let elected = await origins[0].eventually(timeout: .seconds(10)) { Self.holder(of: origins) != nil }
            #expect(elected)
            let holder = try #require(Self.holder(of: origins))
            // The API takes the purge, and its answer never reaches the holder.
            emulator.failNext(1, with: .slow(30), action: product.urlAction)
            let staging = try Self.staging(Self.after)
            defer { try? FileManager.default.removeItem(atPath: staging) }
            for origin in origins { try await Self.rsync(staging, to: origin) }
            let inFlight = await holder.eventually(timeout: .seconds(20)) { Self.changed.isSubset(of: Set(emulator.acceptedURLs)) }
            #expect(inFlight, "the purge never reached the API: \(emulator.requests.map(\.action))")
            await holder.stopDaemon(signal: SIGKILL)
            let survivors = origins.filter { $0 !== holder }
            let found = await survivors[0].eventually(timeout: .seconds(20)) {
                survivors.contains { $0.daemon?.log.contains("was accepted as task") == true }
            }
            #expect(
                found, "no survivor looked the batch up; logs:\n\(survivors.map { $0.daemon?.log.suffix(3000) ?? "" }.joined(separator: "\n----\n"))")
            // Polled to the end, never charged twice.
            let polled = await survivors[0].eventually(timeout: .seconds(20)) {
                emulator.requests.contains { $0.action == "DescribePurgeTasks" && $0.date > Date().addingTimeInterval(-20) }
            }
            #expect(polled)
            #expect(await Self.settled(survivors))
            for url in Self.changed { #expect(emulator.acceptedURLs.filter { $0 == url }.count == 1, "\(url) charged twice") }
            #expect(emulator.requests.filter { $0.action == product.urlAction }.count == 1)
        }
    }

    @Test("kill -9 of the submitter: another origin takes over within origin_timeout and sends what was queued")
    func theSubmitterKilledAnotherTakesOver() async throws {
        try await Self.withFleet(originTimeout: "3s", files: Self.before) { origins, _ in
            let emulator = origins[0].emulator
            let elected = await origins[0].eventually(timeout: .seconds(10)) { Self.holder(of: origins) != nil }
            #expect(elected, "no origin became the submitter")
            let holder = try #require(Self.holder(of: origins))
            await holder.stopDaemon(signal: SIGKILL)
            let killed = Date()
            let staging = try Self.staging(Self.after)
            defer { try? FileManager.default.removeItem(atPath: staging) }
            let survivors = origins.filter { $0 !== holder }
            for origin in survivors { try await Self.rsync(staging, to: origin) }
            let purged = await survivors[0].eventually(timeout: .seconds(20)) { Self.changed.isSubset(of: Set(emulator.acceptedURLs)) }
            #expect(purged, "nobody took over: \(emulator.acceptedURLs)")
            let newHolders = survivors.filter { $0.daemon?.log.contains("is the submitter of") == true }
            #expect(newHolders.count == 1)
            // The dead origin lags until its heartbeat is older than origin_timeout: then it is gone.
            if let first = emulator.requests.first(where: { $0.action == "PurgeUrlsCache" && $0.date > killed }) {
                #expect(first.date.timeIntervalSince(killed) < 3 + 5, "the takeover took \(first.date.timeIntervalSince(killed)) s")
            }
            for url in Self.changed { #expect(emulator.acceptedURLs.filter { $0 == url }.count == 1) }
        }
    }
}

extension DaemonFixture {
    /// Replaces the config with a fleet origin's: the site's rule, its manifest in its own SQLite
    /// file, the queue in PostgreSQL at `url`.
    func writeFleetConfig(
        url: String, origin: String, site name: String = "example", converge: String, originTimeout: String, requestsPerSecond: Double = 10,
        metricsPort: Int, base: String = DaemonFixture.www
    ) throws {
        try """
        [site]
        root = "site"
        [state]
        path = "state/site.sqlite"
        url = "\(url)"
        [fleet]
        origin = "\(origin)"
        site = "\(name)"
        account = "default"
        converge = "\(converge)"
        origin_timeout = "\(originTimeout)"
        [[rule]]
        prefix = ""
        urls = ["\(base)"]
        [coalesce]
        quiet = "300ms"
        max_delay = "5s"
        [purge]
        requests_per_second = \(requestsPerSecond)
        [metrics]
        listen = "127.0.0.1:\(metricsPort)"
        [tencentcloud]
        endpoint = "\(emulator.endpoint)"
        \(product.configLines)
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// This origin's metrics page (nil when it cannot be read).
    func metricsPage() -> String? {
        guard let config = try? String(contentsOfFile: configPath, encoding: .utf8),
            let line = config.split(separator: "\n").first(where: { $0.hasPrefix("listen = \"127.0.0.1:") }),
            let port = Int(line.dropFirst("listen = \"127.0.0.1:".count).dropLast()),
            let (_, body) = try? EndToEnd.MetricsTests.get(port: port, path: "/metrics")
        else { return nil }
        return body
    }

    /// The value of `series` (name and labels as exported) on this origin's metrics endpoint.
    func metric(_ series: String) -> Double? {
        metricsPage()?.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }
}
