import ControlProtocol
import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// One process writes a state file, and the control socket serves every client (SPEC §6).
    @Suite(.serialized, .timeLimit(.minutes(3))) struct SingleWriterAndControlTests {
        static let www = DaemonFixture.www

        @Test func aSecondWriterIsRefusedAtOnceNamingTheHolder() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                let pid = try #require(fixture.daemon?.pid)
                for arguments in [["run"], ["run", "--once"]] {
                    let started = ContinuousClock.now
                    let second = try await PurgewatchProcess.runAsync(
                        arguments + ["--config", fixture.configPath], environment: fixture.environment)
                    #expect(second.status == 75, "\(arguments): \(second.stderr)")
                    #expect(second.stderr.contains("process \(pid)"), "names the holder: \(second.stderr)")
                    #expect(started.duration(to: .now) < .seconds(5), "refused at once")
                }
                #expect(fixture.daemon?.isRunning == true)
                // purge hands its URLs to the daemon instead of writing the state beside it.
                let purged = try await PurgewatchProcess.runAsync(
                    ["purge", "--config", fixture.configPath, "--wait", "page.html"], environment: fixture.environment)
                #expect(purged.status == 0, "\(purged.stderr)")
                #expect(purged.stdout.contains("with the running daemon"), "\(purged.stdout)")
                #expect(fixture.purged.contains(Self.www + "page.html"))
            }
            // With no daemon, purge takes the lock itself and writes the state.
        }

        @Test func purgeWithoutADaemonWritesUnderTheLockAndTheDaemonSendsItLater() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                let queued = try await PurgewatchProcess.runAsync(
                    ["purge", "--config", fixture.configPath, "page.html"], environment: fixture.environment)
                #expect(queued.status == 0, "\(queued.stderr)")
                #expect(queued.stdout.contains("no daemon is running"))
                try await fixture.startDaemon()
                #expect(await fixture.eventually { fixture.purged.contains(Self.www + "page.html") })
            }
        }

        /// 50 clients connect and say nothing; 20 deploys run `flush --wait` at once: every one is
        /// answered (the server used to take one connection at a time with a 5 s read timeout).
        @Test func idleClientsNeverStarveAFlush() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                let socketPath = fixture.statePath + ".sock"
                var idle: [Int32] = []
                for _ in 0..<50 { idle.append(try Self.connect(socketPath)) }
                defer { for fd in idle { close(fd) } }
                try fixture.write("page.html", "v2\n")
                let started = ContinuousClock.now
                let results = try await withThrowingTaskGroup(of: Int32.self) { group in
                    for _ in 0..<20 {
                        group.addTask { try await fixture.flushWait(timeout: "30s").status }
                    }
                    var statuses: [Int32] = []
                    for try await status in group { statuses.append(status) }
                    return statuses
                }
                #expect(results == Array(repeating: 0, count: 20), "\(results)")
                #expect(started.duration(to: .now) < .seconds(4), "answered while 50 idle clients are connected")
                #expect(fixture.purged == [Self.www + "page.html"])
                // The idle clients are closed at their deadline, with a word.
                let answer = Self.readLine(idle[0], timeout: .seconds(8))
                guard case .error(.noCommand, let message)? = try? ControlCodec.decodeAnswer(Array(answer.utf8)) else {
                    Issue.record("not a no-command error: \(answer)")
                    return
                }
                #expect(message.hasPrefix("no command within"), "\(message)")
                let log = fixture.daemon?.log ?? ""
                #expect(log.contains("purge.peer_uid=\(getuid())"), "each command is logged with the peer's uid")
            }
        }

        /// A malformed `purge` command from any member of the socket's group is refused, never a
        /// crash; clients that hand over a `flush --wait` and vanish hold no slot (a review found both).
        @Test func malformedLinesAndVanishedWaitersNeitherCrashNorStarveTheDaemon() async throws {
            try await DaemonFixture.with { fixture in
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 0, paths: 0) }
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                let socketPath = fixture.statePath + ".sock"
                let badPurges: [ControlCommand] = [
                    .purge([PurgeItem(url: " ")]), .purge([PurgeItem(url: "")]), .purge([PurgeItem(url: "ftp://x/y")]),
                    .purge([PurgeItem(url: "https://www.example.com/a b")]),
                    .purge([PurgeItem(url: "https://www.example.com/ok"), PurgeItem(url: "https://www.example.com/\u{1}")]),
                ]
                for command in badPurges {
                    let answer = try Self.exchange(Self.connect(socketPath), ControlCodec.encode(command))
                    guard case .error(.refused, let message)? = try? ControlCodec.decodeAnswer(Array(answer.utf8)) else {
                        Issue.record("\(command): not refused: \(answer)")
                        continue
                    }
                    #expect(message.contains("not an http(s) URL"), "\(command): \(message)")
                }
                #expect(fixture.daemon?.isRunning == true, "\(fixture.daemon?.log ?? "")")

                // 150 waiters (work waits for the quota, so none is answered), then they vanish.
                try fixture.write("page.html", "v2\n")
                var waiters: [Int32] = []
                let flushWait = try ControlCodec.encode(.flush(wait: true, full: false))
                for _ in 0..<150 {
                    let fd = try Self.connect(socketPath)
                    _ = write(fd, flushWait, flushWait.count)
                    waiters.append(fd)
                }
                let flushed = try await PurgewatchProcess.runAsync(["flush", "--config", fixture.configPath], environment: fixture.environment)
                #expect(flushed.status == 0, "a flush is answered beside 150 waiting clients: \(flushed.stderr)")
                // None of the 150 was turned away: each handed its line over, so none held a slot.
                let refused = waiters.map { Self.readLine($0, timeout: .zero) }.filter { !$0.isEmpty }
                #expect(refused.isEmpty, "\(refused.count) waiter(s) answered: \(refused.first ?? "")")
                for fd in waiters { close(fd) }
                let pid = try #require(fixture.daemon?.pid)
                func openFDs() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0 }
                #expect(
                    await fixture.eventually(timeout: .seconds(10)) { openFDs() < 100 }, "the vanished waiters' descriptors are closed: \(openFDs())")
            }
        }

        /// A line that is not a command — not JSON, the old text protocol, binary, an unknown
        /// command or version, one byte over the limit — gets an error answer that says why, and the
        /// daemon keeps serving.
        @Test func garbageGetsAClearErrorAndTheDaemonKeepsServing() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                let socketPath = fixture.statePath + ".sock"
                let cases: [([UInt8], ControlAnswer.ErrorCode, String)] = [
                    (Array("hello\n".utf8), .badCommand, "not a JSON command"),
                    (Array("flush-wait\n".utf8), .badCommand, "not a JSON command"),
                    (Array("purge\thttps://www.example.com/page.html\n".utf8), .badCommand, "not a JSON command"),
                    ([0xFF, 0x00, 0xC3, 0x28, 0x1B, 0x0A], .badCommand, "not a JSON command"),
                    (Array("\n".utf8), .badCommand, "empty command"),
                    (Array("[\"flush\"]\n".utf8), .badCommand, "malformed command"),
                    (Array(#"{"command":"flush","version":1,"wait":"yes","full":false}"#.utf8) + [0x0A], .badCommand, "wait"),
                    (Array(#"{"command":"reboot","version":1}"#.utf8) + [0x0A], .badCommand, "unknown command \"reboot\""),
                    (Array(#"{"command":"flush","version":2,"wait":true}"#.utf8) + [0x0A], .unsupportedVersion, "version 2"),
                    (Array(repeating: UInt8(ascii: "x"), count: ControlCodec.maxCommandBytes + 1), .tooLong, "longer than"),
                ]
                for (line, code, words) in cases {
                    let answer = try Self.exchange(Self.connect(socketPath), line)
                    guard case .error(let got, let message)? = try? ControlCodec.decodeAnswer(Array(answer.utf8)) else {
                        Issue.record("\(line.prefix(40)): not an error answer: \(answer)")
                        continue
                    }
                    #expect(got == code, "\(line.prefix(40)): \(message)")
                    #expect(message.contains(words), "\(line.prefix(40)): \(message)")
                    #expect(fixture.daemon?.isRunning == true, "\(fixture.daemon?.log ?? "")")
                }
                // Still serving: a ping, and a deploy's flush --wait.
                let pong = try Self.exchange(Self.connect(socketPath), ControlCodec.encode(.ping))
                #expect(try ControlCodec.decodeAnswer(Array(pong.utf8)) == .pong)
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "page.html"])
                #expect(fixture.daemon?.isRunning == true)
            }
        }

        /// Sends `line` whole (never raising SIGPIPE) and reads the one-line answer; closes `fd`.
        static func exchange(_ fd: Int32, _ line: [UInt8]) -> String {
            defer { close(fd) }
            var sent = 0
            while sent < line.count {
                let count = line[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                guard count > 0 else { break }
                sent += count
            }
            return readLine(fd, timeout: .seconds(5))
        }

        static func connect(_ path: String) throws -> Int32 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { buffer in
                for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
            }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
            return fd
        }

        /// What `fd` sends within `timeout`, up to its first newline (empty: nothing).
        static func readLine(_ fd: Int32, timeout: Duration) -> String {
            let deadline = ContinuousClock.now.advanced(by: timeout)
            var line: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4_096)
            while !line.contains(UInt8(ascii: "\n")) {
                let left = ContinuousClock.now.duration(to: deadline)
                var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                guard poll(&poller, 1, Int32(max(0, left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000))) > 0
                else { break }
                let count = read(fd, &buffer, buffer.count)
                guard count > 0 else { break }
                line += buffer[0..<count]
            }
            return String(decoding: line.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        }
    }

    /// Secrets in memory (SPEC §6): the daemon is not dumpable and its environment block no longer
    /// holds the secret key.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct SecretsInMemoryTests {
        @Test func theDaemonIsNotDumpableAndItsEnvironmentHoldsNoSecret() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon()
                let pid = try #require(fixture.daemon?.pid)
                let environ = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ"))
                let secret = Data(fixture.emulator.secretKey.utf8)
                #expect(environ.range(of: secret) == nil, "the secret key is zeroed in /proc/\(pid)/environ")
                #expect(environ.range(of: Data("PURGEWATCH_TEST_TIME_SCALE=".utf8)) != nil, "the rest of the environment is untouched")
                let log = fixture.daemon?.log ?? ""
                #expect(log.contains("dumpable=false"), "\(log)")
                #expect(log.contains("credential variables kept in the environment: []"))
                // The scrubbed key still signs requests: it lives on as a Secret.
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [DaemonFixture.www + "page.html"])
            }
        }
    }
}
