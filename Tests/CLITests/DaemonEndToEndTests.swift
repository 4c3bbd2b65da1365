import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// The daemon as a user runs it: a real process, real inotify, a real SQLite file, and the
    /// Tencent API emulator on 127.0.0.1. Each test deploys the way users do and asserts exactly
    /// which URLs reached the "CDN".
    @Suite(.serialized, .timeLimit(.minutes(3))) struct DaemonEndToEndTests {
        static let www = DaemonFixture.www

        /// Every deploy case runs against both providers (SPEC §10): the same URLs are purged.
        @Test(arguments: Product.allCases)
        func modifyDeleteAndIdenticalRebuildPurgeExactlyWhatChanged(product: Product) async throws {
            try await DaemonFixture.with(product: product) { fixture in
                for name in ["index.html", "a.html", "b.html", "about/index.html", "css/site.css"] {
                    try fixture.write(name, "original \(name)\n")
                }
                try await fixture.startDaemon()
                #expect(fixture.emulator.acceptedURLs.isEmpty, "a new site's baseline purges nothing")

                try fixture.write("a.html", "new bytes\n")
                try fixture.remove("b.html")
                try fixture.write("about/index.html", "original about/index.html\n")  // identical bytes
                try await fixture.shell("touch site/index.html site/css/site.css")  // new mtime only
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(fixture.purged == [Self.www + "a.html", Self.www + "b.html"])

                // A full rebuild that writes every file with the same bytes purges nothing.
                fixture.emulator.resetRecords()
                for name in ["index.html", "a.html", "about/index.html", "css/site.css"] {
                    let content = try String(contentsOfFile: fixture.site + "/" + name, encoding: .utf8)
                    try fixture.write(name, content)
                }
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.emulator.acceptedURLs.isEmpty)
                #expect(fixture.purgeRequests.isEmpty)
            }
        }

        @Test(arguments: [false, true], Product.allCases)
        func rsyncDeployPurgesChangedAndDeletedFilesOnly(delayUpdates: Bool, product: Product) async throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/rsync") else {
                Issue.record("rsync is not installed (apt-get install rsync)")
                return
            }
            try await DaemonFixture.with(product: product) { fixture in
                try await fixture.shell(
                    "mkdir -p build/blog && for i in 1 2 3 4 5; do echo post $i > build/blog/p$i.html; done && echo home > build/index.html")
                #expect(try await fixture.shell("rsync -a build/ site/") == 0)
                try await fixture.startDaemon()

                // The next build: p2 changes, p3 is gone, p6 is new, the rest is rebuilt identically.
                try await fixture.shell(
                    "rm -rf build && mkdir -p build/blog && for i in 1 2 4 5; do echo post $i > build/blog/p$i.html; done && echo home > build/index.html && echo 'post 2, edited' > build/blog/p2.html && echo post 6 > build/blog/p6.html"
                )
                let options = delayUpdates ? "-a --checksum --delete --delay-updates" : "-a --checksum --delete"
                #expect(try await fixture.shell("rsync \(options) build/ site/") == 0)
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "blog/p2.html", Self.www + "blog/p3.html"])
            }
        }

        @Test(arguments: Product.allCases)
        func symlinkSwapReleasePurgesTheDifferenceBetweenReleases(product: Product) async throws {
            try await DaemonFixture.with(siteRoot: "current", product: product) { fixture in
                try await fixture.shell(
                    "mkdir -p releases/1/docs && echo a > releases/1/index.html && echo b > releases/1/docs/b.html && echo c > releases/1/docs/c.html && ln -s releases/1 current"
                )
                try await fixture.startDaemon()
                try await fixture.shell(
                    "cp -a releases/1 releases/2 && echo b2 > releases/2/docs/b.html && rm releases/2/docs/c.html && ln -s releases/2 current.new && mv -T current.new current"
                )
                #expect(await fixture.eventually { fixture.purged.count >= 2 }, "\(fixture.emulator.requests)\n\(fixture.daemon?.log ?? "")")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "docs/b.html", Self.www + "docs/c.html"])

                // Later edits in the new release are seen (the watches moved).
                fixture.emulator.resetRecords()
                try await fixture.shell("echo a2 > releases/2/index.html")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "index.html", Self.www])
            }
        }

        /// A `git pull` deploy (the site is a working tree): the files the pull changed and
        /// deleted are purged; `.git/` is excluded by the default `.*`.
        @Test(arguments: Product.allCases)
        func gitPullDeployPurgesWhatThePullChanged(product: Product) async throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/git") else {
                Issue.record("git is not installed (apt-get install git)")
                return
            }
            try await DaemonFixture.with(product: product) { fixture in
                let git = "git -c user.email=ci@example.com -c user.name=ci -c init.defaultBranch=main"
                #expect(
                    try await fixture.shell(
                        "mkdir -p origin/docs && cd origin && \(git) init -q && echo home > index.html && echo a > docs/a.html && echo b > docs/b.html && \(git) add -A && \(git) commit -qm one && cd .. && rm -rf site && \(git) clone -q origin site"
                    ) == 0)
                try await fixture.startDaemon()
                #expect(
                    try await fixture.shell(
                        "cd origin && echo a2 > docs/a.html && \(git) rm -q docs/b.html && echo c > docs/c.html && \(git) add -A && \(git) commit -qm two && cd ../site && \(git) pull -q"
                    ) == 0)
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(fixture.purged == [Self.www + "docs/a.html", Self.www + "docs/b.html"], "\(fixture.daemon?.log ?? "")")
                #expect(!fixture.purged.contains { $0.contains(".git") }, "never the repository's own files")
            }
        }

        @Test func twentyFiveHundredChangesGoOutAsThreeRequests() async throws {
            try await DaemonFixture.with { fixture in
                try await fixture.shell("mkdir -p site/p && cd site/p && for i in $(seq 1 2500); do echo v1 > f$i.html; done")
                try await fixture.startDaemon()
                try await fixture.shell("cd site/p && for i in $(seq 1 2500); do echo v2 > f$i.html; done")
                #expect(try await fixture.flushWait().status == 0)
                let purges = fixture.emulator.requests.filter { $0.action == "PurgeUrlsCache" && $0.outcome == "accepted" }
                #expect(purges.map(\.urlCount).sorted() == [500, 1_000, 1_000], "\(fixture.emulator.requests)\n\(fixture.daemon?.log ?? "")")
                #expect(fixture.purged == Set((1...2_500).map { Self.www + "p/f\($0).html" }))
            }
        }

        @Test func sigkillAfterTheFirstAcceptedBatchLosesNothing() async throws {
            try await DaemonFixture.with(requestsPerSecond: 1) { fixture in
                try await fixture.shell("mkdir -p site/p && cd site/p && for i in $(seq 1 3000); do echo v1 > f$i.html; done")
                try await fixture.startDaemon()
                try await fixture.shell("cd site/p && for i in $(seq 1 3000); do echo v2 > f$i.html; done")
                _ = try await PurgewatchProcess.runAsync(["flush", "--config", fixture.configPath], environment: fixture.environment)
                let firstAccepted = await fixture.eventually(timeout: .seconds(60)) { !fixture.emulator.acceptedURLs.isEmpty }
                #expect(firstAccepted)
                await fixture.stopDaemon(signal: SIGKILL)
                #expect(fixture.emulator.acceptedURLs.count < 3_000, "the kill came after everything was sent")

                try await fixture.startDaemon()
                #expect(try await fixture.flushWait().status == 0)
                let expected = Set((1...3_000).map { Self.www + "p/f\($0).html" })
                #expect(expected.isSubset(of: fixture.purged), "missing: \(expected.subtracting(fixture.purged).count)")
                #expect(fixture.purged.isSubset(of: expected))
            }
        }

        @Test(arguments: Product.allCases)
        func quotaOverflowIsCoveredByDirectoryPurgesAndNothingIsDropped(product: Product) async throws {
            try await DaemonFixture.with(product: product) { fixture in
                fixture.setPurgeQuota(urls: 100)
                try await fixture.shell(
                    "mkdir -p site/blog site/docs && for i in $(seq 1 150); do echo v1 > site/blog/$i.html; echo v1 > site/docs/$i.html; done")
                try await fixture.startDaemon()
                try await fixture.shell("for i in $(seq 1 150); do echo v2 > site/blog/$i.html; echo v2 > site/docs/$i.html; done")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.emulator.acceptedURLs.count == 100)
                #expect(Set(fixture.emulator.acceptedPaths) == [Self.www + "blog/", Self.www + "docs/"])

                let status = try await fixture.status()
                #expect((status["pending"] as? [String: Any])?["urls"] as? Int == 0)
                #expect((status["waiting_quota"] as? [String: Any])?["urls"] as? Int == 0)
                let batches = status["batches"] as? [[String: Any]] ?? []
                #expect(batches.contains { $0["action"] as? String == product.statusDirectoryAction && $0["url_count"] as? Int == 2 })
                #expect(
                    batches.filter { $0["action"] as? String == product.statusURLAction }.compactMap { $0["url_count"] as? Int }.reduce(0, +)
                        == 100)
                if product == .edgeone {
                    let prefixes = fixture.emulator.acceptedEdgeOneTargets.filter { $0.type == "purge_prefix" }
                    #expect(!prefixes.isEmpty && prefixes.allSatisfy { $0.method == "invalidate" }, "the default prefix_method")
                }
                let quota = status["quota"] as? [[String: Any]] ?? []
                #expect(quota.contains { $0["kind"] as? String == "url" && $0["available"] as? Int == 0 })
            }
        }

        /// SPEC §6: the root only when nothing narrower fits. A deploy that changes the sitemap and
        /// the home page beside 40 posts, with 3 URLs left today: the top-level URLs take the URL
        /// quota and blog/ the directory purge; the whole host is never purged.
        @Test func aTopLevelFileNeverTurnsTheFallbackIntoAWholeHostPurge() async throws {
            try await DaemonFixture.with { fixture in
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 3) }
                try await fixture.shell(
                    "mkdir -p site/blog && for i in $(seq 1 40); do echo v1 > site/blog/$i.html; done && echo v1 > site/sitemap.xml && echo v1 > site/index.html"
                )
                try await fixture.startDaemon()
                try await fixture.shell(
                    "for i in $(seq 1 40); do echo v2 > site/blog/$i.html; done && echo v2 > site/sitemap.xml && echo v2 > site/index.html")
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(Set(fixture.emulator.acceptedURLs) == [Self.www + "sitemap.xml", Self.www + "index.html", Self.www])
                #expect(fixture.emulator.acceptedPaths == [Self.www + "blog/"], "never \(Self.www) as a directory")
                #expect(fixture.daemon?.log.contains("purging the whole site root") != true, "\(fixture.daemon?.log ?? "")")
            }
        }

        @Test func flushWaitReturnsWithinSecondsDespiteALongQuietPeriod() async throws {
            try await DaemonFixture.with(quiet: "60s", maxDelay: "10m") { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                try fixture.write("page.html", "v2\n")
                let started = ContinuousClock.now
                let result = try await fixture.flushWait()
                let elapsed = started.duration(to: .now)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(elapsed < .seconds(30), "flush --wait took \(elapsed) with quiet = 60s")
                #expect(fixture.purged == [Self.www + "page.html"])
            }
        }

        @Test func permanentAuthFailureParksTheBatchWithoutARetryStorm() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon(environment: ["TENCENTCLOUD_SECRET_KEY": "not-the-right-key-0000000000000000"])
                try fixture.write("page.html", "v2\n")
                let result = try await fixture.flushWait()
                #expect(result.status == 1, "flush --wait reports a permanent failure: \(result.stderr)")

                // Keep deploying for a while: the daemon keeps watching and queueing, but holds back.
                let before = fixture.emulator.requests.count
                for round in 0..<20 {
                    try fixture.write("page-\(round).html", "v\(round)\n")
                    try fixture.write("page.html", "v\(round + 3)\n")
                    _ = try await PurgewatchProcess.runAsync(["flush", "--config", fixture.configPath], environment: fixture.environment)
                    usleep(150_000)
                }
                let during = fixture.emulator.requests.count - before
                // Each refused batch costs two requests (SPEC §6: the credentials are read again once
                // before it fails); the pause doubling from 0.6 s (scaled) allows a handful of batches.
                #expect(during <= 20, "\(during) requests in 3 s after a permanent failure")
                #expect(fixture.daemon?.isRunning == true, "the daemon must stay up")
                #expect(fixture.emulator.acceptedURLs.isEmpty)

                let status = try await fixture.status()
                let batches = status["batches"] as? [[String: Any]] ?? []
                #expect(batches.contains { $0["state"] as? String == "failed" && $0["error_code"] as? String == "AuthFailure.SignatureFailure" })
                #expect(((status["failures"] as? [String: Any])?["batches"] as? Int ?? 0) >= 1)
                let secret = "not-the-right-key-0000000000000000"
                let log = fixture.daemon?.log ?? ""
                #expect(!log.contains(secret), "a secret reached the log")
                #expect(
                    !(try await PurgewatchProcess.runAsync(["status", "--config", fixture.configPath], environment: fixture.environment).stdout
                        .contains(secret)))
            }
        }

        @Test func sigtermStopsPromptlyAndTheQueueWaitsForTheNextStart() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                fixture.emulator.failNext(1, with: .slow(30), action: "PurgeUrlsCache")
                try fixture.write("page.html", "v2\n")
                _ = try await PurgewatchProcess.runAsync(["flush", "--config", fixture.configPath], environment: fixture.environment)
                #expect(await fixture.eventually { fixture.emulator.requests.contains { $0.action == "PurgeUrlsCache" } })
                let started = ContinuousClock.now
                let status = await fixture.stopDaemon(signal: SIGTERM, timeout: .seconds(10))
                #expect(status == 0, "exit status after SIGTERM")
                #expect(started.duration(to: .now) < .seconds(5))
                #expect(await fixture.notify?.message(timeout: .seconds(5)) { $0.contains("STOPPING=1") } != nil)

                fixture.emulator.resetRecords()
                try await fixture.startDaemon()
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "page.html"], "the interrupted batch is sent again")
            }
        }

        @Test func onceDrainsTheQueueAndExits() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                let baseline = try await PurgewatchProcess.runAsync(
                    ["run", "--config", fixture.configPath, "--once"], environment: fixture.environment)
                #expect(baseline.status == 0, "\(baseline.stderr)")
                try fixture.write("page.html", "v2\n")
                let once = try await PurgewatchProcess.runAsync(["run", "--config", fixture.configPath, "--once"], environment: fixture.environment)
                #expect(once.status == 0, "\(once.stderr)")
                #expect(fixture.purged == [Self.www + "page.html"])
            }
        }

        @Test func dryRunLogsBatchesAndNeverTouchesTheRealState() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                #expect(
                    try await PurgewatchProcess.runAsync(["run", "--config", fixture.configPath, "--once"], environment: fixture.environment).status
                        == 0)
                try await fixture.startDaemon(["--dry-run"])
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0, "flush reaches the dry-run daemon")
                #expect(fixture.emulator.requests.filter { $0.action.hasPrefix("Purge") }.isEmpty)
                #expect(fixture.daemon?.log.contains("dry run: would send PurgeUrlsCache") == true)
                #expect(fixture.daemon?.log.contains(Self.www + "page.html") == true)
                await fixture.stopDaemon()

                // The real state did not see the change: a real run still purges it.
                let once = try await PurgewatchProcess.runAsync(["run", "--config", fixture.configPath, "--once"], environment: fixture.environment)
                #expect(once.status == 0, "\(once.stderr)")
                #expect(fixture.purged == [Self.www + "page.html"])
            }
        }

        @Test func purgeCommandQueuesURLsAndPathsThroughTheDaemon() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("docs/index.html", "v1\n")
                try await fixture.startDaemon()
                let result = try await PurgewatchProcess.runAsync(
                    ["purge", "--config", fixture.configPath, "--wait", "docs/index.html", "https://www.example.com/extra.css"],
                    environment: fixture.environment)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(fixture.purged == [Self.www + "docs/index.html", Self.www + "docs/", Self.www + "extra.css"])
            }
        }

        /// A target the API refuses (CDN: too long, the request refused; EdgeOne: named in
        /// `FailedList`) fails alone; the rest of its batch is purged.
        @Test(arguments: Product.allCases)
        func aURLTooLongForTheAPIFailsAloneNotItsBatch(product: Product) async throws {
            try await DaemonFixture.with(product: product) { fixture in
                fixture.emulator.setMaxURLLength(80)
                let long = String(repeating: "l", count: 80) + ".html"
                try fixture.write("short.html", "v1\n")
                try fixture.write(long, "v1\n")
                try await fixture.startDaemon()
                try fixture.write("short.html", "v2\n")
                try fixture.write(long, "v2\n")
                let result = try await fixture.flushWait()
                #expect(result.status == 1, "the long URL failed permanently: \(result.stderr)")
                #expect(fixture.purged == [Self.www + "short.html"])
                let failures = (try await fixture.status()["failures"] as? [String: Any])?["urls"] as? [[String: Any]] ?? []
                #expect(failures.map { $0["url"] as? String } == [Self.www + long])
                #expect(
                    failures.first?["error_code"] as? String
                        == (product == .cdn ? "InvalidParameter.CdnUrlExceedLength" : "InvalidParameter.Target"))
            }
        }

        @Test(arguments: Product.allCases)
        func transientAPIFailuresAreRetriedUntilEveryURLIsAcceptedOnce(product: Product) async throws {
            try await DaemonFixture.with(product: product) { fixture in
                for index in 1...20 { try fixture.write("p\(index).html", "v1\n") }
                try await fixture.startDaemon()
                let action = product.urlAction
                fixture.emulator.failNext(1, with: .http(502), action: action)
                fixture.emulator.failNext(1, with: .internalError, action: action)
                fixture.emulator.failNext(1, with: .drop, action: action)
                fixture.emulator.failNext(1, with: .apiError(code: product.rateLimitCode, message: "too often"), action: action)
                for index in 1...20 { try fixture.write("p\(index).html", "v2\n") }
                #expect(try await fixture.flushWait().status == 0)
                let expected = (1...20).map { Self.www + "p\($0).html" }
                #expect(fixture.emulator.acceptedURLs.sorted() == expected.sorted(), "each URL accepted exactly once")
                #expect(fixture.emulator.injectedFaults.count == 4)
            }
        }

        @Test(arguments: Product.allCases)
        func aBatchTheAPIFindsTooBigIsSplitAndSentAgain(product: Product) async throws {
            try await DaemonFixture.with(product: product) { fixture in
                for index in 1...10 { try fixture.write("p\(index).html", "v1\n") }
                try await fixture.startDaemon()
                fixture.emulator.failNext(1, with: .apiError(code: product.batchLimitCode, message: "batch too big"), action: product.urlAction)
                for index in 1...10 { try fixture.write("p\(index).html", "v2\n") }
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == Set((1...10).map { Self.www + "p\($0).html" }))
                let accepted = fixture.emulator.requests.filter { $0.action == product.urlAction && $0.outcome == "accepted" }
                #expect(accepted.map(\.urlCount) == [5, 5], "halved after the rejection")
            }
        }

        /// The API refuses by day limit and a fresh reading confirms the day is used up: the batch
        /// waits for the reset (the quota is read again meanwhile), nothing is failed.
        @Test(arguments: Product.allCases)
        func theAPIsDailyLimitParksTheBatchUntilTheReset(product: Product) async throws {
            try await DaemonFixture.with(product: product) { fixture in
                try fixture.write("page.html", "v1\n")
                try fixture.write("first.html", "v1\n")
                try await fixture.startDaemon()
                // A first change reads the quota (room) and is sent …
                try fixture.write("first.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                // … then the account's day is used up elsewhere: the cached reading still says room.
                fixture.setPurgeQuota(urls: 0)
                try fixture.write("page.html", "v2\n")
                let result = try await fixture.flushWait(timeout: "2s")
                #expect(result.status == 75, "not submitted before the timeout: \(result.stderr)")
                #expect(fixture.emulator.acceptedURLs == [Self.www + "first.html"])
                let status = try await fixture.status()
                let waiting = status["waiting_quota"] as? [String: Any]
                #expect(waiting?["urls"] as? Int == 1)
                let until = try #require(waiting?["until"] as? String)
                #expect(until.hasSuffix("T16:00:00Z"), "the reset is 00:00 UTC+8: \(until)")
                #expect(fixture.daemon?.log.contains("quota exhausted (\(product.dayLimitCode))") == true)
                let reads = fixture.emulator.requests.filter { $0.action == product.quotaAction }
                #expect(reads.count >= 2, "the refusal asked for a fresh reading at once")
                #expect(fixture.daemon?.isRunning == true)
            }
        }

        /// A refusal by day limit that a fresh reading contradicts (another site used the quota, and
        /// some is left; or a passing refusal): what fits is sent at once, not at the reset (SPEC §6).
        @Test func aDayLimitRefusalWithQuotaLeftSendsWhatFitsAtOnce() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                fixture.emulator.failNext(
                    1, with: .apiError(code: "LimitExceeded.CdnPurgeUrlExceedDayLimit", message: "daily limit"),
                    action: "PurgeUrlsCache")
                try fixture.write("page.html", "v2\n")
                let result = try await fixture.flushWait(timeout: "10s")
                #expect(result.status == 0, "sent after a fresh reading: \(result.stderr)")
                #expect(fixture.emulator.acceptedURLs == [Self.www + "page.html"])
                #expect(fixture.daemon?.log.contains("quota exhausted (LimitExceeded.CdnPurgeUrlExceedDayLimit)") == true)
            }
        }

        /// SPEC §10: batch sizes come from DescribeContentQuota, never from a constant.
        @Test func edgeOneBatchesAreAsBigAsTheZonesQuotaSays() async throws {
            try await DaemonFixture.with(product: .edgeone) { fixture in
                fixture.emulator.setEdgeOneQuota(type: "purge_url", batch: 7)
                for index in 1...20 { try fixture.write("p\(index).html", "v1\n") }
                try await fixture.startDaemon()
                for index in 1...20 { try fixture.write("p\(index).html", "v2\n") }
                #expect(try await fixture.flushWait().status == 0)
                let sizes = fixture.emulator.requests.filter { $0.action == "CreatePurgeTask" && $0.outcome == "accepted" }.map(\.urlCount)
                #expect(sizes.sorted() == [6, 7, 7], "\(sizes)")
                #expect(fixture.purged == Set((1...20).map { Self.www + "p\($0).html" }))
            }
        }

        /// SPEC §10: a target refused in `FailedList` for a passing reason is sent again on the
        /// backoff (its neighbours accepted at once, never sent twice); one refused by day limit
        /// waits for the quota, never failed.
        @Test func edgeOneTargetsRefusedForAPassingReasonAreSentAgainAndForTheQuotaWait() async throws {
            try await DaemonFixture.with(product: .edgeone) { fixture in
                for name in ["a", "b", "c"] { try fixture.write("\(name).html", "v1\n") }
                try await fixture.startDaemon()
                fixture.emulator.failTargets([Self.www + "b.html"], reason: "InternalError.BackendError")
                for name in ["a", "b", "c"] { try fixture.write("\(name).html", "v2\n") }
                #expect(
                    await fixture.eventually(timeout: .seconds(10)) { fixture.daemon?.log.contains("refused 1 target(s)") == true },
                    "\(fixture.daemon?.log ?? "")")
                #expect(fixture.purged == [Self.www + "a.html", Self.www + "c.html"])
                fixture.emulator.failTargets([], reason: "InternalError.BackendError")
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)\n\(fixture.daemon?.log ?? "")")
                #expect(fixture.emulator.acceptedURLs.sorted() == ["a", "b", "c"].map { Self.www + $0 + ".html" }, "each once")

                fixture.emulator.resetRecords()
                fixture.emulator.failTargets([Self.www + "a.html"], reason: "LimitExceeded.DailyQuota")
                for name in ["a", "c"] { try fixture.write("\(name).html", "v3\n") }
                _ = try await fixture.flushWait(timeout: "3s")
                #expect(fixture.purged == [Self.www + "c.html"])
                // Parked for the quota; the zone's reading still shows room, so it is re-planned at
                // each fresh reading (and refused again here): waiting or pending, never failed.
                #expect(fixture.daemon?.log.contains("they wait for the quota") == true, "\(fixture.daemon?.log ?? "")")
                let status = try await fixture.status()
                let failures = (status["failures"] as? [String: Any])?["urls"] as? [[String: Any]] ?? []
                #expect(failures.isEmpty, "must not: failed for a day's quota: \(failures)")
                let waiting = (status["waiting_quota"] as? [String: Any])?["urls"] as? Int ?? 0
                let pending = (status["pending"] as? [String: Any])?["urls"] as? Int ?? 0
                #expect(waiting + pending == 1, "still queued: waiting \(waiting), pending \(pending)")
            }
        }

        /// Switching a site's provider with a restart: the old provider's unfinished batches are
        /// planned again for the new one (nothing lost), its quota read afresh; a reload refuses
        /// to switch and says so.
        @Test func switchingTheProviderAtARestartLosesNothing() async throws {
            try await DaemonFixture.with(emulator: EmulatorConfiguration(taskCompletionDelay: .seconds(3_600))) { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0, "accepted by CDN; its task never finishes")
                #expect(fixture.emulator.acceptedURLs == [Self.www + "page.html"])
                var config = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
                config = config.replacingOccurrences(of: "[tencentcloud]\n", with: "[tencentcloud]\n\(Product.edgeone.configLines)\n")
                try config.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
                // A reload cannot switch.
                let pid = try #require(fixture.daemon?.pid)
                kill(pid, SIGHUP)
                #expect(
                    await fixture.eventually(timeout: .seconds(10)) { fixture.daemon?.log.contains("switching providers needs a restart") == true },
                    "\(fixture.daemon?.log ?? "")")
                #expect(fixture.emulator.acceptedEdgeOneTargets.isEmpty)
                // A restart does.
                _ = await fixture.stopDaemon()
                fixture.emulator.resetRecords()
                try await fixture.startDaemon()
                #expect(
                    await fixture.eventually(timeout: .seconds(10)) {
                        fixture.emulator.acceptedEdgeOneTargets.map(\.target) == [Self.www + "page.html"]
                    },
                    "\(fixture.daemon?.log ?? "")")
                #expect(fixture.daemon?.log.contains("the provider changed from cdn to edgeone") == true)
                #expect(fixture.emulator.requests.contains { $0.action == "DescribeContentQuota" }, "the new provider's quota was read")
            }
        }

        @Test func flushWithoutADaemonSaysSo() async throws {
            try await DaemonFixture.with { fixture in
                let result = try await fixture.flushWait()
                #expect(result.status == 69)
                #expect(result.stderr.contains("no purgewatch daemon is running"))
            }
        }
    }
}
