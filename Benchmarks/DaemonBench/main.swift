// bench-daemon: the daemon side of Benchmarks/daemon.sh (not a test; it prints figures).
//
// Issue 5: for a burst of 50,000 touched files of which 5,000 changed, the time from the last
// write to the last batch accepted minus `quiet`, and the daemon's peak RSS.
//
//   bench-daemon [--files N] [--dirs N] [--changed N] [--quiet 2s] [--purgewatch PATH]
//                [--tmp DIR] [--log-copy FILE] [--timeout SECONDS] [--log-level LEVEL]
//
// Environment equivalents (a flag wins): BENCH_FILES, BENCH_DIRS, BENCH_CHANGED, BENCH_QUIET,
// PURGEWATCH_BIN, BENCH_TMPDIR, BENCH_LOG_COPY, BENCH_TIMEOUT, BENCH_LOG_LEVEL.
// Defaults: 50,000 files in 5,000 directories, 5,000 changed, quiet 2s, .build/release/purgewatch.
//
// What it does, in order: generates the site (1–4 KiB of deterministic bytes per file), writes
// the config, starts the Tencent API emulator on 127.0.0.1 in this process, spawns the real
// `purgewatch run` with the emulator's key, waits for READY=1 on a NOTIFY_SOCKET datagram
// listener (the reconcile time) and checks `status --json`, then rewrites every file in place in
// one loop (identical bytes, except every tenth file which gets a new revision), waits until the
// emulator has accepted every changed URL, waits `quiet` + 2 s more for stragglers, reads VmHWM,
// sends SIGTERM, and finally times the cron-style baseline `find ROOT -type f -newer MARKER | wc -l`
// over the same tree. The last line of output is `RESULT key=value …` for the script.
import Foundation
import Glibc
import TencentEmulator

// MARK: Output

func fail(_ message: String) -> Never {
    let line = "bench-daemon: \(message)\n"
    FileHandle.standardError.write(Data(line.utf8))
    exit(1)
}

func say(_ line: String) {
    print(line)
    fflush(nil)
}

/// A failure after the daemon started: thrown, so the defers stop it and remove the temp dir.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

func note(_ line: String) {
    FileHandle.standardError.write(Data("bench-daemon: \(line)\n".utf8))
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func format(_ value: Double, _ digits: Int = 3) -> String {
    String(format: "%.\(digits)f", value)
}

// MARK: Options

struct Options {
    var files = 50_000
    var directories = 5_000
    var changed = 5_000
    var quiet = "2s"
    var purgewatch = ".build/release/purgewatch"
    var temporary = "/tmp"
    var logCopy: String?
    var timeout = 600
    var logLevel: String?
    /// Seconds the daemon is watched at rest after READY (SPEC §7: ≤ 1 wake-up a second).
    var rest = 30
    /// A Swift program that only sleeps (`bench-idle`): the runtime's own wake-ups at rest.
    var idle: String?
    /// `--fleet URL`: the fleet's figures instead (`Fleet.swift`), on this PostgreSQL database.
    var fleet: String?
    var origins = 3
    /// Seconds between the deploy's rsync to one origin and the next.
    var stagger = 2.0

    init(arguments: [String], environment: [String: String]) {
        func integer(_ text: String?, _ name: String) -> Int? {
            guard let text else { return nil }
            guard let value = Int(text.replacingOccurrences(of: "_", with: "")), value > 0 else {
                fail("\(name): expected a positive integer, found \(text)")
            }
            return value
        }
        files = integer(environment["BENCH_FILES"], "BENCH_FILES") ?? files
        directories = integer(environment["BENCH_DIRS"], "BENCH_DIRS") ?? directories
        changed = integer(environment["BENCH_CHANGED"], "BENCH_CHANGED") ?? changed
        quiet = environment["BENCH_QUIET"] ?? quiet
        purgewatch = environment["PURGEWATCH_BIN"] ?? purgewatch
        temporary = environment["BENCH_TMPDIR"] ?? temporary
        logCopy = environment["BENCH_LOG_COPY"]
        timeout = integer(environment["BENCH_TIMEOUT"], "BENCH_TIMEOUT") ?? timeout
        logLevel = environment["BENCH_LOG_LEVEL"]
        rest = integer(environment["BENCH_REST"], "BENCH_REST") ?? rest

        var index = 1
        while index < arguments.count {
            let flag = arguments[index]
            if flag == "-h" || flag == "--help" {
                say(
                    "usage: bench-daemon [--files N] [--dirs N] [--changed N] [--quiet 2s] [--purgewatch PATH] [--tmp DIR] [--log-copy FILE] [--timeout SECONDS] [--log-level LEVEL] [--rest SECONDS] [--idle PATH]"
                )
                exit(0)
            }
            guard index + 1 < arguments.count else { fail("\(flag) needs a value") }
            let value = arguments[index + 1]
            switch flag {
            case "--files": files = integer(value, flag)!
            case "--dirs": directories = integer(value, flag)!
            case "--changed": changed = integer(value, flag)!
            case "--quiet": quiet = value
            case "--purgewatch": purgewatch = value
            case "--tmp": temporary = value
            case "--log-copy": logCopy = value
            case "--timeout": timeout = integer(value, flag)!
            case "--log-level": logLevel = value
            case "--rest": rest = integer(value, flag)!
            case "--idle": idle = value
            case "--fleet": fleet = value
            case "--origins": origins = integer(value, flag)!
            case "--stagger":
                guard let seconds = Double(value), seconds >= 0 else { fail("--stagger: expected seconds, found \(value)") }
                stagger = seconds
            default: fail("unknown flag \(flag) (see --help)")
            }
            index += 2
        }
        guard directories <= files else { fail("more directories (\(directories)) than files (\(files))") }
        guard changed <= files else { fail("more changed files (\(changed)) than files (\(files))") }
    }

    /// `quiet` as a Duration (the config's syntax: a whole number with ms, s, m or h).
    var quietDuration: Duration {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, milliseconds) in units where quiet.hasSuffix(suffix) {
            if let number = Int64(quiet.dropLast(suffix.count)) { return .milliseconds(number * milliseconds) }
        }
        fail("--quiet: expected a whole number with ms, s, m or h, found \(quiet)")
    }
}

