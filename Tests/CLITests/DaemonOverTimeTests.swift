import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// The daemon over hours and days (SPEC §6), with the real binary: the quota reset crossed with a
    /// shifted wall clock (`PURGEWATCH_TEST_WALL_CLOCK_OFFSET`, environment only), a 20-second API,
    /// old failures, the verification deadline and history retention.
    @Suite(.serialized, .timeLimit(.minutes(4))) struct DaemonOverTimeTests {
        static let www = DaemonFixture.www

        /// Seconds from now to the next 00:00 UTC+8 (16:00 UTC).
        static func secondsToNextReset(from now: Date = Date()) -> TimeInterval {
            let day = 86_400.0
            let sinceUTC8Midnight = (now.timeIntervalSince1970 + 8 * 3_600).truncatingRemainder(dividingBy: day)
            return day - sinceUTC8Midnight
        }

        static func sqlite(_ path: String, _ sql: String) throws -> String {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
            process.arguments = [path, sql]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            process.waitUntilExit()
            return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }

        /// URLs parked for the quota, some changed again before the reset (two waiting batches hold
        /// the same URLs): at 00:00 UTC+8 everything is planned again, duplicates collapse, and the
        /// daemon keeps running (it used to exit with a FOREIGN KEY failure, and again after every
        /// restart).
        @Test func theQuotaResetPlansEverythingAgainAndTheDaemonSurvives() async throws {
            // The daemon's clock (and the emulator's) stand 20 s before the reset.
            let offset = Self.secondsToNextReset() - 20
            try await DaemonFixture.with { fixture in
                fixture.emulator.setClockOffset(seconds: offset)
                // No directory quota either: what does not fit waits.
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 2, paths: 0) }
                for name in ["a", "b", "c", "d", "e"] { try fixture.write("\(name).html", "v1\n") }
                try await fixture.startDaemon(environment: ["PURGEWATCH_TEST_WALL_CLOCK_OFFSET": "\(offset)"])
                for name in ["a", "b", "c", "d", "e"] { try fixture.write("\(name).html", "v2\n") }
                let first = try await fixture.flushWait(timeout: "2s")
                #expect(first.status == 75, "three URLs wait for the reset: \(first.stderr)")
                #expect(await fixture.eventually(timeout: .seconds(6)) { fixture.purged.count == 2 })
                // The sitemap and the home page change again while they wait.
                try fixture.write("d.html", "v3\n")
                try fixture.write("e.html", "v3\n")
                #expect(try await fixture.flushWait(timeout: "2s").status == 75)
                #expect(
                    await fixture.eventually(timeout: .seconds(6)) {
                        ((try? await fixture.status())?["waiting_quota"] as? [String: Any])?["urls"] as? Int == 5
                    }, "five URLs wait for the reset")

                // Cross 00:00 UTC+8; the emulator's day resets with it.
                let untilReset = Self.secondsToNextReset(from: Date().addingTimeInterval(offset))
                try await Task.sleep(for: .milliseconds(Int(untilReset * 1_000) + 300))
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 10_000, paths: 100) }
                #expect(
                    await fixture.eventually(timeout: .seconds(20)) { fixture.purged.count == 5 },
                    "\(fixture.purged.sorted())\n\(fixture.daemon?.log ?? "")")
                #expect(fixture.daemon?.isRunning == true, "the daemon survives the reset: \(fixture.daemon?.log ?? "")")
                #expect(fixture.daemon?.log.contains("FOREIGN KEY") != true)
                // Each waiting URL once after the reset: duplicates collapsed.
                let afterReset = fixture.emulator.acceptedURLs.dropFirst(2)
                #expect(afterReset.count == 3 && Set(afterReset).count == 3, "\(afterReset)")
                let settled = try await fixture.status()
                #expect((settled["waiting_quota"] as? [String: Any])?["urls"] as? Int == 0)
                #expect((settled["pending"] as? [String: Any])?["urls"] as? Int == 0)
            }
        }

        /// SPEC §6: a DescribePurgeQuota reading that shows room re-plans waiting work at once — a
        /// reading taken a moment too early never parks work for a day.
        @Test func aQuotaReadingWithRoomReplansWaitingWorkAtOnce() async throws {
            try await DaemonFixture.with { fixture in
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 1, paths: 0) }
                for name in ["a", "b", "c"] { try fixture.write("\(name).html", "v1\n") }
                try await fixture.startDaemon()
                for name in ["a", "b", "c"] { try fixture.write("\(name).html", "v2\n") }
                #expect(try await fixture.flushWait(timeout: "2s").status == 75)
                #expect(fixture.purged.count == 1)
                // The API's quota comes back (a reset seen early, a support ticket): no restart, no
                // waiting for 00:00 UTC+8.
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 100) }
                #expect(
                    await fixture.eventually(timeout: .seconds(30)) { fixture.purged.count == 3 },
                    "\(fixture.daemon?.log ?? "")")
            }
        }

        /// With every API call taking 20 s, `flush` answers within a second and WATCHDOG=1 keeps
        /// coming (SPEC §6). Real timings (no test time scale): a request may take 30 s.
        @Test func aTwentySecondAPINeverStallsFlushStatusOrTheWatchdog() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon(environment: [
                    "PURGEWATCH_TEST_TIME_SCALE": "1", "WATCHDOG_USEC": "2000000",
                ])
                fixture.emulator.failNext(1_000, with: .slow(20))
                try fixture.write("page.html", "v2\n")
                let listener = try #require(fixture.notify)
                let before = listener.messages.count
                let watching = Task { try await offload { _ = listener.wait(timeout: .seconds(12)) { _ in false } } }
                var slowest: Duration = .zero
                var times: [Duration] = []
                for round in 0..<8 {
                    try await Task.sleep(for: .milliseconds(1_200))
                    let started = ContinuousClock.now
                    let flushed = try await PurgewatchProcess.runAsync(
                        ["flush", "--config", fixture.configPath], environment: fixture.environment)
                    let took = started.duration(to: .now)
                    slowest = max(slowest, took)
                    times.append(took)
                    #expect(flushed.status == 0, "round \(round): \(flushed.stderr)")
                    let status = try await PurgewatchProcess.runAsync(
                        ["status", "--config", fixture.configPath, "--json"], environment: fixture.environment)
                    #expect(status.status == 0)
                    #expect(status.stdout.contains("\"daemon_running\": true"), "status reaches the daemon while the API is slow")
                }
                _ = try await watching.value
                // Each flush is a new process (its start-up counts too): the typical one answers within a
                // second, none waits for the API (20 s).
                let median = times.sorted()[times.count / 2]
                #expect(median < .seconds(1), "flush took \(median) (median) while the API answered in 20 s")
                #expect(slowest < .seconds(3), "flush took \(slowest) at worst while the API answered in 20 s")
                let pings = listener.messages.dropFirst(before).filter { $0.contains("WATCHDOG=1") }.count
                #expect(pings >= 9, "WATCHDOG=1 every second for 12 s while a request hangs: \(pings)")
                #expect(fixture.emulator.requests.contains { $0.fault == .slow(20) }, "the slow API was really hit")
            }
        }

        /// An old permanent failure does not poison later deploys: `flush --wait` answers for the URLs
        /// of its own window (SPEC §6), 1 only for its own failures, which it names.
        @Test func anOldFailureDoesNotFailLaterFlushes() async throws {
            try await DaemonFixture.with { fixture in
                fixture.emulator.setMaxURLLength(60)
                let long = "this-name-makes-the-url-longer-than-the-api-allows.html"
                try fixture.write(long, "v1\n")
                try fixture.write("ok.html", "v1\n")
                try await fixture.startDaemon()
                try fixture.write(long, "v2\n")
                let failing = try await fixture.flushWait()
                #expect(failing.status == 1)
                #expect(failing.stderr.contains(Self.www + long), "the failed URL is named: \(failing.stderr)")

                try fixture.write("ok.html", "v2\n")
                let next = try await fixture.flushWait()
                #expect(next.status == 0, "the next deploy's own URLs were all accepted: \(next.stderr)")
                #expect(fixture.purged.contains(Self.www + "ok.html"))
                let empty = try await fixture.flushWait()
                #expect(empty.status == 0, "a flush with nothing new is not red either: \(empty.stderr)")
                let status = try await fixture.status()
                let failures = (status["failures"] as? [String: Any])?["urls"] as? [[String: Any]] ?? []
                #expect(failures.map { $0["url"] as? String } == [Self.www + long], "the old failure stays visible in status")
            }
        }

        /// The deploy's own failure counts even when its window closed by itself and the URL failed
        /// before the deploy script called `flush --wait`; the next flush is green again.
        @Test func aFailureOfThisDeployBeforeItsFlushStillCounts() async throws {
            try await DaemonFixture.with { fixture in
                fixture.emulator.setMaxURLLength(60)
                let long = "this-name-makes-the-url-longer-than-the-api-allows.html"
                try fixture.write(long, "v1\n")
                try await fixture.startDaemon()
                try fixture.write(long, "v2\n")
                // quiet = 300 ms: the daemon purges (and fails) on its own before the flush.
                #expect(await fixture.eventually { fixture.emulator.requests.contains { $0.outcome == "InvalidParameter.CdnUrlExceedLength" } })
                try await Task.sleep(for: .milliseconds(300))
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 1, "\(flushed.stderr)")
                #expect(flushed.stderr.contains(Self.www + long))
                let next = try await fixture.flushWait()
                #expect(next.status == 0, "\(next.stderr)")
            }
        }

        /// A task still `process` 30 minutes after acceptance is `unverified`: reported once, polled
        /// no more (SPEC §6). The half hour passes by restarting with the wall clock 31 min later.
        @Test func aTaskNeverDoneBecomesUnverifiedAfterThirtyMinutes() async throws {
            try await DaemonFixture.with { fixture in
                fixture.emulator.setTaskCompletionDelay(.seconds(36_000))
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon(environment: ["PURGEWATCH_TEST_TIME_SCALE": "1"])
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                await fixture.stopDaemon()

                let offset = 31.0 * 60
                fixture.emulator.setClockOffset(seconds: offset)
                try await fixture.startDaemon(environment: [
                    "PURGEWATCH_TEST_TIME_SCALE": "1", "PURGEWATCH_TEST_WALL_CLOCK_OFFSET": "\(offset)",
                ])
                #expect(
                    await fixture.eventually(timeout: .seconds(30)) {
                        (try? await fixture.status()["unverified_batches"] as? Int) == 1
                    }, "\(fixture.daemon?.log ?? "")")
                let polls = fixture.emulator.requests.filter { $0.action == "DescribePurgeTasks" }.count
                try await Task.sleep(for: .seconds(2))
                #expect(fixture.emulator.requests.filter { $0.action == "DescribePurgeTasks" }.count == polls, "polled no more")
                let log = fixture.daemon?.log ?? ""
                #expect(log.components(separatedBy: "marked unverified").count == 2, "reported once:\n\(log)")
            }
        }

        /// History is kept for 7 days (SPEC §6): a restart 8 days later prunes done rows.
        @Test func historyOlderThanSevenDaysIsPruned() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                #expect(
                    await fixture.eventually(timeout: .seconds(20)) {
                        (try? Self.sqlite(fixture.statePath, "SELECT COUNT(*) FROM batches WHERE state = 'done'")) == "1"
                    })
                await fixture.stopDaemon()
                #expect(try Self.sqlite(fixture.statePath, "SELECT COUNT(*) FROM queue") == "1")

                let offset = 8.0 * 86_400
                fixture.emulator.setClockOffset(seconds: offset)
                try await fixture.startDaemon(environment: ["PURGEWATCH_TEST_WALL_CLOCK_OFFSET": "\(offset)"])
                #expect(
                    await fixture.eventually(timeout: .seconds(20)) {
                        (try? Self.sqlite(fixture.statePath, "SELECT (SELECT COUNT(*) FROM queue) + (SELECT COUNT(*) FROM batches)")) == "0"
                    }, "\(fixture.daemon?.log ?? "")")
                #expect(try Self.sqlite(fixture.statePath, "SELECT COUNT(*) FROM manifest") == "1", "the manifest is not history")
            }
        }
    }
}
