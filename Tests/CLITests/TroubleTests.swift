import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// Trouble an operator meets, with the real binary against the emulator (issue 22): a root that
    /// does not exist yet, writes that fire only IN_MODIFY, descriptor exhaustion, a quota used by
    /// another site, a CDN whose day turns after ours. Each states what must happen and what must not.
    @Suite(.serialized, .timeLimit(.minutes(4))) struct TroubleTests {
        static let www = DaemonFixture.www

        static func check(_ fixture: DaemonFixture) async throws -> PurgewatchProcess.Result {
            try await PurgewatchProcess.runAsync(["status", "--config", fixture.configPath, "--check"], environment: fixture.environment)
        }

        /// The package installed and enabled before the first deploy: the daemon waits for the root
        /// (READY, status WARNING), records its first tree as the baseline, then purges changes.
        @Test func aRootThatDoesNotExistYetIsWaitedFor() async throws {
            try await DaemonFixture.with(siteRoot: "srv/www/current") { fixture in
                let check = try await PurgewatchProcess.runAsync(["check-config", "--config", fixture.configPath], environment: fixture.environment)
                #expect(check.status == 0, "\(check.stderr)")
                #expect(check.stderr.contains("does not exist"), "check-config warns: \(check.stderr)")

                try await fixture.startDaemon()
                #expect(fixture.daemon?.isRunning == true, "alive, not exited: \(fixture.daemon?.log ?? "")")
                let waiting = try await Self.check(fixture)
                #expect(waiting.status == 1 && waiting.stdout.contains("does not exist yet"), "\(waiting.stdout)")
                #expect(
                    await Self.statusSaid(fixture, "WAITING for the site root"),
                    "STATUS= says what it waits for: \(fixture.notify?.messages ?? [])")

                // The first deploy creates the root: its tree is the baseline, nothing is purged.
                #expect(
                    try await fixture.shell(
                        "mkdir -p srv/www/current/docs && echo v1 > srv/www/current/index.html && echo v1 > srv/www/current/docs/a.html") == 0)
                #expect(
                    await fixture.eventually(timeout: .seconds(10)) {
                        ((try? await fixture.status())?["files_tracked"] as? Int) == 2
                    }, "the new root's tree recorded: \(fixture.daemon?.log ?? "")")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.emulator.acceptedURLs.isEmpty, "a new site's baseline purges nothing")
                let settled = try await Self.check(fixture)
                #expect(settled.status == 0, "no longer waiting: \(settled.stdout)")

                // A later change is purged.
                try fixture.write("docs/a.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "docs/a.html"])
            }
        }

        /// truncate(2) and writes through a descriptor kept open fire only IN_MODIFY.
        @Test func truncateAndWritesThroughAnOpenDescriptorArePurged() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("cut.html", "a longer first version\n")
                try fixture.write("open.html", "v1\n")
                try fixture.write("same.html", "v1\n")
                try await fixture.startDaemon()
                #expect(truncate(fixture.site + "/cut.html", 3) == 0)
                let fd = open(fixture.site + "/open.html", O_WRONLY)
                #expect(fd >= 0)
                defer { close(fd) }
                let bytes = Array("v2\n".utf8)
                #expect(pwrite(fd, bytes, bytes.count, 0) == bytes.count)
                // The writer keeps the file open across the flush.
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "cut.html", Self.www + "open.html"], "same.html was not touched")
                #expect(fixture.daemon?.log.contains("walking the whole tree") != true, "seen through events, not a walk")
            }
        }

        /// Open descriptors of a process.
        static func openDescriptors(_ pid: pid_t) -> Int {
            (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
        }

        static func prlimit(_ pid: pid_t, nofile: Int) async throws -> Int32 {
            let result = try await offload {
                let process = Process()
                process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
                process.arguments = ["--pid", "\(pid)", "--nofile=\(nofile):"]  // the soft limit; the hard one stays
                try process.run()
                process.waitUntilExit()
                return process.terminationStatus
            }
            return result
        }

        /// File-descriptor exhaustion is trouble to wait out, never a deletion: with 0 and 2 free
        /// descriptors nothing is read as deleted and nothing crashes; once the limit is restored,
        /// every modified file is purged, and the manifest kept every file.
        @Test(arguments: [0, 2]) func descriptorExhaustionIsNeverReadAsDeletion(free: Int) async throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/prlimit") else {
                Issue.record("prlimit is not installed (apt-get install util-linux)")
                return
            }
            try await DaemonFixture.with { fixture in
                for index in 0..<50 { try fixture.write("d\(index % 5)/p\(index).html", "v1\n") }
                try await fixture.startDaemon()
                let pid = try #require(fixture.daemon?.pid)
                #expect((try await fixture.status())["files_tracked"] as? Int == 50)
                // "0 free": a limit below what is open (open descriptors stay, every new open fails),
                // so nothing the daemon closes meanwhile makes room; "2 free": just above.
                let used = Self.openDescriptors(pid)
                #expect(try await Self.prlimit(pid, nofile: free == 0 ? max(3, used - 8) : used + free) == 0)
                for index in 0..<50 { try fixture.write("d\(index % 5)/p\(index).html", "v2\n") }
                if free == 0 {
                    // The window closes and the comparison cannot open even the root: it waits.
                    #expect(
                        await fixture.eventually(timeout: .seconds(10)) {
                            fixture.daemon?.log.contains("cannot compare the tree now") == true
                        }, "the comparison could not run: \(fixture.daemon?.log.suffix(2_000) ?? "")")
                    #expect(fixture.purged.isEmpty, "nothing purged from a comparison that could not run")
                    try await Self.expectClearTroubleWithoutSpinning(fixture, pid: pid)
                } else {
                    // Two descriptors: the root and one file at a time. Slower, never wrong.
                    #expect(
                        await fixture.eventually(timeout: .seconds(10)) {
                            fixture.purged.count == 50 || fixture.daemon?.log.contains("cannot compare the tree now") == true
                        })
                }
                #expect(fixture.daemon?.isRunning == true, "no crash: \(fixture.daemon?.log.suffix(2_000) ?? "")")
                #expect(try await Self.prlimit(pid, nofile: 1_024) == 0)
                #expect(
                    await fixture.eventually(timeout: .seconds(20)) { fixture.purged.count == 50 },
                    "every modified file purged once the limit is restored: \(fixture.purged.count)")
                #expect(try await fixture.flushWait().status == 0)
                let log = fixture.daemon?.log ?? ""
                #expect(!log.contains("purge.deleted=5") && !log.contains("purge.deleted=4"), "nothing was read as deleted")
                #expect((try await fixture.status())["files_tracked"] as? Int == 50, "the manifest kept every file")
                #expect(fixture.daemon?.isRunning == true)
                // One clear line per condition, not a storm.
                let lines = log.split(separator: "\n").filter { $0.contains("cannot compare the tree now") }
                #expect(lines.count <= 3, "\(lines.count) lines:\n\(lines.prefix(5).joined(separator: "\n"))")
            }
        }

        /// Out of descriptors, the daemon still says what it cannot do, and waits without spinning:
        /// `STATUS=` says TROUBLE (through the notify socket opened at start); `status --check` is
        /// answered with WARNING and the cause, not CRITICAL "no daemon" — through the one descriptor
        /// the control socket keeps spare, even behind a client that sends nothing; a deploy's
        /// `flush --wait` is told to try again; and clients left in the listening socket's backlog
        /// meanwhile cost next to no CPU.
        static func expectClearTroubleWithoutSpinning(_ fixture: DaemonFixture, pid: pid_t) async throws {
            #expect(await Self.statusSaid(fixture, "TROUBLE"), "STATUS= says TROUBLE: \(fixture.notify?.messages ?? [])")
            let check = try await Self.check(fixture)
            #expect(check.status == 1, "WARNING: \(check.stdout) \(check.stderr)")
            #expect(check.stdout.contains("cannot compare the tree now") && check.stdout.contains("Too many open files"), "\(check.stdout)")
            #expect(!check.stdout.contains("no daemon") && !check.stdout.contains("did not answer"), "\(check.stdout)")
            // A deploy's `flush --wait` is told to try again, not held while comparisons cannot run
            // (its connection would itself keep them from running).
            let asked = ContinuousClock.now
            let flushed = try await fixture.flushWait(timeout: "60s")
            #expect(flushed.status == 75, "try again: \(flushed.stdout) \(flushed.stderr)")
            #expect(flushed.stderr.contains("out of file descriptors"), "\(flushed.stderr)")
            #expect(asked.duration(to: .now) < .seconds(30), "answered, not left waiting for the timeout")

            // Out of descriptors, clients are accepted only through the spare descriptor, one at a
            // time: silent clients never take the room left for the runtime (libdispatch crashed
            // the daemon when they did), and one that sends nothing holds the slot for at most
            // 1 s, so `status` is answered behind it.
            let socket = fixture.statePath + ".sock"
            var silent: [Int32] = []
            defer { for fd in silent { close(fd) } }
            let holder = Self.connect(to: socket)
            try #require(holder >= 0, "connect: errno \(errno)")
            silent.append(holder)
            let behind = try await Self.check(fixture)
            #expect(behind.status == 1 && behind.stdout.contains("Too many open files"), "answered behind a silent client: \(behind.stdout)")
            // More silent clients wait in the backlog, which polls readable all along (a busy loop
            // over it burned a core until the limit was raised).
            for _ in 0..<8 {
                let fd = Self.connect(to: socket)
                try #require(fd >= 0, "connect: errno \(errno)")
                silent.append(fd)
            }
            let before = try #require(Self.cpuSeconds(pid))
            try await Task.sleep(for: .seconds(2))
            let spent = try #require(Self.cpuSeconds(pid)) - before
            #expect(spent < 0.2, "\(spent) s of CPU in 2 s with clients in the backlog: a busy loop")
            for fd in silent { close(fd) }
            silent = []
            let answered = try await Self.check(fixture)
            #expect(answered.status == 1 && answered.stdout.contains("Too many open files"), "\(answered.stdout) \(answered.stderr)")
            #expect(fixture.daemon?.isRunning == true, "no crash: \(fixture.daemon?.log.suffix(2_000) ?? "")")
            let lines = (fixture.daemon?.log ?? "").split(separator: "\n").filter { $0.contains("control socket") || $0.contains("control-socket") }
            #expect(lines.count <= 2, "one line per condition:\n\(lines.prefix(5).joined(separator: "\n"))")
        }

        /// A stream connection to the Unix socket at `path` that sends nothing (-1 on failure).
        static func connect(to path: String) -> Int32 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { return -1 }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(fd)
                return -1
            }
            withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard connected == 0 else {
                close(fd)
                return -1
            }
            return fd
        }

        /// Whether the daemon sent a `STATUS=` containing `text` (already received, or within 10 s).
        static func statusSaid(_ fixture: DaemonFixture, _ text: String) async -> Bool {
            guard let listener = fixture.notify else { return false }
            let said: @Sendable (String) -> Bool = { message in
                message.split(separator: "\n").contains { $0.hasPrefix("STATUS=") && $0.contains(text) }
            }
            if listener.messages.contains(where: said) { return true }
            return await listener.message(timeout: .seconds(10), where: said) != nil
        }

        /// User and system CPU time of `pid` so far, in seconds (`/proc/PID/stat` fields 14 and 15).
        static func cpuSeconds(_ pid: pid_t) -> Double? {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let end = stat.lastIndex(of: ")")
            else { return nil }
            // After "pid (comm) ", the fields from the third (state) on.
            let fields = stat[stat.index(after: end)...].split(separator: " ")
            guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
            return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
        }

        /// Two sites on one account, a day quota of 100: site A sends 80; site B's 80 do not fit.
        /// B sends the 20 that still fit today and parks the rest; nothing fails.
        @Test func twoSitesOnOneAccountSendWhatFits() async throws {
            let emulator = try await TencentEmulator.start(EmulatorConfiguration(urlDailyQuota: 100))
            let a = try await DaemonFixture(sharing: emulator)
            let b = try await DaemonFixture(sharing: emulator)
            func cleanUp() async {
                await a.tearDown()
                await b.tearDown()
                await emulator.shutdown()
            }
            do {
                for index in 0..<80 { try a.write("a\(index).html", "v1\n") }
                for index in 0..<80 { try b.write("b\(index).html", "v1\n") }
                try await b.startDaemon()
                // B reads the quota first (100 left) for a first change of its own.
                try b.write("b0.html", "v2\n")
                #expect(try await b.flushWait().status == 0)
                try await a.startDaemon()
                for index in 0..<79 { try a.write("a\(index).html", "v2\n") }
                #expect(try await a.flushWait().status == 0)
                #expect(emulator.acceptedURLs.count == 80)
                // B's cached reading still says 99; the API refuses 80 by day limit; 20 fit.
                for index in 1...80 { try b.write("b\(index % 80).html", "v3\n") }
                let parked = try await b.flushWait(timeout: "3s")
                #expect(parked.status == 75, "not everything fits today: \(parked.stderr)")
                #expect(
                    await b.eventually(timeout: .seconds(10)) { emulator.acceptedURLs.count == 100 },
                    "the 20 that fit are sent the same day: \(emulator.acceptedURLs.count)")
                let status = try await b.status()
                #expect((status["waiting_quota"] as? [String: Any])?["urls"] as? Int == 60)
                #expect(((status["failures"] as? [String: Any])?["urls"] as? [Any])?.isEmpty == true, "none failed")
                #expect(emulator.acceptedURLs.count <= 100, "never beyond the account's quota")
            } catch {
                await cleanUp()
                throw error
            }
            await cleanUp()
        }

        /// Our day turns at 00:00 UTC+8; the CDN's own day (the emulator's clock, with its daily
        /// rollover) three seconds later. The readings in between say 0: the quota is read again on
        /// the backoff, and the work goes out once the CDN's day has turned by itself — not 24 hours
        /// later, and without the test setting the quota.
        @Test func theCDNsDayTurningAfterOursDoesNotParkWorkForADay() async throws {
            let lag = 3.0  // the CDN's day turns this long after ours, in real time
            let offset = DaemonOverTimeTests.secondsToNextReset() - 6
            let ourReset = Date().addingTimeInterval(DaemonOverTimeTests.secondsToNextReset(from: Date().addingTimeInterval(offset)))
            let theirReset = ourReset.addingTimeInterval(lag)
            try await DaemonFixture.with(emulator: EmulatorConfiguration(dailyRollover: true)) { fixture in
                fixture.emulator.setClockOffset(seconds: offset - lag)
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 0, paths: 0) }
                for name in ["a", "b", "c"] { try fixture.write("\(name).html", "v1\n") }
                try await fixture.startDaemon(environment: ["PURGEWATCH_TEST_WALL_CLOCK_OFFSET": "\(offset)"])
                for name in ["a", "b", "c"] { try fixture.write("\(name).html", "v2\n") }
                #expect(try await fixture.flushWait(timeout: "1s").status == 75, "nothing fits before the reset")
                // Cross our reset and the CDN's; nobody touches the emulator's quota.
                try await Task.sleep(for: .milliseconds(Int(theirReset.timeIntervalSinceNow * 1_000) + 200))
                let between = fixture.emulator.requests.filter {
                    $0.action == "DescribePurgeQuota" && $0.outcome == "accepted" && $0.date > ourReset && $0.date < theirReset
                }
                #expect(!between.isEmpty, "the quota was read after our reset, while the CDN still said 0")
                #expect(
                    !fixture.emulator.requests.contains { $0.action == "PurgeUrlsCache" && $0.outcome == "accepted" && $0.date < theirReset },
                    "nothing was accepted before the CDN's day turned")
                #expect(
                    await fixture.eventually(timeout: .seconds(10)) { fixture.purged.count == 3 },
                    "sent once the CDN's day turned: \(fixture.daemon?.log.suffix(3_000) ?? "")")
                let sent = fixture.emulator.requests.filter { $0.action == "PurgeUrlsCache" && $0.outcome == "accepted" }
                #expect(sent.allSatisfy { $0.date >= theirReset } && sent.map(\.urlCount).reduce(0, +) == 3, "once, after the turn")
                for area in ["mainland", "overseas"] {
                    #expect(fixture.emulator.quota(area: area)?.urlAvailable == 9_997, "the CDN's own rollover, then the 3 URLs (\(area))")
                }
                let status = try await fixture.status()
                #expect(((status["failures"] as? [String: Any])?["urls"] as? [Any])?.isEmpty == true, "none failed")
            }
        }

        /// SPEC §7: at rest the daemon sleeps until its next deadline — at most one wake-up a second
        /// over all its threads, no polling. Counted from the kernel's context switches, with the
        /// daemon's real timings (no time scale).
        @Test func atRestTheDaemonSleeps() async throws {
            try await DaemonFixture.with { fixture in
                for index in 0..<200 { try fixture.write("d\(index % 20)/p\(index).html", "v1\n") }
                try await fixture.startDaemon(environment: ["PURGEWATCH_TEST_TIME_SCALE": "1"])
                let pid = try #require(fixture.daemon?.pid)
                try fixture.write("d0/p0.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0, "work done first: then nothing is due")
                try await Task.sleep(for: .seconds(1))
                let before = Self.contextSwitches(pid)
                try await Task.sleep(for: .seconds(6))
                let after = Self.contextSwitches(pid)
                let wakeups = Self.switchesBetween(before, after)
                // libdispatch's workqueue monitor alone wakes its manager thread once a second in every
                // Swift process on Linux (a 1 s timer source, swift-corelibs-libdispatch
                // src/event/workqueue.c); the daemon's own share must stay a small fraction of that.
                // The 200 ms tick this replaced woke the daemon 70 times a second.
                #expect(Double(wakeups) / 6 <= 1.5, "\(wakeups) wake-ups in 6 s at rest: \(before) → \(after)")
            }
        }

        /// Voluntary and involuntary context switches of each thread of `pid`, by thread id.
        static func contextSwitches(_ pid: pid_t) -> [String: Int] {
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            var switches: [String: Int] = [:]
            for task in tasks {
                let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
                for line in status.split(separator: "\n")
                where line.hasPrefix("voluntary_ctxt_switches:") || line.hasPrefix("nonvoluntary_ctxt_switches:") {
                    switches[task, default: 0] += Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
                }
            }
            return switches
        }

        /// The switches between two samples: each thread's growth, a thread born in between whole.
        static func switchesBetween(_ before: [String: Int], _ after: [String: Int]) -> Int {
            after.reduce(0) { total, entry in total + max(0, entry.value - (before[entry.key] ?? 0)) }
        }
    }

}
