import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// `status --check` for monitoring systems and `failures` for the human they page (SPEC §2):
    /// every level reached with its exit status, and a failure retried after the cause is fixed.
    @Suite(.serialized, .timeLimit(.minutes(3))) struct MonitoringTests {
        static let www = DaemonFixture.www

        static func check(_ fixture: DaemonFixture, environment extra: [String: String] = [:]) async throws
            -> PurgewatchProcess.Result
        {
            var environment = fixture.environment
            for (key, value) in extra { environment[key] = value }
            return try await PurgewatchProcess.runAsync(["status", "--config", fixture.configPath, "--check"], environment: environment)
        }

        /// `NAME LEVEL - summary | label=value…`: one line, the plugin convention.
        static func expectPluginLine(_ result: PurgewatchProcess.Result, _ level: String, _ status: Int32) {
            let lines = result.stdout.split(separator: "\n")
            #expect(lines.count == 1, "\(result.stdout)")
            #expect(result.stdout.hasPrefix("PURGEWATCH \(level) - "), "\(result.stdout)")
            #expect(result.status == status, "\(result.stdout) \(result.stderr)")
            if level != "UNKNOWN" {
                let perfdata = result.stdout.split(separator: "|").last.map(String.init) ?? ""
                for label in ["pending", "failed", "quota_left", "oldest_pending_age"] {
                    #expect(perfdata.contains(" \(label)="), "perfdata has \(label): \(perfdata)")
                }
            }
        }

        @Test func okThenCriticalForAFailureThenRetriedAfterTheFix() async throws {
            try await DaemonFixture.with(emulator: EmulatorConfiguration(knownDomains: ["static.example.com"])) { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                Self.expectPluginLine(try await Self.check(fixture), "OK", 0)

                // www is not (yet) a CDN domain of the account: the URL fails permanently.
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 1)
                let critical = try await Self.check(fixture)
                Self.expectPluginLine(critical, "CRITICAL", 2)
                #expect(critical.stdout.contains("1 URL(s) failed permanently"))

                let listed = try await PurgewatchProcess.runAsync(
                    ["failures", "--config", fixture.configPath, "--json"], environment: fixture.environment)
                #expect(listed.status == 0)
                let failures = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [[String: Any]] ?? []
                #expect(failures.count == 1)
                #expect(failures.first?["url"] as? String == Self.www + "page.html")
                #expect(failures.first?["error_code"] as? String == "ResourceNotFound.CdnHostNotExists")
                #expect((failures.first?["message"] as? String)?.contains("does not exist") == true)
                #expect(failures.first?["failed_at"] as? String != nil)

                // The domain is added to the CDN; the human retries.
                fixture.emulator.setKnownDomains(["www.example.com"])
                let retried = try await PurgewatchProcess.runAsync(
                    ["failures", "--config", fixture.configPath, "--retry", Self.www + "page.html"], environment: fixture.environment)
                #expect(retried.status == 0, "\(retried.stderr)")
                #expect(retried.stdout.contains("1 failed URL(s) queued again"))
                #expect(await fixture.eventually { fixture.purged.contains(Self.www + "page.html") })
                Self.expectPluginLine(try await Self.check(fixture), "OK", 0)
                let unknownURL = try await PurgewatchProcess.runAsync(
                    ["failures", "--config", fixture.configPath, "--retry", Self.www + "nope.html"], environment: fixture.environment)
                #expect(unknownURL.status == 65, "a URL that is not a failure: \(unknownURL.stderr)")
            }
        }

        @Test func forgetClearsTheFailure() async throws {
            try await DaemonFixture.with(emulator: EmulatorConfiguration(knownDomains: ["static.example.com"])) { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 1)
                let forgot = try await PurgewatchProcess.runAsync(
                    ["failures", "--config", fixture.configPath, "--forget"], environment: fixture.environment)
                #expect(forgot.stdout.contains("1 failed URL(s) forgotten"), "\(forgot.stdout) \(forgot.stderr)")
                Self.expectPluginLine(try await Self.check(fixture), "OK", 0)
                let status = try await fixture.status()
                #expect(((status["failures"] as? [String: Any])?["urls"] as? [Any])?.isEmpty == true)
                #expect(fixture.purged.isEmpty, "forgetting purges nothing")
            }
        }

        @Test func warningWhileURLsWaitForTheQuota() async throws {
            try await DaemonFixture.with { fixture in
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 0, paths: 0) }
                try fixture.write("blog/a.html", "v1\n")
                try await fixture.startDaemon()
                try fixture.write("blog/a.html", "v2\n")
                _ = try await fixture.flushWait(timeout: "2s")
                let warning = try await Self.check(fixture)
                Self.expectPluginLine(warning, "WARNING", 1)
                #expect(warning.stdout.contains("wait for the quota reset"))
                #expect(warning.stdout.contains("quota_left=0"))
            }
        }

        /// During an outage the URLs sit in planned batches: they are pending (status, perfdata),
        /// and their age grows (a review found pending=0 there).
        @Test func urlsHeldByAnOutageArePending() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                fixture.emulator.failNext(10_000, with: .http(502))
                try fixture.write("page.html", "v2\n")
                _ = try await PurgewatchProcess.runAsync(["flush", "--config", fixture.configPath], environment: fixture.environment)
                #expect(
                    await fixture.eventually(timeout: .seconds(10)) {
                        ((try? await fixture.status())?["pending"] as? [String: Any])?["urls"] as? Int == 1
                    })
                let later = try await Self.check(fixture, environment: ["PURGEWATCH_TEST_WALL_CLOCK_OFFSET": "2400"])
                #expect(later.stdout.contains("pending=1;"), "\(later.stdout)")
                #expect(later.stdout.contains("has been pending for"), "CRITICAL past max_delay + 10 min: \(later.stdout)")
                fixture.emulator.clearFaults()
            }
        }

        @Test func warningWhenWatchingIsDegraded() async throws {
            try await DaemonFixture.with { fixture in
                for directory in ["a", "b", "c", "d"] { try fixture.write("\(directory)/x.html", "v1\n") }
                try await fixture.startDaemon(launcher: DaemonFixture.watchLimited(to: 2))
                #expect(
                    await fixture.eventually {
                        (try? await Self.check(fixture))?.stdout.contains("watching is degraded") == true
                    })
                // The kernel refused the watch, and the log names the limit that binds.
                let log = fixture.daemon?.log ?? ""
                #expect(log.contains("inotify watch limit reached") && log.contains("user.max_inotify_watches is 2"), "\(log)")
                Self.expectPluginLine(try await Self.check(fixture), "WARNING", 1)
            }
        }

        @Test func criticalWithoutADaemonAndForAnOldPendingURL() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                await fixture.stopDaemon()
                let stopped = try await Self.check(fixture)
                Self.expectPluginLine(stopped, "CRITICAL", 2)
                #expect(stopped.stdout.contains("no daemon is running"))
                // A URL queued by hand while no daemon runs, seen 40 minutes later.
                _ = try await PurgewatchProcess.runAsync(["purge", "--config", fixture.configPath, "page.html"], environment: fixture.environment)
                let later = try await Self.check(fixture, environment: ["PURGEWATCH_TEST_WALL_CLOCK_OFFSET": "2400"])
                Self.expectPluginLine(later, "CRITICAL", 2)
                #expect(later.stdout.contains("has been pending for"), "\(later.stdout)")
            }
        }

        @Test func unknownWhenTheStateCannotBeRead() async throws {
            try await DaemonFixture.with { fixture in
                try FileManager.default.createDirectory(
                    atPath: (fixture.statePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try "this is not a database".write(toFile: fixture.statePath, atomically: true, encoding: .utf8)
                let unknown = try await Self.check(fixture)
                Self.expectPluginLine(unknown, "UNKNOWN", 3)
                let broken = try await PurgewatchProcess.runAsync(
                    ["status", "--config", fixture.directory + "/missing.toml", "--check"], environment: fixture.environment)
                Self.expectPluginLine(broken, "UNKNOWN", 3)
            }
        }
    }
}
