import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// Running it for real: the sd_notify sequence, SIGHUP reloads, and what the verifier does
    /// with purge tasks that fail.
    @Suite(.serialized, .timeLimit(.minutes(3))) struct DaemonLifecycleTests {
        static let www = DaemonFixture.www

        @Test func notifySequenceReadyStatusWatchdogReloadingStopping() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon(environment: ["WATCHDOG_USEC": "400000"])
                let notify = try #require(fixture.notify)
                #expect(notify.messages.contains { $0.contains("READY=1") })
                #expect(await notify.message(timeout: .seconds(10)) { $0.contains("WATCHDOG=1") } != nil, "pings every WATCHDOG_USEC/2")
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                #expect(await notify.message(timeout: .seconds(10)) { $0.contains("STATUS=") && $0.contains("last batch") } != nil)

                let pid = try #require(fixture.daemon?.pid)
                kill(pid, SIGHUP)
                let reloading = await notify.message(timeout: .seconds(10)) { $0.contains("RELOADING=1") }
                #expect(reloading != nil)
                #expect(reloading?.contains("MONOTONIC_USEC=") == true)
                #expect(await notify.message(timeout: .seconds(10)) { $0.contains("READY=1") } != nil, "READY=1 again after the reload")

                let status = await fixture.stopDaemon(signal: SIGTERM)
                #expect(status == 0)
                #expect(await notify.message(timeout: .seconds(5)) { $0.contains("STOPPING=1") } != nil)
                // A clean stop is not a failure: the watcher stage ends first and says nothing.
                let log = fixture.daemon?.log ?? ""
                #expect(!log.contains("the inotify watcher stopped"), "\(log)")
                #expect(!log.contains(" error ") && !log.contains(" critical "), "\(log)")
            }
        }

        @Test func reloadChangesRulesWithoutLosingWhatIsPending() async throws {
            try await DaemonFixture.with(quiet: "60s", maxDelay: "10m") { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                try fixture.write("page.html", "v2\n")  // touched, not yet compared (quiet is 60 s)
                let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
                try config.replacingOccurrences(
                    of: "urls = [\"\(Self.www)\"]", with: "urls = [\"\(Self.www)\", \"https://example.com/\"]"
                ).write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
                kill(try #require(fixture.daemon?.pid), SIGHUP)
                #expect(await fixture.notify?.message(timeout: .seconds(10)) { $0.contains("READY=1") } != nil)
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "page.html", "https://example.com/page.html"])
                #expect(fixture.daemon?.log.contains("configuration reloaded") == true)
            }
        }

        @Test func aReloadThatMovesTheRootWalksTheNewTree() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("a.html", "v1\n")
                try fixture.write("b.html", "same\n")
                try await fixture.shell("mkdir -p site2 && echo v2 > site2/a.html && echo same > site2/b.html && echo new > site2/c.html")
                try await fixture.startDaemon()
                let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
                try config.replacingOccurrences(of: "root = \"site\"", with: "root = \"site2\"")
                    .write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
                kill(try #require(fixture.daemon?.pid), SIGHUP)
                #expect(await fixture.notify?.message(timeout: .seconds(10)) { $0.contains("READY=1") } != nil)
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "a.html"], "only content that differs is purged")

                fixture.emulator.resetRecords()
                try await fixture.shell("echo v3 > site2/b.html")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "b.html"], "the watches moved to the new root")
            }
        }

        @Test func anInvalidReloadIsRejectedAndTheOldConfigKeepsRunning() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                let good = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
                try (good + "\n[purge2]\ntypo = true\n").write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
                kill(try #require(fixture.daemon?.pid), SIGHUP)
                #expect(await fixture.notify?.message(timeout: .seconds(10)) { $0.contains("READY=1") } != nil)
                #expect(await fixture.eventually { fixture.daemon?.log.contains("reload rejected") == true })
                #expect(fixture.daemon?.log.contains("purge2: unknown key") == true, "the error names the key")
                #expect(fixture.daemon?.isRunning == true)

                // The old config keeps working (the broken file on disk would make `flush` itself fail
                // with exit 78, so the daemon's own quiet period closes the window here).
                try fixture.write("page.html", "v2\n")
                #expect(await fixture.eventually { fixture.purged == [Self.www + "page.html"] }, "\(fixture.daemon?.log ?? "")")
            }
        }

        /// `run` refuses a PostgreSQL state at start; a reload must not bring one in behind it.
        @Test func aReloadThatAddsAPostgreSQLStateIsRejected() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                let good = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
                let fleet = "url = \"postgresql://purgewatch@127.0.0.1:9/fleet\"\n"
                let changed =
                    good.contains("[state]\n") ? good.replacingOccurrences(of: "[state]\n", with: "[state]\n" + fleet) : good + "\n[state]\n" + fleet
                try changed.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
                kill(try #require(fixture.daemon?.pid), SIGHUP)
                #expect(await fixture.notify?.message(timeout: .seconds(10)) { $0.contains("READY=1") } != nil)
                #expect(await fixture.eventually { fixture.daemon?.log.contains("reload rejected") == true })
                #expect(fixture.daemon?.log.contains("[state] url or [fleet] changed") == true, "\(fixture.daemon?.log ?? "")")
                #expect(fixture.daemon?.isRunning == true)
                // Still this origin on its own state: a change is purged as before.
                try fixture.write("page.html", "v2\n")
                #expect(await fixture.eventually { fixture.purged == [Self.www + "page.html"] }, "\(fixture.daemon?.log ?? "")")
            }
        }

        /// EdgeOne (SPEC §10): a target whose own status ends `timeout` is sent again like a
        /// failed one, up to 3 times.
        @Test(arguments: Product.allCases)
        func failedPurgeTasksAreQueuedAgainThenReported(product: Product) async throws {
            try await DaemonFixture.with(product: product) { fixture in
                try fixture.write("good.html", "v1\n")
                try fixture.write("bad.html", "v1\n")
                try await fixture.startDaemon()
                if product == .cdn {
                    fixture.emulator.failURLs([Self.www + "bad.html"])
                } else {
                    fixture.emulator.failTasks(for: [Self.www + "bad.html"], status: "timeout")
                }
                try fixture.write("good.html", "v2\n")
                try fixture.write("bad.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0, "both were accepted by the API")

                // DescribePurgeTasks says `fail` for bad.html: sent again 3 times, then reported.
                let reported = try await fixture.eventually(timeout: .seconds(60)) {
                    let failures = (try await fixture.status()["failures"] as? [String: Any])?["urls"] as? [[String: Any]] ?? []
                    return failures.contains { $0["url"] as? String == Self.www + "bad.html" && $0["error_code"] as? String == "TaskFailed" }
                }
                #expect(reported, "\(fixture.daemon?.log ?? "")")
                #expect(fixture.emulator.acceptedURLs.filter { $0 == Self.www + "bad.html" }.count == 4)
                #expect(fixture.emulator.acceptedURLs.filter { $0 == Self.www + "good.html" }.count == 1)
                #expect(fixture.daemon?.log.contains("failed") == true)
            }
        }
    }
}
