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

/// `struct ucred` of socket(7) (not imported by Glibc's module without `_GNU_SOURCE`).
private struct PeerCredentials {
    var pid: Int32 = 0
    var uid: UInt32 = 0
    var gid: UInt32 = 0
}

/// Who is on the other end of a connection (`SO_PEERCRED`), for the log line of each command.
struct ControlPeer: Sendable, CustomStringConvertible {
    var uid: UInt32
    var pid: Int32
    var description: String { "uid \(uid) pid \(pid)" }
}

/// One accepted connection: the command read, and a way to answer it once.
final class ControlConnection: @unchecked Sendable {
    let command: String
    let peer: ControlPeer?
    private let fd: Int32
    private let lock = NSLock()
    private var isClosed = false
    private let onClose: @Sendable () -> Void

    init(fd: Int32, command: String, peer: ControlPeer? = nil, onClose: @escaping @Sendable () -> Void = {}) {
        self.fd = fd
        self.command = command
        self.peer = peer
        self.onClose = onClose
    }

    /// Whether the client closed its end (a `flush --wait` that timed out): nothing is to be
    /// answered any more. Non-blocking.
    var peerHasLeft: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return true }
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
    }

    /// Writes one line and closes the connection.
    func answer(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        let bytes = Array((line + "\n").utf8)
        // Blocking for the answer (a short line): the client is waiting to read it.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
        onClose()
    }

    deinit { answer("error daemon stopped") }
}

/// The listening side: one thread runs a `poll(2)` loop over the listening socket and every
/// connection still sending its command, so no client — idle, slow or many — can hold up
/// another. Each connection has a deadline to send its line (``commandDeadline``); beyond
/// ``maxConnections`` open at once a new one is refused with a message. Commands are handed to
/// the daemon with the peer's uid and pid (`SO_PEERCRED`).
final class ControlServer: @unchecked Sendable {
    let path: String
    /// Connections open at once (waiting for a command or for their answer).
    static let maxConnections = 128
    /// How long a client may take to send its command line.
    static let commandDeadline: Duration = .seconds(5)
    /// The longest command line (a `purge` carries its URLs).
    static let maxCommandBytes = 4 << 20

    private let listenFD: Int32
    private let wakeFD: (read: Int32, write: Int32)
    private let state = NSLock()
    private var stopped = false
    private var openConnections = 0

