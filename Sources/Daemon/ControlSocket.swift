import Foundation
import Glibc
import Reporting

/// The daemon's control socket: a Unix stream socket beside the state file
/// (`<state file>.sock`), through which `flush` and `purge` reach the running daemon.
///
/// One line in (`flush`, `flush-wait`), one line out. Access follows the state directory: the
/// socket itself is mode 0666, so whoever can enter the directory can connect (SPEC §2: `flush`
/// works for any user who can read the state directory).
public enum ControlSocket {
    /// The socket path for a state file.
    public static func path(forState statePath: String) -> String { statePath + ".sock" }

    /// The address of `path`. Paths longer than `sun_path` are reached through the directory's
    /// descriptor (`/proc/self/fd/N/name`); `keepAlive` holds that descriptor open until closed.
    static func address(for path: String) throws -> (UnixSocketAddress, keepAlive: Int32?) {
        if let address = UnixSocketAddress(path) { return (address, nil) }
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ControlSocketError("cannot open \(directory): \(String(cString: strerror(errno)))") }
        guard let address = UnixSocketAddress("/proc/self/fd/\(fd)/\((path as NSString).lastPathComponent)") else {
            close(fd)
            throw ControlSocketError("socket name too long: \(path)")
        }
        return (address, fd)
    }

    /// Sends one command and waits for the one-line answer.
    ///
    /// - Throws: ``ControlSocketError`` with `noDaemon` when nothing listens at `path`.
    public static func send(_ command: String, to path: String, timeout: Duration) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlSocketError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let (address, keepAlive) = try address(for: path)
        defer { if let keepAlive { close(keepAlive) } }
        let connected = address.withSockAddr { connect(fd, $0, $1) }
        guard connected == 0 else {
            let code = errno
            throw ControlSocketError(
                "no purgewatch daemon is listening at \(path) (\(String(cString: strerror(code))))",
                noDaemon: code == ENOENT || code == ECONNREFUSED)
        }
        let line = Array((command + "\n").utf8)
        guard write(fd, line, line.count) == line.count else {
            throw ControlSocketError("cannot write to \(path): \(String(cString: strerror(errno)))")
        }
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while !answer.contains(UInt8(ascii: "\n")) {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw ControlSocketError("timed out", timedOut: true) }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(remaining.milliseconds, 60_000))
            let ready = poll(&poller, 1, max(1, milliseconds))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw ControlSocketError("the daemon closed the connection without answering") }
            answer.append(contentsOf: buffer[0..<count])
        }
        return String(decoding: answer.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }
}

public struct ControlSocketError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var noDaemon: Bool
    public var timedOut: Bool

    init(_ description: String, noDaemon: Bool = false, timedOut: Bool = false) {
        self.description = description
        self.noDaemon = noDaemon
        self.timedOut = timedOut
    }
}

/// One accepted connection: the command read, and a way to answer it once.
final class ControlConnection: @unchecked Sendable {
    let command: String
    private let fd: Int32
    private let lock = NSLock()
    private var isClosed = false

    init(fd: Int32, command: String) {
        self.fd = fd
        self.command = command
    }

    /// Writes one line and closes the connection.
    func answer(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
    }

    deinit { answer("error daemon stopped") }
}

/// The listening side: a thread that accepts connections and reads one line from each.
final class ControlServer: @unchecked Sendable {
    let path: String
    private let listenFD: Int32
    private let lock = NSLock()
    private var stopped = false

    /// Binds `path` (replacing a stale socket) and starts accepting; each command is yielded.
    init(path: String, onCommand: @escaping @Sendable (ControlConnection) -> Void) throws {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlSocketError("socket: \(String(cString: strerror(errno)))") }
        let (address, keepAlive) = try ControlSocket.address(for: path)
        defer { if let keepAlive { close(keepAlive) } }
        // A socket file left by a crashed daemon: replace it, but never steal a live one.
        if (try? ControlSocket.send("ping", to: path, timeout: .seconds(1))) != nil {
            close(fd)
            throw ControlSocketError("another purgewatch daemon is already running for this state file (\(path))")
        }
        unlink(path)
        let bound = address.withSockAddr { bind(fd, $0, $1) }
        guard bound == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw ControlSocketError("cannot listen on \(path): \(message)")
        }
        chmod(path, 0o666)
        listenFD = fd
        let thread = Thread { [listenFD] in
            while true {
                let client = accept(listenFD, nil, nil)
                if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    return  // shut down
                }
                var timeout = timeval(tv_sec: 5, tv_usec: 0)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                var line: [UInt8] = []
                var byte: UInt8 = 0
                while line.count < 256, read(client, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
                let command = String(decoding: line, as: UTF8.self)
                let connection = ControlConnection(fd: client, command: command)
                if command == "ping" {
                    connection.answer("pong")
                } else {
                    onCommand(connection)
                }
            }
        }
        thread.name = "purgewatch-control"
        thread.start()
    }

    func stop() {
        lock.lock()
        defer { lock.unlock() }
        guard !stopped else { return }
        stopped = true
        shutdown(listenFD, Int32(SHUT_RDWR))
        close(listenFD)
        unlink(path)
    }

    deinit { stop() }
}