// MARK: The site

/// 50,000 files in 5,000 directories by default: up to 50 sections, each the section directory
/// itself plus `post1…` subdirectories (every directory counts), `pageK.html` in each; file i
/// lives in directory i / perDirectory. Contents are a header naming the file and its revision,
/// then 1–4 KiB of printable bytes from a shared pseudo-random pool.
struct Site {
    let root: String
    let relativePaths: [String]
    let directories: [String]
    let sizes: [Int]
    let offsets: [Int]
    let changed: [Bool]
    let pool: [UInt8]

    init(root: String, files: Int, directories count: Int, changed changedCount: Int) {
        self.root = root
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let perSection = (count + 49) / 50
        let names = (0..<count).map { d in
            let section = "section\(d / perSection)"
            return d % perSection == 0 ? section : section + "/post\(d % perSection)"
        }
        let perDirectory = (files + count - 1) / count
        directories = names
        relativePaths = (0..<files).map { i in "\(names[i / perDirectory])/page\(i % perDirectory).html" }
        var bytes: [UInt8] = []
        for _ in 0..<8_192 { bytes.append(UInt8(32 + next() % 90)) }
        var sizes: [Int] = []
        var offsets: [Int] = []
        for _ in 0..<files {
            sizes.append(1_024 + Int(next() % 3_072))
            offsets.append(Int(next() % 4_096))
        }
        pool = bytes
        self.sizes = sizes
        self.offsets = offsets
        // Spread the changed files evenly: every stride-th file (page0 of each directory by default).
        let stride = max(1, files / max(1, changedCount))
        changed = (0..<files).map { i in i % stride == 0 && i / stride < changedCount }
    }

    func header(_ index: Int, revision: Int) -> [UInt8] {
        Array("<!-- \(relativePaths[index]) revision \(revision) -->\n".utf8)
    }

    /// Creates the tree with revision 1 of every file.
    func generate() {
        mkdir(root, 0o755)
        for directory in directories where mkdir(root + "/" + directory, 0o755) != 0 && errno != EEXIST {
            fail("mkdir \(directory): errno \(errno)")
        }
        for index in relativePaths.indices {
            writeFile(path: root + "/" + relativePaths[index], header: header(index, revision: 1), index: index, flags: O_CREAT)
        }
    }

    /// Writes header + pool slice to `path` (O_WRONLY | O_TRUNC | flags).
    func writeFile(path: String, header: [UInt8], index: Int, flags: Int32) {
        let fd = open(path, O_WRONLY | O_TRUNC | flags, 0o644)
        if fd < 0 { fail("open \(path): errno \(errno)") }
        if !write(fd: fd, header: header, index: index) { fail("short write to \(path)") }
        close(fd)
    }

    /// Whether the whole header + slice was written.
    func write(fd: Int32, header: [UInt8], index: Int) -> Bool {
        let written = header.withUnsafeBytes { head in
            pool.withUnsafeBytes { body in
                var vectors = [
                    iovec(iov_base: UnsafeMutableRawPointer(mutating: head.baseAddress), iov_len: head.count),
                    iovec(
                        iov_base: UnsafeMutableRawPointer(mutating: body.baseAddress! + offsets[index]),
                        iov_len: sizes[index]),
                ]
                return writev(fd, &vectors, 2)
            }
        }
        return written == header.count + sizes[index]
    }

    var changedURLs: Set<String> {
        Set(relativePaths.indices.filter { changed[$0] }.map { "https://www.example.com/" + relativePaths[$0] })
    }
}

/// The benchmark's site config: the whole site under one base URL, `quiet`, the emulator;
/// `stateExtra` goes in `[state]` after the path (a fleet's url and `[fleet]` table).
func benchConfig(root: String, state: String, stateExtra: String = "", quiet: String, endpoint: String) -> String {
    """
    [site]
    root = "\(root)"

    [state]
    path = "\(state)"
    \(stateExtra)

    [[rule]]
    prefix = ""
    urls = ["https://www.example.com/"]

    [coalesce]
    quiet = "\(quiet)"
    max_delay = "60s"

    [tencentcloud]
    endpoint = "\(endpoint)"

    """
}

// MARK: Processes

/// `purgewatch run` left running, its stdout and stderr in a file.
struct Daemon {
    let pid: pid_t

