import Foundation
import Glibc
import Testing

/// Runs the built `purgewatch` executable (or, for scaled timings, the test harness around the
/// same CLI) with raw-byte arguments and captures its output.
struct PurgewatchProcess {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The shipped executable, built beside this test bundle.
    static let executable = built("purgewatch")
    /// The same CLI with the end-to-end timings (`Tests/Harness`): it alone reads PURGEWATCH_TEST_*.
    static let harness = built("purgewatch-harness")

    /// What runs for `environment`: the harness when the test asks for scaled timings or a
    /// shifted wall clock, the shipped binary otherwise.
    static func binary(for environment: [String: String]?) -> String {
        (environment ?? [:]).keys.contains { $0.hasPrefix("PURGEWATCH_TEST_") } ? harness : executable
    }

    private static func built(_ name: String) -> String {
        var buffer = [CChar](repeating: 0, count: 4_096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        let own = length > 0 ? String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        var directory = (own as NSString).deletingLastPathComponent
        // The test runner may live inside the .xctest bundle or beside it.
        for _ in 0..<4 {
            let candidate = (directory as NSString).appendingPathComponent(name)
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory = (directory as NSString).deletingLastPathComponent
        }
        return ".build/debug/" + name
    }

    /// The repository's root (for Config/).
    static let repositoryRoot: String = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory.path
            }
            directory.deleteLastPathComponent()
        }
        return FileManager.default.currentDirectoryPath
    }()

    static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> Result {
        try run(raw: arguments.map { Array($0.utf8) }, environment: environment)
    }

    /// - Parameter raw: arguments as bytes, so file names that are not UTF-8 can be passed.
    static func run(raw: [[UInt8]], environment: [String: String]? = nil) throws -> Result {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outPath = directory.appendingPathComponent("out").path
        let errPath = directory.appendingPathComponent("err").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Nothing but 0-2 reaches the child: a descriptor another test holds open at this moment
        // (a pipe's write end it reads to EOF) must not live on in a daemon for a minute.
        closeInheritedDescriptors(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        let program = binary(for: environment)
        let argv = ([Array(program.utf8)] + raw).map { bytes -> UnsafeMutablePointer<CChar>? in
            let pointer = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count + 1)
            for (index, byte) in bytes.enumerated() { pointer[index] = CChar(bitPattern: byte) }
            pointer[bytes.count] = 0
            return pointer
        }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in argv { pointer?.deallocate() }
            for pointer in env { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv + [nil], env + [nil])
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return Result(
            status: exitStatus,
            stdout: (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        )
    }
}

/// A `purgewatch` process left running (the daemon), with its output in a file.
final class RunningProcess: @unchecked Sendable {
    let pid: pid_t
    let logPath: String
    private(set) var exitStatus: Int32?

    init(pid: pid_t, logPath: String) {
        self.pid = pid
        self.logPath = logPath
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// Starts the executable with `arguments`; stdout and stderr go to `logPath`. A `launcher`
    /// (a program and its arguments, e.g. `unshare`) runs first and is handed the executable's
    /// path and arguments to exec.
    static func start(
        _ arguments: [String], environment: [String: String], logPath: String, launcher: [String] = []
    ) throws -> RunningProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Nothing but 0-2 reaches the child: a descriptor another test holds open at this moment
        // (a pipe's write end it reads to EOF) must not live on in a daemon for a minute.
        closeInheritedDescriptors(&actions)
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let binary = PurgewatchProcess.binary(for: environment)
        let argv = (launcher + [binary] + arguments).map { strdup($0) }
        let program = launcher.first ?? binary
        let env = environment.map { strdup("\($0.key)=\($0.value)") }
        defer {
            for pointer in argv { free(pointer) }
            for pointer in env { free(pointer) }
        }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, program, &actions, nil, argv + [nil], env + [nil])
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EIO) }
        return RunningProcess(pid: pid, logPath: logPath)
    }

    /// Whether the process is still running (reaps it when it has exited).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exitStatus = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
            return false
        }
        return true
    }

    /// Sends `signal` and waits up to `timeout` for the exit. Returns the exit status (128+n for a signal).
    @discardableResult
    func stop(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) -> Int32? {
        if let exitStatus { return exitStatus }
        kill(pid, signal)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if !isRunning { return exitStatus }
            usleep(20_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        exitStatus = 128 + SIGKILL
        return nil
    }

    deinit { if isRunning { stop(signal: SIGKILL) } }
}

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private(set) var messages: [String] = []

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        precondition(bytes.count < 100, "notify socket path too long: \(path)")
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in bytes.enumerated() { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Reads datagrams until one satisfies `predicate` or `timeout` passes.
    func wait(timeout: Duration = .seconds(60), until predicate: (String) -> Bool) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let message = String(decoding: buffer[0..<count], as: UTF8.self)
            messages.append(message)
            if predicate(message) { return true }
        }
        return false
    }
}

/// Runs blocking work (waitpid, poll, a child process) on its own thread, so tests never block
/// the cooperative pool that the emulator's and the client's async work needs (2 threads on
/// 2 cores: two blocked tests would starve every other test).
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.start()
    }
}

extension PurgewatchProcess {
    static func runAsync(_ arguments: [String], environment: [String: String]? = nil) async throws -> Result {
        try await offload { try run(arguments, environment: environment) }
    }

    static func runAsync(raw: [[UInt8]], environment: [String: String]? = nil) async throws -> Result {
        try await offload { try run(raw: raw, environment: environment) }
    }
}

extension PurgewatchProcess.Result: @unchecked Sendable {}

extension NotifyListener {
    /// The first datagram (read from now on, on another thread) that satisfies `predicate`, or nil.
    func message(timeout: Duration = .seconds(30), where predicate: @escaping @Sendable (String) -> Bool) async -> String? {
        (try? await offload { [self] in
            var found: String?
            _ = self.wait(timeout: timeout) { message in
                if predicate(message) { found = message }
                return found != nil
            }
            return found
        }) ?? nil
    }
}

/// Closes every descriptor above 2 in a spawned child (glibc's
/// `posix_spawn_file_actions_addclosefrom_np`, 2.34 and later, which the Glibc module does not
/// import). Without it a daemon inherits whatever any test holds open at that moment — a pipe's
/// write end another test reads to its end, the build lock — and holds it for its whole life.
func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") else { return }
    _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
}

extension EndToEnd {
    /// The daemons the tests start hold nothing of the test process but their standard streams: a
    /// pipe another test reads to its end must not stay open in a daemon for its whole life (the
    /// 60 s stalls of the test process), nor the build's lock.
    @Suite struct SpawnTests {
        @Test func aStartedDaemonInheritsNoDescriptorBeyondItsStandardStreams() async throws {
            var ends: [Int32] = [-1, -1]
            #expect(pipe(&ends) == 0)  // not close-on-exec, as Foundation's and others' may not be
            defer {
                close(ends[0])
                close(ends[1])
            }
            var info = stat()
            #expect(fstat(ends[1], &info) == 0)
            let pipeName = "pipe:[\(info.st_ino)]"
            try await DaemonFixture.with { fixture in
                try fixture.write("a.html", "v1\n")
                try await fixture.startDaemon()
                let pid = try #require(fixture.daemon?.pid)
                let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? []
                #expect(!descriptors.isEmpty)
                let targets = descriptors.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)") }
                #expect(!targets.contains(pipeName), "the daemon holds the test's pipe: \(targets)")
            }
        }
    }
}
