import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// The Debian package under a real systemd 252 (issue 14): a Debian 12 tree booted with
    /// `systemd-nspawn --boot`, the .deb installed with `apt install` as the README does, one site run by the shipped
    /// `purgewatch@.service` against the emulator on the host's 127.0.0.1, then `dpkg -r` and
    /// `dpkg -P`. Root only; without root, systemd-nspawn, debootstrap or a .deb it is skipped, unless
    /// `PURGEWATCH_REQUIRE_SYSTEMD_TEST=1` (CI) makes a missing prerequisite a failure.
    ///
    /// `MemoryMax=` and `IPAddressDeny=` are not asserted: on a host with cgroup v1 controllers this
    /// systemd cannot enforce them.
    @Suite(.serialized, .timeLimit(.minutes(10))) struct PackageUnderSystemdTests {
        static let www = DaemonFixture.www
        /// `d4b9…`: batch submitted; `4882…`: configuration reloaded (Sources/Reporting/Journal/MessageID.swift).
        static let submittedID = "d4b9d65ff1384c229ace8dd39c3990cd"
        static let reloadedID = "48825ed0eaac4b469195cf15a53c3790"
        static let unit = "purgewatch@site.service"
        static let config = "/etc/purgewatch/site.toml"

        @Test(.enabled(if: SystemdHost.runs, Comment(rawValue: SystemdHost.skipMessage)))
        func thePackageRunsASiteUnderSystemdAndLeavesNothingBehind() async throws {
            let missing = SystemdHost.missing
            guard missing.isEmpty else {
                Issue.record("PURGEWATCH_REQUIRE_SYSTEMD_TEST=1, but this host lacks: \(missing.joined(separator: ", "))")
                return
            }
            let deb = try #require(SystemdHost.deb)
            let tree = try await SystemdHost.bookwormTree()
            let emulator = try await TencentEmulator.start()
            let share = "/tmp/pw-systemd-\(UUID().uuidString.prefix(8))"
            do {
                try Self.prepareShare(share, deb: deb, emulator: emulator)
                let container = try await NspawnContainer.boot(tree: tree, bindReadOnly: share + ":/mnt/purgewatch-test")
                do {
                    try await Self.exercise(container, emulator: emulator)
                } catch {
                    await container.powerOff()
                    throw error
                }
                await container.powerOff()
            } catch {
                await emulator.shutdown()
                try? FileManager.default.removeItem(atPath: share)
                throw error
            }
            await emulator.shutdown()
            try? FileManager.default.removeItem(atPath: share)
        }

        /// The package, the site's config and the emulator's test credentials, bound read-only into
        /// the container at /mnt/purgewatch-test.
        static func prepareShare(_ share: String, deb: String, emulator: TencentEmulator) throws {
            try FileManager.default.createDirectory(atPath: share, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.copyItem(atPath: deb, toPath: share + "/purgewatch.deb")
            try """
            [site]
            root = "/srv/www/site"

            [state]
            path = "/var/lib/purgewatch/site.sqlite"

            [[rule]]
            prefix = ""
            urls = ["\(www)"]

            [coalesce]
            quiet = "300ms"
            max_delay = "5s"

            [tencentcloud]
            endpoint = "\(emulator.endpoint)"

            """.write(toFile: share + "/site.toml", atomically: true, encoding: .utf8)
            try emulator.secretId.write(toFile: share + "/tencentcloud-secret-id", atomically: true, encoding: .utf8)
            try emulator.secretKey.write(toFile: share + "/tencentcloud-secret-key", atomically: true, encoding: .utf8)
        }

        static func exercise(_ container: NspawnContainer, emulator: TencentEmulator) async throws {
            // Install: the postinst creates the user, reloads systemd and its catalog; nothing starts.
            // As the README installs it (apt, offline: every dependency is in the tree already).
            try await container.expect("apt install -y /mnt/purgewatch-test/purgewatch.deb", timeout: .seconds(120))
            try await container.expect("getent passwd purgewatch")
            try await container.expect("journalctl --list-catalog \(submittedID) | grep -q 'purge batch'")
            let enabled = try await container.run("systemctl is-enabled \(unit)")
            #expect(enabled.output.trimmed != "enabled", "the package enables no instance")
            try await container.expect("dpkg -L purgewatch >/root/purgewatch.files")

            // One site, configured as the README says.
            try await container.expect(
                """
                install -d -m 0755 /etc/purgewatch && install -d -m 0700 /etc/purgewatch/credentials
                install -m 0600 /mnt/purgewatch-test/tencentcloud-secret-id /mnt/purgewatch-test/tencentcloud-secret-key /etc/purgewatch/credentials/
                install -m 0640 -g purgewatch /mnt/purgewatch-test/site.toml \(config)
                mkdir -p /srv/www/site/css
                echo v1 >/srv/www/site/about.html; echo v1 >/srv/www/site/css/site.css; echo v1 >/srv/www/site/old.html
                purgewatch check-config --config \(config)
                """)

            // Start: Type=notify, so `systemctl start` returns once READY=1 arrived.
            try await container.expect("systemctl start \(unit)", timeout: .seconds(120))
            #expect(try await container.run("systemctl is-active \(unit)").output.trimmed == "active")
            #expect(emulator.acceptedURLs.isEmpty, "files present before the first start are not purged")

            // Deploy, then flush from a root shell as a deploy hook does.
            try await container.expect(
                "cd /srv/www/site && echo v2 >about.html && echo v2 >css/site.css && rm old.html && echo new >new.html")
            try await container.expect("purgewatch flush --config \(config) --wait --timeout 60s", timeout: .seconds(90))
            let expected: Set = [www + "about.html", www + "css/site.css", www + "old.html"]
            #expect(await eventually { Set(emulator.acceptedURLs) == expected }, "purged: \(emulator.acceptedURLs)")

            // Reload (SIGHUP): re-read, still active, still purging.
            try await container.expect("systemctl reload \(unit)")
            #expect(
                await eventually { (try? await container.run("journalctl -u \(unit) MESSAGE_ID=\(reloadedID) -o cat | grep -q .").status) == 0 },
                "the daemon logged the reload")
            #expect(try await container.run("systemctl is-active \(unit)").output.trimmed == "active")
            try await container.expect("echo v3 >/srv/www/site/about.html")
            try await container.expect("purgewatch flush --config \(config) --wait --timeout 60s", timeout: .seconds(90))
            #expect(await eventually { emulator.acceptedURLs.filter { $0 == www + "about.html" }.count == 2 })

            // Stop: a clean exit, nothing refused by the syscall filter, nothing killed.
            try await container.expect("systemctl stop \(unit)", timeout: .seconds(60))
            #expect(try await container.run("systemctl show -p Result --value \(unit)").output.trimmed == "success")
            #expect(try await container.run("systemctl show -p ExecMainStatus --value \(unit)").output.trimmed == "0")
            try await expectCleanJournal(container)
            try await expectNativeFields(container, emulator: emulator)

            // dpkg -r stops a running instance (prerm) and removes the unit and the binary; the state stays.
            try await container.expect("systemctl start \(unit)", timeout: .seconds(120))
            try await container.expect("dpkg -r purgewatch", timeout: .seconds(120))
            #expect(try await container.run("systemctl is-active \(unit)").output.trimmed != "active", "prerm stopped it")
            try await container.expect("test ! -e /usr/bin/purgewatch && test ! -e /usr/lib/systemd/system/purgewatch@.service")
            try await container.expect("! systemctl cat \(unit) >/dev/null 2>&1", "systemd forgot the unit (postrm daemon-reload)")
            try await container.expect("test -d /var/lib/purgewatch")
            try await expectCleanJournal(container)

            // dpkg -P: the state goes too, and nothing of the package's file list is left (directories
            // other packages own, or that hold other files, stay).
            try await container.expect("dpkg -P purgewatch", timeout: .seconds(120))
            try await container.expect("test ! -e /var/lib/purgewatch")
            try await container.expect("! dpkg-query -W -f='${Status}' purgewatch 2>/dev/null | grep -q installed")
            let left = try await container.run(
                """
                while read -r path; do
                    [ "$path" = /. ] && continue
                    [ -e "$path" ] || [ -L "$path" ] || continue
                    if [ -d "$path" ] && [ ! -L "$path" ]; then
                        dpkg-query -S "$path" >/dev/null 2>&1 && continue
                        [ -n "$(ls -A "$path")" ] && continue
                    fi
                    echo "$path"
                done </root/purgewatch.files
                """)
            #expect(left.status == 0 && left.output.trimmed.isEmpty, "left behind by dpkg -P:\n\(left.output)")
        }

        static func expectCleanJournal(_ container: NspawnContainer) async throws {
            let journal = try await container.run("journalctl -u \(unit) --no-pager -o short-monotonic")
            #expect(journal.status == 0, "\(journal.output)")
            #expect(!journal.output.contains("status=31/SYS"), "a call refused by SystemCallFilter= killed it:\n\(journal.output)")
            #expect(!journal.output.contains("code=killed"), "killed:\n\(journal.output)")
            #expect(!journal.output.contains("code=dumped"), "dumped:\n\(journal.output)")
        }

        /// The daemon's own entries arrive on journald's native socket with its fields.
        static func expectNativeFields(_ container: NspawnContainer, emulator: TencentEmulator) async throws {
            let result = try await container.run("journalctl -u \(unit) MESSAGE_ID=\(submittedID) -o json --no-pager")
            let entries = result.output.split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            let entry = try #require(entries.first, "no 'batch submitted' entry:\n\(result.output)")
            #expect(entry["_TRANSPORT"] as? String == "journal", "native protocol, not the stdout stream")
            #expect(entry["SYSLOG_IDENTIFIER"] as? String == "purgewatch")
            #expect(entry["PRIORITY"] as? String != nil)
            #expect((entry["CODE_FILE"] as? String)?.isEmpty == false)
            #expect(Int(entry["CODE_LINE"] as? String ?? "") != nil)
            #expect((entry["CODE_FUNC"] as? String)?.isEmpty == false)
            #expect((entry["PURGEWATCH_TASK_ID"] as? String)?.isEmpty == false)
            #expect(Int(entry["PURGEWATCH_URL_COUNT"] as? String ?? "") != nil)
            let requestIDs = Set(emulator.requests.map(\.requestId))
            #expect(requestIDs.contains(entry["PURGEWATCH_REQUEST_ID"] as? String ?? ""), "the RequestId the emulator answered")
        }

        /// Polls `condition` every 100 ms for up to `timeout`.
        static func eventually(timeout: Duration = .seconds(30), _ condition: () async -> Bool) async -> Bool {
            let deadline = ContinuousClock.now.advanced(by: timeout)
            while ContinuousClock.now < deadline {
                if await condition() { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return await condition()
        }
    }

}

// MARK: - The host

/// What the test needs from the host, and the cached Debian 12 tree.
enum SystemdHost {
    static let required = ProcessInfo.processInfo.environment["PURGEWATCH_REQUIRE_SYSTEMD_TEST"] == "1"

    /// The package: `PURGEWATCH_DEB`, else the newest `dist/purgewatch_*_amd64.deb`.
    static let deb: String? = {
        if let path = ProcessInfo.processInfo.environment["PURGEWATCH_DEB"], !path.isEmpty {
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }
        let dist = PurgewatchProcess.repositoryRoot + "/dist"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dist)) ?? []
        return names.filter { $0.hasPrefix("purgewatch_") && $0.hasSuffix("_amd64.deb") }
            .map { dist + "/" + $0 }
            .max { modified($0) < modified($1) }
    }()

    static let missing: [String] = {
        var missing: [String] = []
        if getuid() != 0 { missing.append("root") }
        for tool in ["systemd-nspawn", "debootstrap", "nsenter"] where executable(tool) == nil {
            missing.append(tool == "systemd-nspawn" ? "systemd-nspawn (apt-get install systemd-container)" : tool)
        }
        if deb == nil { missing.append("a .deb (scripts/package-deb.sh, or PURGEWATCH_DEB=…)") }
        return missing
    }()

    /// Runs when everything is there, or when CI requires it (then a missing piece fails).
    static var runs: Bool {
        if !missing.isEmpty && !required {
            print("PackageUnderSystemdTests: skipped: \(skipMessage)")
        }
        return missing.isEmpty || required
    }

    static var skipMessage: String {
        "needs \(missing.joined(separator: ", ")); PURGEWATCH_REQUIRE_SYSTEMD_TEST=1 makes this a failure"
    }

    /// What the tree is made of. procps: the unit's `ExecReload=/bin/kill` (the package depends on
    /// it; minbase leaves it out, and `dpkg -i` installs no dependencies).
    static let debootstrapArguments = [
        "--variant=minbase", "--include=systemd,systemd-sysv,dbus,libsqlite3-0,procps", "bookworm",
    ]

    /// The Debian 12 tree, outside the repository, debootstrapped on first use (and again when
    /// ``debootstrapArguments`` change: they are stamped into it). It is built in `DIR.tmp` and
    /// renamed, so an interrupted run never leaves a half tree behind as the cache.
    static func bookwormTree() async throws -> String {
        let tree = ProcessInfo.processInfo.environment["PURGEWATCH_TEST_ROOTFS"] ?? "/var/cache/purgewatch-tests/bookworm"
        let stampPath = "/var/lib/purgewatch-test-tree"
        let stamp = debootstrapArguments.joined(separator: " ") + "\n"
        if (try? String(contentsOfFile: tree + stampPath, encoding: .utf8)) == stamp { return tree }
        let staging = tree + ".tmp"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(
            atPath: (tree as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let started = ContinuousClock.now
        let result = try await HostCommand.run(
            ["debootstrap"] + debootstrapArguments + [staging, aptMirror()], timeout: .seconds(900))
        guard result.status == 0 else {
            try? FileManager.default.removeItem(atPath: staging)
            throw SystemdTestFailure("debootstrap failed (\(result.status)):\n\(result.output.suffix(4_000))")
        }
        try stamp.write(toFile: staging + stampPath, atomically: true, encoding: .utf8)
        // An outdated tree is moved aside first, so `tree` is always either absent or complete.
        if FileManager.default.fileExists(atPath: tree) {
            let old = tree + ".old"
            try? FileManager.default.removeItem(atPath: old)
            try FileManager.default.moveItem(atPath: tree, toPath: old)
            try? FileManager.default.removeItem(atPath: old)
        }
        try FileManager.default.moveItem(atPath: staging, toPath: tree)
        print("PackageUnderSystemdTests: debootstrapped \(tree) in \(ContinuousClock.now - started)")
        return tree
    }

    /// The Debian mirror apt uses for bookworm (deb822 sources, then sources.list).
    static func aptMirror() -> String {
        let directory = "/etc/apt/sources.list.d"
        let sources = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
            .filter { $0.hasSuffix(".sources") }
            .compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
        for file in sources {
            for stanza in file.components(separatedBy: "\n\n") {
                var fields: [String: [String]] = [:]
                for line in stanza.split(separator: "\n") where !line.hasPrefix("#") {
                    guard let colon = line.firstIndex(of: ":") else { continue }
                    fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].split(separator: " ").map(String.init)
                }
                if fields["types"]?.contains("deb") == true, fields["suites"]?.contains("bookworm") == true,
                    let uri = fields["uris"]?.first
                {
                    return uri
                }
            }
        }
        let list = (try? String(contentsOfFile: "/etc/apt/sources.list", encoding: .utf8)) ?? ""
        for line in list.split(separator: "\n") {
            let words = line.split(separator: " ").filter { !$0.hasPrefix("[") && !$0.hasSuffix("]") }
            if words.count >= 3, words[0] == "deb", words[2] == "bookworm" { return String(words[1]) }
        }
        return "http://deb.debian.org/debian"
    }

    static func executable(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return (path.split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
            .map { $0 + "/" + name }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    private static func modified(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }
}

struct SystemdTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Commands

/// A child process with stdin from /dev/null and stdout+stderr in one file, bounded by a timeout.
enum HostCommand {
    struct Result: Sendable {
        var status: Int32
        var output: String
    }

    static func run(_ argv: [String], environment: [String: String]? = nil, timeout: Duration) async throws -> Result {
        try await offload { try runNow(argv, environment: environment, timeout: timeout) }
    }

    /// Killed with SIGKILL at the deadline (status 137 then).
    static func runNow(_ argv: [String], environment: [String: String]?, timeout: Duration) throws -> Result {
        let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("pw-cmd-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outPath) }
        let output = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        defer { try? output.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SystemdHost.executable(argv[0]) ?? argv[0])
        process.arguments = Array(argv.dropFirst())
        if let environment { process.environment = environment }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return Result(status: status, output: text)
    }
}

extension String {
    fileprivate var trimmed: String { trimmingCharacters(in: .whitespacesAndNewlines) }
}

// MARK: - The container

/// An ephemeral copy of the tree booted by `systemd-nspawn --boot` with systemd as PID 1, sharing
/// the host's network (the emulator on 127.0.0.1 is reachable). Commands enter its namespaces with
/// `nsenter -t <PID 1> -a`; machinectl would need a systemd on the host.
final class NspawnContainer: @unchecked Sendable {
    let nspawn: Process
    let pid1: pid_t
    let logPath: String
    let tree: String
    private let siblingsBefore: Set<String>

    private init(nspawn: Process, pid1: pid_t, logPath: String, tree: String, siblingsBefore: Set<String>) {
        self.nspawn = nspawn
        self.pid1 = pid1
        self.logPath = logPath
        self.tree = tree
        self.siblingsBefore = siblingsBefore
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    static func boot(tree: String, bindReadOnly: String) async throws -> NspawnContainer {
        let parent = (tree as NSString).deletingLastPathComponent
        let siblings = Set((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [])
        let logPath = "/tmp/pw-nspawn-\(UUID().uuidString.prefix(8)).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: SystemdHost.executable("systemd-nspawn") ?? "/usr/bin/systemd-nspawn")
        process.arguments = [
            "-D", tree, "--ephemeral", "--boot", "--register=no", "--keep-unit", "--resolv-conf=off",
            "--console=passive", "--bind-ro=" + bindReadOnly,
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["SYSTEMD_NSPAWN_UNIFIED_HIERARCHY"] = "1"
        process.environment = environment
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        try? log.close()

        // PID 1 of the container: nspawn's child whose innermost PID is 1.
        let nspawnPID = process.processIdentifier
        var pid1: pid_t?
        let deadline = ContinuousClock.now.advanced(by: .seconds(30))
        while pid1 == nil && process.isRunning && ContinuousClock.now < deadline {
            pid1 = containerInit(of: nspawnPID)
            if pid1 == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        let container = NspawnContainer(
            nspawn: process, pid1: pid1 ?? 0, logPath: logPath, tree: tree, siblingsBefore: siblings)
        guard pid1 != nil else {
            let output = container.log
            await container.powerOff()
            throw SystemdTestFailure("systemd-nspawn started no container:\n\(output)")
        }
        // Booted: `systemctl is-system-running` says running (or degraded: a unit that cannot
        // work in a container is not this test's business).
        var state = ""
        let booted = ContinuousClock.now.advanced(by: .seconds(90))
        while ContinuousClock.now < booted {
            state = (try? await container.run("systemctl is-system-running", timeout: .seconds(10)).output.trimmed) ?? ""
            if state == "running" || state == "degraded" { return container }
            try await Task.sleep(for: .milliseconds(250))
        }
        let output = container.log
        await container.powerOff()
        throw SystemdTestFailure("the container did not finish booting (state '\(state)'):\n\(output)")
    }

    private static func containerInit(of parent: pid_t) -> pid_t? {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(name),
                let status = try? String(contentsOfFile: "/proc/\(name)/status", encoding: .utf8)
            else { continue }
            let lines = status.split(separator: "\n")
            let ppid = lines.first { $0.hasPrefix("PPid:") }?.split(separator: "\t").last.flatMap { pid_t($0) }
            let nspid = lines.first { $0.hasPrefix("NSpid:") }?.split(separator: "\t").dropFirst()
            if ppid == parent, let nspid, nspid.count >= 2, nspid.last == "1" { return pid }
        }
        return nil
    }

    /// Runs `script` with `sh -c` inside the container, as root, with a plain environment.
    func run(_ script: String, timeout: Duration = .seconds(60)) async throws -> HostCommand.Result {
        try await HostCommand.run(
            ["nsenter", "-t", String(pid1), "-a", "/bin/sh", "-c", script],
            environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "SYSTEMD_PAGER": "", "HOME": "/root"],
            timeout: timeout)
    }

    /// Runs `script` and records a failure (with its output) unless it exits 0.
    func expect(
        _ script: String, _ comment: String? = nil, timeout: Duration = .seconds(60), sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let result = try await run(script, timeout: timeout)
        #expect(
            result.status == 0, "\(comment ?? script) → exit \(result.status):\n\(result.output)", sourceLocation: sourceLocation)
    }

    /// `systemctl poweroff` inside, nspawn's exit awaited (killed after 60 s), then what nspawn
    /// leaves behind removed: its ephemeral copy if it was killed, and the `payload`/`supervisor`
    /// cgroups it created beside the test's own under /sys/fs/cgroup.
    func powerOff() async {
        if nspawn.isRunning && pid1 > 0 {
            _ = try? await run("systemctl poweroff", timeout: .seconds(20))
        }
        let process = nspawn
        _ = try? await offload {
            let deadline = ContinuousClock.now.advanced(by: .seconds(60))
            while process.isRunning && ContinuousClock.now < deadline { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        let parent = (tree as NSString).deletingLastPathComponent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        where name.hasPrefix(".#") && !siblingsBefore.contains(name) {
            try? FileManager.default.removeItem(atPath: parent + "/" + name)
        }
        Self.removeNspawnCgroups()
        try? FileManager.default.removeItem(atPath: logPath)
    }

    /// nspawn with `--keep-unit` moves itself into `supervisor` and the container into `payload`
    /// below the cgroup it was started in, and leaves both when it exits.
    static func removeNspawnCgroups() {
        let own = (try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)) ?? ""
        var bases: [String] = []
        for line in own.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = parts[2] == "/" ? "" : String(parts[2])
            if parts[1] == "name=systemd" { bases.append("/sys/fs/cgroup/systemd" + path) }
            if parts[0] == "0" && parts[1].isEmpty {
                bases.append("/sys/fs/cgroup/unified" + path)
                if FileManager.default.fileExists(atPath: "/sys/fs/cgroup/cgroup.controllers") {
                    bases.append("/sys/fs/cgroup" + path)
                }
            }
        }
        for base in bases {
            for name in ["payload", "supervisor"] { removeCgroup(base + "/" + name) }
        }
    }

    private static func removeCgroup(_ path: String) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            var child: ObjCBool = false
            if FileManager.default.fileExists(atPath: path + "/" + name, isDirectory: &child), child.boolValue {
                removeCgroup(path + "/" + name)
            }
        }
        rmdir(path)
    }
}