    /// Drops `path`'s pages from the page cache, so that the daemon's code is read in by page
    /// faults, as at boot. How the binary's pages came into the cache decides how much of its
    /// code a process maps: after a sequential read or a fresh link (large folios) the same idle
    /// daemon maps 14–18 MiB of it, after faults alone ≈ 12.6 MiB (issue 23). The peak RSS is
    /// comparable between runs only from one state, and this is the one a daemon started at
    /// boot is in. (Pages a running process maps are not dropped.)
    /// A binary just linked is dirty in the cache: it is written back first, since dirty pages
    /// are not dropped.
    static func evictFromPageCache(_ path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return note("cannot open \(path) to drop it from the page cache") }
        defer { close(fd) }
        _ = fdatasync(fd)
        let advised = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
        if advised != 0 { note("posix_fadvise(DONTNEED) on \(path): \(String(cString: strerror(advised)))") }
    }

    static func spawn(_ executable: String, _ arguments: [String], environment: [String: String], logPath: String) -> Daemon {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) }
        let env = environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in env { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv + [nil], env + [nil])
        guard spawned == 0 else { fail("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        return Daemon(pid: pid)
    }

    /// nil while running; the exit status (128+n for a signal) once it has exited (reaps it).
    func exited() -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        return (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    }

    /// `VmHWM` (peak resident set) and `VmRSS` from /proc/PID/status; the current RSS split
    /// into anonymous (the heap, stacks, relocated data: what the daemon itself holds) and
    /// file-backed (code and read-only data mapped from the binary and libraries, shared with
    /// the page cache) from /proc/PID/smaps_rollup; and the number of threads. KiB.
    func memory() -> (peak: Int, current: Int, anonymous: Int, file: Int, threads: Int) {
        func read(_ name: String) -> String { (try? String(contentsOfFile: "/proc/\(pid)/\(name)", encoding: .utf8)) ?? "" }
        func value(_ key: String, in text: String) -> Int {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return -1 }
            return Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? -1
        }
        let status = read("status")
        let rollup = read("smaps_rollup")
        let rss = value("Rss:", in: rollup)
        let anonymous = value("Anonymous:", in: rollup)
        return (
            value("VmHWM:", in: status), value("VmRSS:", in: status), anonymous,
            rss >= 0 && anonymous >= 0 ? rss - anonymous : -1, value("Threads:", in: status)
        )
    }

    /// Where the resident set is, from /proc/PID/smaps, KiB: the binary's pages read from the file
    /// (code, read-only data), its pages written at load (relocated data, .data, .bss), the
    /// shared libraries (libc, libstdc++, SQLite), the main heap, and every other anonymous
    /// mapping (the second malloc arena, thread stacks, large allocations).
    func breakdown(binary: String) -> (code: Int, relocated: Int, libraries: Int, heap: Int, otherAnonymous: Int) {
        // Read to the end: /proc files have no size, and smaps is longer than one read.
        guard let handle = FileHandle(forReadingAtPath: "/proc/\(pid)/smaps"),
            let data = try? handle.readToEnd(), let text = String(data: data, encoding: .utf8)
        else { return (-1, -1, -1, -1, -1) }
        try? handle.close()
        let binaryName = String(binary.split(separator: "/").last ?? "")
        var result = (code: 0, relocated: 0, libraries: 0, heap: 0, otherAnonymous: 0)
        var name = ""
        var rss = 0
        func kib(_ line: Substring) -> Int { Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0 }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), range.allSatisfy({ $0.isHexDigit || $0 == "-" }) {
                name = fields.count >= 6 ? String(fields[5...].joined(separator: " ")) : ""
            } else if line.hasPrefix("Rss:") {
                rss = kib(line)
            } else if line.hasPrefix("Anonymous:") {
                let anonymous = kib(line)
                let isBinary = !binaryName.isEmpty && name.hasSuffix("/" + binaryName)
                if isBinary {
                    result.code += rss - anonymous
                    result.relocated += anonymous
                } else if name == "[heap]" {
                    result.heap += rss
                } else if name.hasPrefix("/") {
                    result.libraries += rss - anonymous
                    result.otherAnonymous += anonymous
                } else {
                    result.otherAnonymous += rss
                }
            }
        }
        return result
    }

    /// SIGTERM, then up to 15 s for the exit (SIGKILL after). Returns the status and how long it took.
    func terminate() -> (status: Int32, took: Duration) {
        let start = ContinuousClock.now
        kill(pid, SIGTERM)
        while ContinuousClock.now - start < .seconds(15) {
            if let status = exited() { return (status, ContinuousClock.now - start) }
            usleep(5_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return (128 + SIGKILL, ContinuousClock.now - start)
    }
}

/// Runs a command to completion; returns its exit status and stdout.
func run(_ executable: String, _ arguments: [String], environment: [String: String], scratch: String) -> (Int32, String) {
    let outPath = scratch + "/run-\(UUID().uuidString.prefix(8)).out"
    defer { unlink(outPath) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
    let argv = ([executable] + arguments).map { strdup($0) }
    let env = environment.map { strdup("\($0.key)=\($0.value)") }
    defer {
        for pointer in argv { free(pointer) }
        for pointer in env { free(pointer) }
    }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, executable, &actions, nil, argv + [nil], env + [nil])
    guard spawned == 0 else { fail("cannot start \(executable): \(String(cString: strerror(spawned)))") }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
    return (exitStatus, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
}

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
struct NotifyListener {
    let path: String
    let fd: Int32

    init(path: String) {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { fail("notify socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { fail("cannot bind \(path): errno \(errno)") }
    }

    /// Waits for a datagram containing `READY=1`; false when `daemon` exits or `timeout` passes first.
    func waitForReady(daemon: Daemon, timeout: Duration) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 5) > 0 else {
                if daemon.exited() != nil { return false }
                continue
            }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            if String(decoding: buffer[0..<count], as: UTF8.self).split(separator: "\n").contains("READY=1") { return true }
        }
        return false
    }

    func close() {
        _ = Glibc.close(fd)
        unlink(path)
    }
}

// MARK: The benchmark

/// Context switches (voluntary + involuntary) of each thread of `pid`, by thread id, and its CPU
/// time in clock ticks (utime + stime): a wake-up is a switch back in.
func activity(_ pid: pid_t) -> (switches: [String: Int], ticks: Int) {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    var switches: [String: Int] = [:]
    for task in tasks {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("voluntary_ctxt_switches:") || line.hasPrefix("nonvoluntary_ctxt_switches:") {
            switches[task, default: 0] += Int(line.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
        }
    }
    // /proc/PID/stat: fields after the command's closing parenthesis; utime and stime are 14 and 15.
    let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
    let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
    let ticks = fields.count > 13 ? (Int(fields[11]) ?? 0) + (Int(fields[12]) ?? 0) : 0
    return (switches, ticks)
}

/// Context switches between two samples: each thread's growth, a thread born in between counted
/// whole (a thread that ended in between is lost with its last switches: a slight undercount).
func switchesBetween(_ before: [String: Int], _ after: [String: Int]) -> Int {
    after.reduce(0) { total, entry in total + max(0, entry.value - (before[entry.key] ?? 0)) }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? .nan : sorted[(sorted.count - 1) / 2]
}

/// Returns whether every changed URL was accepted before the timeout.
func runBenchmark() async throws -> Bool {
    let options = Options(arguments: CommandLine.arguments, environment: ProcessInfo.processInfo.environment)
    let quiet = options.quietDuration
    let purgewatch =
        options.purgewatch.hasPrefix("/")
        ? options.purgewatch : FileManager.default.currentDirectoryPath + "/" + options.purgewatch
    guard FileManager.default.isExecutableFile(atPath: purgewatch) else {
        fail("no purgewatch executable at \(purgewatch) (build it: swift build -c release --product purgewatch)")
    }

    let directory = options.temporary + "/pw-bench-daemon-\(UUID().uuidString.prefix(8))"
    let root = directory + "/site"
    let configPath = directory + "/site.toml"
    let logPath = directory + "/daemon.log"
    let marker = directory + "/burst-marker"
    try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
    defer {
        if let copy = options.logCopy {
            _ = try? FileManager.default.removeItem(atPath: copy); _ = try? FileManager.default.copyItem(atPath: logPath, toPath: copy)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    // 1. The site.
    note("generating \(options.files) files in \(options.directories) directories under \(root)…")
    let site = Site(root: root, files: options.files, directories: options.directories, changed: options.changed)
    let generateStart = ContinuousClock.now
    site.generate()
    let generated = ContinuousClock.now - generateStart
    let expected = site.changedURLs
    let siteBytes = site.sizes.reduce(0, +)

    // 2. The emulator, the config, the daemon.
    let emulator = try await TencentEmulator.start(EmulatorConfiguration())
    let config = benchConfig(root: root, state: "\(directory)/state/site.sqlite", quiet: options.quiet, endpoint: emulator.endpoint)
    try config.write(toFile: configPath, atomically: true, encoding: .utf8)

    var environment = ProcessInfo.processInfo.environment
    for key in [
        "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_TOKEN", "CREDENTIALS_DIRECTORY",
        "STATE_DIRECTORY", "JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
        "PURGEWATCH_TEST_TIME_SCALE", "PURGEWATCH_LOG_LEVEL",
    ] {
        environment[key] = nil
    }
    environment["TENCENTCLOUD_SECRET_ID"] = emulator.secretId
    environment["TENCENTCLOUD_SECRET_KEY"] = emulator.secretKey
    if let level = options.logLevel { environment["PURGEWATCH_LOG_LEVEL"] = level }
    let commandEnvironment = environment
    let listener = NotifyListener(path: directory + "/notify.sock")
    defer { listener.close() }
    environment["NOTIFY_SOCKET"] = listener.path

    // 2a. The floors, over the same tree and in the same run: hashing every file, a stat walk,
    // and watching the tree (inotifywait until "Watches established", with its peak RSS).
    note("baselines: sha256sum, find -printf, inotifywait -m -r…")
    func timed(_ command: String) -> (seconds: Double, output: String) {
        let started = ContinuousClock.now
        let (code, output) = run("/bin/sh", ["-c", command], environment: environment, scratch: directory)
        if code != 0 { note("baseline `\(command)` exited \(code)") }
        return (seconds(ContinuousClock.now - started), output)
    }
    let sha256Floor = timed("find '\(root)' -type f -print0 | xargs -0 sha256sum > /dev/null").seconds
    let statFloor = timed("find '\(root)' -printf '%s %T@ %i\\n' > /dev/null").seconds
    let watchFloor = timed(
        "inotifywait -m -r '\(root)' >/dev/null 2>'\(directory)/inotifywait.err' & p=$!; "
            + "until grep -q 'Watches established' '\(directory)/inotifywait.err' 2>/dev/null; do sleep 0.002; done; "
            + "awk '/VmHWM/ {print $2}' /proc/$p/status; kill -KILL $p; wait $p 2>/dev/null")
    let inotifywaitKiB = Int(watchFloor.output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1

    // The binary's pages as at boot (see `evictFromPageCache`): dropped, then read in by the page
    // faults of a daemon on an empty tree (its own state file), so that READY cold below pays
    // for the site, not for reading the runtime from disk, and every daemon here maps its code
    // from pages the faults brought in.
    let emptyRoot = directory + "/empty-site"
    mkdir(emptyRoot, 0o755)
    func emptyConfig(state: String) throws -> String {
        let path = directory + "/\(state).toml"
        try config.replacingOccurrences(of: "root = \"\(root)\"", with: "root = \"\(emptyRoot)\"")
            .replacingOccurrences(of: "/state/site.sqlite", with: "/state/\(state).sqlite")
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
    Daemon.evictFromPageCache(purgewatch)
    do {
        let primerListener = NotifyListener(path: directory + "/notify-primer.sock")
        defer { primerListener.close() }
        var primerEnvironment = environment
        primerEnvironment["NOTIFY_SOCKET"] = primerListener.path
        let primer = Daemon.spawn(
            purgewatch, ["run", "--config", try emptyConfig(state: "primer")], environment: primerEnvironment,
            logPath: directory + "/daemon-primer.log")
        if !primerListener.waitForReady(daemon: primer, timeout: .seconds(30)) {
            note("the primer daemon never signalled READY=1: the binary's pages are only partly read in")
        }
        let primerExit = primer.terminate().status
        if primerExit != 0 { note("the primer daemon exited \(primerExit) on SIGTERM (see daemon-primer.log)") }
    }

    note("starting \(purgewatch) run --config \(configPath)…")
    let spawnedAt = ContinuousClock.now
    let daemon = Daemon.spawn(purgewatch, ["run", "--config", configPath], environment: environment, logPath: logPath)
    var stopped = false
    defer { if !stopped { kill(daemon.pid, SIGKILL); var status: Int32 = 0; waitpid(daemon.pid, &status, 0) } }
    func logText() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    guard listener.waitForReady(daemon: daemon, timeout: .seconds(options.timeout)) else {
        throw BenchFailure("the daemon never signalled READY=1 (exit: \(daemon.exited().map(String.init) ?? "still running")); log:\n\(logText())")
    }
    let reconcile = ContinuousClock.now - spawnedAt
    let memoryAtReady = daemon.memory()

    let (statusCode, statusJSON) = run(
        purgewatch, ["status", "--config", configPath, "--json"], environment: commandEnvironment, scratch: directory)
    let status = (try? JSONSerialization.jsonObject(with: Data(statusJSON.utf8))) as? [String: Any] ?? [:]
    let tracked = (status["files_tracked"] as? NSNumber)?.intValue ?? -1
    guard statusCode == 0, status["daemon_running"] as? Bool == true, tracked == options.files else {
        throw BenchFailure(
            "after READY=1, status --json (exit \(statusCode)) says running=\(status["daemon_running"] ?? "?") files_tracked=\(tracked), expected \(options.files):\n\(statusJSON)\nlog:\n\(logText())"
        )
    }

    // 2a'. At rest (SPEC §7): nothing changes for `rest` seconds. The daemon's wake-ups (context
    // switches over all its threads) and CPU, beside an idle `inotifywait -m -r` on the same tree
    // over the same seconds.
    note("at rest for \(options.rest) s, beside inotifywait -m -r…")
    usleep(1_000_000)
    let watcher = Daemon.spawn(
        "/bin/sh", ["-c", "exec inotifywait -m -r '\(root)' > /dev/null"], environment: environment,
        logPath: directory + "/inotifywait-rest.err")
    let watcherDeadline = ContinuousClock.now.advanced(by: .seconds(options.timeout))
    // Until its watches are set, or it gave up (at 1M files the daemon's 100,000 watches and its
    // own exceed a default fs.inotify.max_user_watches: it says so and exits, and the row says -1).
    var watcherExit: Int32? = nil
    while ContinuousClock.now < watcherDeadline,
        (try? String(contentsOfFile: directory + "/inotifywait-rest.err", encoding: .utf8))?.contains("Watches established") != true
    {
        watcherExit = watcher.exited()  // reaps it: remembered, never asked again
        if watcherExit != nil { break }
        usleep(10_000)
    }
    if let watcherExit {
        note(
            "inotifywait -m -r (at rest) exited \(watcherExit): \((try? String(contentsOfFile: directory + "/inotifywait-rest.err", encoding: .utf8)) ?? "")"
        )
    }
    let idleSwift = options.idle.map { Daemon.spawn($0, [], environment: environment, logPath: directory + "/idle.log") }
    usleep(500_000)
    let restStart = (daemon: activity(daemon.pid), watcher: activity(watcher.pid), swift: idleSwift.map { activity($0.pid) })
    usleep(UInt32(options.rest) * 1_000_000)
    let restEnd = (daemon: activity(daemon.pid), watcher: activity(watcher.pid), swift: idleSwift.map { activity($0.pid) })
    for process in (watcherExit == nil ? [watcher] : []) + (idleSwift.map { [$0] } ?? []) {
        kill(process.pid, SIGKILL)
        var status: Int32 = 0
        waitpid(process.pid, &status, 0)
    }
    let swiftIdleWakeups =
        restStart.swift.flatMap { start in restEnd.swift.map { Double(switchesBetween(start.switches, $0.switches)) / Double(options.rest) } }
        ?? -1
    let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    let restWakeups = Double(switchesBetween(restStart.daemon.switches, restEnd.daemon.switches)) / Double(options.rest)
    let restCPU = Double(restEnd.daemon.ticks - restStart.daemon.ticks) / ticksPerSecond / Double(options.rest) * 100
    let watcherWakeups =
        watcherExit == nil ? Double(switchesBetween(restStart.watcher.switches, restEnd.watcher.switches)) / Double(options.rest) : -1

    // 2b. A one-file deploy: rewrite one file, then `purgewatch flush --wait` as a deploy script
    // runs it (CLI spawn + socket + barrier + comparison + PurgeUrlsCache to the emulator), and
    // the same with `--full` (a stat walk of the whole tree). Median of 5 each. Each sample
    // starts 0.3 s after the last: a deploy's flush follows no request of its own, and back to
    // back the samples measured the client's rate limit (requests_per_second = 10: one request
    // per 100 ms), not the flush.
    func oneFileFlush(full: Bool, revision: Int) throws -> Double {
        usleep(300_000)
        let index = revision % options.files
        let fd = open(root + "/" + site.relativePaths[index], O_WRONLY | O_TRUNC)
        if fd < 0 { throw BenchFailure("open for the flush figure: errno \(errno)") }
        _ = site.write(fd: fd, header: site.header(index, revision: 100 + revision), index: index)
        close(fd)
        let started = ContinuousClock.now
        let (code, output) = run(
            purgewatch, ["flush", "--config", configPath, "--wait", "--timeout", "60s"] + (full ? ["--full"] : []),
            environment: commandEnvironment, scratch: directory)
        let took = seconds(ContinuousClock.now - started)
        if code != 0 { throw BenchFailure("flush --wait\(full ? " --full" : "") exited \(code): \(output)") }
        return took
    }
    var flushTimes: [Double] = []
    var flushFullTimes: [Double] = []
    for round in 0..<5 {
        flushTimes.append(try oneFileFlush(full: false, revision: 2 * round))
        flushFullTimes.append(try oneFileFlush(full: true, revision: 2 * round + 1))
    }
    let spawnStart = ContinuousClock.now
    _ = run(purgewatch, ["--version"], environment: commandEnvironment, scratch: directory)
    let spawnFloor = seconds(ContinuousClock.now - spawnStart)
    // Back to the generated bytes (and flushed), so the burst below changes exactly its share.
    for index in 0..<min(10, options.files) {
        let fd = open(root + "/" + site.relativePaths[index], O_WRONLY | O_TRUNC)
        _ = site.write(fd: fd, header: site.header(index, revision: 1), index: index)
        close(fd)
    }
    _ = run(purgewatch, ["flush", "--config", configPath, "--wait", "--timeout", "60s"], environment: commandEnvironment, scratch: directory)
    emulator.resetRecords()
    let purgesBeforeBurst = emulator.requests.filter { $0.action.hasPrefix("Purge") }.count

    // 3. The burst: every file rewritten in place, 1 in 10 with a new revision. Paths and
    // headers are prepared first so the loop is only open + writev + close.
    let paths = site.relativePaths.map { Array((root + "/" + $0).utf8CString) }
    let headers = site.relativePaths.indices.map { site.header($0, revision: site.changed[$0] ? 2 : 1) }
    close(open(marker, O_WRONLY | O_CREAT | O_TRUNC, 0o644))
    usleep(50_000)  // past the file system's timestamp granularity, for `find -newer`
    note("burst: rewriting \(options.files) files, \(site.changed.filter { $0 }.count) with new bytes…")
    let burstStart = ContinuousClock.now
    for index in paths.indices {
        let fd = paths[index].withUnsafeBufferPointer { open($0.baseAddress!, O_WRONLY | O_TRUNC) }
        if fd < 0 { throw BenchFailure("open \(site.relativePaths[index]): errno \(errno)") }
        let whole = site.write(fd: fd, header: headers[index], index: index)
        close(fd)
        if !whole { throw BenchFailure("short write to \(site.relativePaths[index])") }
    }
    let lastWrite = ContinuousClock.now
    let lastWriteDate = Date()
    let burst = lastWrite - burstStart

    // 4. Wait for every changed URL, then quiet + 2 s for anything else.
    let deadline = lastWrite.advanced(by: .seconds(options.timeout))
    while emulator.acceptedURLs.count < expected.count && ContinuousClock.now < deadline {
        if let code = daemon.exited() { throw BenchFailure("the daemon exited (\(code)) during the burst; log:\n\(logText())") }
        try await Task.sleep(for: .milliseconds(5))
    }
    let complete = emulator.acceptedURLs.count >= expected.count
    if !complete { note("timed out after \(options.timeout) s with \(emulator.acceptedURLs.count) of \(expected.count) URLs accepted") }
    let acceptedAtCompletion = emulator.requests.filter { $0.action == "PurgeUrlsCache" && $0.outcome == "accepted" }
    try await Task.sleep(for: quiet + .seconds(2))

    // 5. Memory, then stop.
    let memoryAtEnd = daemon.memory()
    let placesAtEnd = daemon.breakdown(binary: purgewatch)
    let (exitStatus, shutdown) = daemon.terminate()
    stopped = true

    // 5b. Warm start: the same tree, its manifest complete, nothing changed.
    let warmListener = NotifyListener(path: directory + "/notify-warm.sock")
    defer { warmListener.close() }
    var warmEnvironment = environment
    warmEnvironment["NOTIFY_SOCKET"] = warmListener.path
    let warmSpawned = ContinuousClock.now
    let warm = Daemon.spawn(purgewatch, ["run", "--config", configPath], environment: warmEnvironment, logPath: directory + "/daemon-warm.log")
    let warmReady = warmListener.waitForReady(daemon: warm, timeout: .seconds(options.timeout))
    let readyWarm = warmReady ? seconds(ContinuousClock.now - warmSpawned) : .nan
    let warmMemory = warm.memory()
    _ = warm.terminate()

    // 5c. The runtime's floor: the same binary and settings watching an empty tree (one file in
    // it: Swift runtime, Foundation, NIO, SQLite, their code pages). What the tree costs is above it.
    let emptyConfigPath = try emptyConfig(state: "empty")
    _ = FileManager.default.createFile(atPath: emptyRoot + "/one.html", contents: Data("one\n".utf8))
    let idleListener = NotifyListener(path: directory + "/notify-idle.sock")
    defer { idleListener.close() }
    var idleEnvironment = environment
    idleEnvironment["NOTIFY_SOCKET"] = idleListener.path
    let idle = Daemon.spawn(purgewatch, ["run", "--config", emptyConfigPath], environment: idleEnvironment, logPath: directory + "/daemon-idle.log")
    _ = idleListener.waitForReady(daemon: idle, timeout: .seconds(30))
    usleep(500_000)
    let idleMemory = idle.memory()
    let placesAtFloor = idle.breakdown(binary: purgewatch)
    // The same daemon once the one file of its tree was modified and purged: every stage's code
    // has run (hashing, planning, signing, HTTP, JSON, the verifier's poll) and is mapped, but the
    // tree is one file. What the site's size costs is above this floor.
    let oneURL = "https://www.example.com/one.html"
    // The site's figures below are the emulator's record up to here, not this purge.
    let siteRequests = emulator.requests
    let siteAccepted = emulator.acceptedURLs
    _ = FileManager.default.createFile(atPath: emptyRoot + "/one.html", contents: Data("one, changed\n".utf8))
    let oneDeadline = ContinuousClock.now.advanced(by: .seconds(30))
    while !emulator.acceptedURLs.contains(oneURL) && ContinuousClock.now < oneDeadline { usleep(50_000) }
    let onePurged = emulator.acceptedURLs.contains(oneURL)
    if !onePurged { note("the empty tree's one file was not purged within 30 s") }
    usleep(500_000)
    let workedMemory = idle.memory()
    _ = idle.terminate()

    // 6. The baseline: what a cron job pays just to find the candidates.
    let findStart = ContinuousClock.now
    let (findStatus, findOutput) = run(
        "/bin/sh", ["-c", "find '\(root)' -type f -newer '\(marker)' | wc -l"], environment: commandEnvironment,
        scratch: directory)
    let findTime = ContinuousClock.now - findStart
    let findCount = Int(findOutput.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    if findStatus != 0 { note("the find baseline exited \(findStatus)") }

    // 7. Figures.
    let requests = siteRequests
    let purgeURLRequests = requests.filter { $0.action == "PurgeUrlsCache" }
    let acceptedRequests = purgeURLRequests.filter { $0.outcome == "accepted" }
    let pathRequests = requests.filter { $0.action == "PurgePathCache" }
    let accepted = siteAccepted
    let acceptedSet = Set(accepted)
    let exact = acceptedSet == expected && accepted.count == expected.count && pathRequests.isEmpty
    let lastAccepted = acceptedAtCompletion.map(\.arrival).max()
    let firstAccepted = acceptedRequests.filter { $0.arrival > lastWrite }.map(\.arrival).min()
    let latency = lastAccepted.map { seconds($0 - lastWrite - quiet) } ?? .nan
    let firstLatency = firstAccepted.map { seconds($0 - lastWrite - quiet) } ?? .nan
    let lateRequests = acceptedRequests.count - acceptedAtCompletion.count
    let log = logText()
    let logLines = log.split(separator: "\n")
    let notable = logLines.filter { line in
        ["warning", "error", "critical", "overflow", "out of sync", "full walk"].contains { line.contains($0) }
    }

    func mib(_ kib: Int) -> String { kib < 0 ? "?" : format(Double(kib) / 1024, 1) + " MiB" }
    let actions = Dictionary(grouping: requests, by: \.action).map { "\($0.key)=\($0.value.count)" }.sorted()

    say("")
    say(
        "purgewatch daemon benchmark (issue 5): \(options.files) files in \(options.directories) directories (\(format(Double(siteBytes) / 1_048_576, 1)) MiB), \(expected.count) changed, quiet \(options.quiet), max_delay 60s; \(ProcessInfo.processInfo.activeProcessorCount) cores"
    )
    say(String(repeating: "-", count: 96))
    func row(_ name: String, _ value: String, _ detail: String = "") {
        say(name.padding(toLength: 44, withPad: " ", startingAt: 0) + " " + value.padding(toLength: 16, withPad: " ", startingAt: 0) + " " + detail)
    }
    row("generate the site (bench, not measured)", format(seconds(generated)) + " s")
    row(
        "at rest: wake-ups per second (all threads)", format(restWakeups, 2),
        "over \(options.rest) s; CPU \(format(restCPU, 2)) % of a core; idle inotifywait -m -r: \(format(watcherWakeups, 2))/s; a Swift program that only sleeps: \(format(swiftIdleWakeups, 2))/s"
    )
    row(
        "reconcile: spawn → READY=1 (empty manifest)", format(seconds(reconcile)) + " s",
        "files_tracked \(tracked); VmHWM at READY \(mib(memoryAtReady.peak))")
    row(
        "flush --wait after changing 1 file", format(median(flushTimes)) + " s",
        "median of 5 \(flushTimes.map { format($0) }); `purgewatch --version` alone \(format(spawnFloor)) s")
    row("flush --wait --full after changing 1 file", format(median(flushFullTimes)) + " s", "median of 5 (a stat walk of the whole tree)")
    row("floor: find | xargs sha256sum (all files)", format(sha256Floor) + " s", "READY cold ×\(format(seconds(reconcile) / sha256Floor, 2))")
    row("floor: find -printf '%s %T@ %i'", format(statFloor) + " s")
    row("floor: inotifywait -m -r → established", format(watchFloor.seconds) + " s", "VmHWM \(mib(inotifywaitKiB))")
    row(
        "READY warm: restart, nothing changed", format(readyWarm) + " s",
        "×\(format(readyWarm / max(statFloor, watchFloor.seconds), 2)) the larger stat/watch floor; VmHWM \(mib(warmMemory.peak))")
    row("burst: rewrite every file in place", format(seconds(burst)) + " s", "\(options.files) open+writev+close")
    row("last write → last URL batch − quiet", format(latency) + " s", complete ? "← the figure of issue 5" : "INCOMPLETE (timed out)")
    row("last write → first URL batch − quiet", format(firstLatency) + " s")
    row(
        "PurgeUrlsCache requests accepted", "\(acceptedRequests.count)",
        "of \(purgeURLRequests.count) sent; sizes \(acceptedRequests.map(\.urlCount)); expected \((expected.count + 999) / 1000)")
    row(
        "URLs accepted = exactly the changed URLs", exact ? "yes" : "NO",
        "\(accepted.count) accepted (\(acceptedSet.count) distinct), \(acceptedSet.subtracting(expected).count) unchanged purged, \(expected.subtracting(acceptedSet).count) missing, \(pathRequests.count) PurgePathCache"
    )
    row("purge requests after completion (+quiet+2s)", "\(lateRequests)", "before the burst: \(purgesBeforeBurst)")
    row(
        "daemon peak RSS (VmHWM before SIGTERM)", mib(memoryAtEnd.peak),
        "VmRSS \(mib(memoryAtEnd.current)): anonymous \(mib(memoryAtEnd.anonymous)), file-backed \(mib(memoryAtEnd.file)); \(memoryAtEnd.threads) threads"
    )
    row(
        "floor: purgewatch on an empty tree", mib(idleMemory.peak),
        "anonymous \(mib(idleMemory.anonymous)), file-backed \(mib(idleMemory.file)) (runtime, libraries, code); \(idleMemory.threads) threads")
    let perFile = Double(memoryAtEnd.peak - idleMemory.peak) * 1024 / Double(options.files)
    row("peak above that floor, per file", format(perFile, 0) + " B", "watchman ≈ 440 B per file")
    row(
        "floor: the same after one file purged", mib(workedMemory.peak),
        onePurged
            ? "its one file modified and purged: every stage's code mapped (hash, plan, sign, HTTP, verify)" : "the file was not purged: not a floor")
    let perFileWorked = Double(memoryAtEnd.peak - workedMemory.peak) * 1024 / Double(options.files)
    row("peak above that floor, per file", format(perFileWorked, 0) + " B", "what the site's size costs")
    row("SIGTERM → exit", format(seconds(shutdown)) + " s", "exit status \(exitStatus)")
    row(
        "baseline: find -type f -newer MARKER | wc -l", format(seconds(findTime)) + " s",
        "\(findCount) candidates (daemon stopped, warm cache); finding only, no content judgement")
    say("last write at \(lastWriteDate.formatted(.iso8601.time(includingFractionalSeconds: true))) UTC (for the daemon log)")
    say("emulator requests: \(actions.joined(separator: " "))")
    say("daemon log: \(logLines.count) lines, \(notable.count) notable (warning/error/overflow/out of sync)")
    for line in notable.prefix(20) { say("  " + line) }
    say(
        "RESULT latency_s=\(format(latency)) first_latency_s=\(format(firstLatency)) requests=\(acceptedRequests.count) exact=\(exact ? "yes" : "no") peak_rss_kib=\(memoryAtEnd.peak) reconcile_s=\(format(seconds(reconcile))) burst_s=\(format(seconds(burst))) find_s=\(format(seconds(findTime))) find_count=\(findCount) flush_s=\(format(median(flushTimes))) flush_full_s=\(format(median(flushFullTimes))) spawn_s=\(format(spawnFloor)) sha256_s=\(format(sha256Floor)) stat_s=\(format(statFloor)) inotifywait_s=\(format(watchFloor.seconds)) inotifywait_rss_kib=\(inotifywaitKiB) ready_warm_s=\(format(readyWarm)) warm_rss_kib=\(warmMemory.peak) idle_rss_kib=\(idleMemory.peak) idle_anon_kib=\(idleMemory.anonymous) idle_file_kib=\(idleMemory.file) idle_threads=\(idleMemory.threads) end_threads=\(memoryAtEnd.threads) end_code_kib=\(placesAtEnd.code) end_relocated_kib=\(placesAtEnd.relocated) end_libraries_kib=\(placesAtEnd.libraries) end_heap_kib=\(placesAtEnd.heap) end_other_anon_kib=\(placesAtEnd.otherAnonymous) idle_code_kib=\(placesAtFloor.code) idle_relocated_kib=\(placesAtFloor.relocated) idle_libraries_kib=\(placesAtFloor.libraries) idle_heap_kib=\(placesAtFloor.heap) idle_other_anon_kib=\(placesAtFloor.otherAnonymous) end_anon_kib=\(memoryAtEnd.anonymous) end_file_kib=\(memoryAtEnd.file) per_file_b=\(format(perFile, 0)) worked_rss_kib=\(workedMemory.peak) per_file_worked_b=\(onePurged ? format(perFileWorked, 0) : "-") ready_rss_kib=\(memoryAtReady.peak) complete=\(complete ? "yes" : "no") exit=\(exitStatus) notable_log_lines=\(notable.count) rest_wakeups_per_s=\(format(restWakeups, 2)) rest_cpu_pct=\(format(restCPU, 2)) inotifywait_rest_wakeups_per_s=\(format(watcherWakeups, 2)) swift_idle_wakeups_per_s=\(format(swiftIdleWakeups, 2))"
    )

    await emulator.shutdown()
    return complete
}

do {
    let options = Options(arguments: CommandLine.arguments, environment: ProcessInfo.processInfo.environment)
    if let database = options.fleet {
        if try await !runFleetBenchmark(options, databaseURL: database) { exit(1) }
    } else if try await !runBenchmark() {
        exit(1)
    }
} catch {
    fail("\(error)")
}