    /// Binds `path` (replacing a stale socket) and starts accepting; each command is yielded.
    init(path: String, onCommand: @escaping @Sendable (ControlConnection) -> Void) throws {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
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
        guard bound == 0, listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw ControlSocketError("cannot listen on \(path): \(message)")
        }
        chmod(path, 0o666)
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            throw ControlSocketError("pipe: \(String(cString: strerror(errno)))")
        }
        for end in pipeFDs {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        listenFD = fd
        wakeFD = (pipeFDs[0], pipeFDs[1])
        let thread = Thread { [self] in self.serve(onCommand) }
        thread.name = "purgewatch-control"
        thread.start()
    }

    private struct Pending {
        var bytes: [UInt8] = []
        var deadline: ContinuousClock.Instant
        var peer: ControlPeer?
    }

    private func serve(_ onCommand: @escaping @Sendable (ControlConnection) -> Void) {
        var pending: [Int32: Pending] = [:]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var fds = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD.read, events: Int16(POLLIN), revents: 0)]
            for fd in pending.keys { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let now = ContinuousClock.now
            let nearest = pending.values.map(\.deadline).min()
            // No client mid-command: sleep until one connects or stop() writes the wake pipe.
            let wait = nearest.map { max(0, min(1_000, now.duration(to: $0).milliseconds)) } ?? -1
            let ready = poll(&fds, nfds_t(fds.count), Int32(wait))
            if ready < 0 && errno != EINTR { return }
            if isStopped {
                for fd in pending.keys { close(fd) }
                return
            }
            if fds[0].revents & Int16(POLLIN) != 0 { acceptAll(&pending, &buffer, onCommand) }
            for entry in fds.dropFirst(2) where entry.revents != 0 {
                receive(entry.fd, &pending, &buffer, onCommand)
            }
            // Clients that never finish their line are closed, so they hold nothing.
            let later = ContinuousClock.now
            for (fd, connection) in pending where connection.deadline <= later {
                pending[fd] = nil
                ControlConnection(fd: fd, command: "") { [weak self] in self?.released() }
                    .answer("error no command within \(Self.commandDeadline)")
            }
        }
    }

    /// Reads what `fd` has sent; a complete line is handed on (freeing its admission slot), a
    /// closed or oversized one is closed.
    private func receive(
        _ fd: Int32, _ pending: inout [Int32: Pending], _ buffer: inout [UInt8],
        _ onCommand: @escaping @Sendable (ControlConnection) -> Void
    ) {
        guard var connection = pending[fd] else { return }
        let count = read(fd, &buffer, buffer.count)
        if count < 0 && (errno == EAGAIN || errno == EINTR) { return }
        if count <= 0 {
            pending[fd] = nil
            close(fd)
            released()
            return
        }
        connection.bytes.append(contentsOf: buffer[0..<count])
        if let newline = connection.bytes.firstIndex(of: UInt8(ascii: "\n")) {
            pending[fd] = nil
            let command = String(decoding: connection.bytes[..<newline], as: UTF8.self)
            // Handed on: it no longer holds an admission slot (a flush --wait may wait for
            // hours, and its client may be long gone; the daemon checks ``peerHasLeft``).
            released()
            let handed = ControlConnection(fd: fd, command: command, peer: connection.peer)
            if command == "ping" { handed.answer("pong") } else { onCommand(handed) }
        } else if connection.bytes.count > Self.maxCommandBytes {
            pending[fd] = nil
            ControlConnection(fd: fd, command: "") { [weak self] in self?.released() }
                .answer("error command longer than \(Self.maxCommandBytes) bytes")
        } else {
            pending[fd] = connection
        }
    }

    private func admit() -> Bool {
        state.withLock { () -> Bool in
            guard openConnections < Self.maxConnections else { return false }
            openConnections += 1
            return true
        }
    }

    private func acceptAll(
        _ pending: inout [Int32: Pending], _ buffer: inout [UInt8],
        _ onCommand: @escaping @Sendable (ControlConnection) -> Void
    ) {
        while true {
            let client = accept(listenFD, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return  // EAGAIN: nothing more to accept
            }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            var admitted = admit()
            if !admitted {
                // Full: clients accepted in this same burst may already have sent their whole
                // line; hand those on first, so only clients that really hold a slot count.
                for fd in Array(pending.keys) { receive(fd, &pending, &buffer, onCommand) }
                admitted = admit()
            }
            guard admitted else {
                ControlConnection(fd: client, command: "")
                    .answer("error too many connections (\(Self.maxConnections)); try again")
                continue
            }
            var credentials = PeerCredentials()
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            let peer: ControlPeer? =
                getsockopt(client, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0
                ? ControlPeer(uid: credentials.uid, pid: credentials.pid) : nil
            pending[client] = Pending(deadline: ContinuousClock.now.advanced(by: Self.commandDeadline), peer: peer)
        }
    }

    private func released() {
        state.withLock { openConnections = max(0, openConnections - 1) }
    }

    private var isStopped: Bool { state.withLock { stopped } }

    func stop() {
        let first = state.withLock { () -> Bool in
            guard !stopped else { return false }
            stopped = true
            return true
        }
        guard first else { return }
        var byte: UInt8 = 1
        _ = write(wakeFD.write, &byte, 1)
        shutdown(listenFD, Int32(SHUT_RDWR))
        unlink(path)
    }

    deinit {
        stop()
        close(listenFD)
        close(wakeFD.read)
        close(wakeFD.write)
    }
}
