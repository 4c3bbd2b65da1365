import ControlProtocol
import Foundation
import Glibc
import Logging
import Reporting

/// The daemon's control socket: a Unix stream socket beside the state file
/// (`<state file>.sock`), through which `flush` and `purge` reach the running daemon.
///
/// One ``ControlCommand`` line in, one ``ControlAnswer`` line out, both through ``ControlCodec``
/// (the CLI's side is `Operator.ControlClient`). Access follows the state directory: the socket
/// itself is mode 0666, so whoever can enter the directory can connect (SPEC §2: `flush` works
/// for any user who can read the state directory).
public enum ControlSocket {
    /// The socket path for a state file.
    public static func path(forState statePath: String) -> String { statePath + ".sock" }

    /// The address of `path`. Paths longer than `sun_path` are reached through the directory's
    /// descriptor (`/proc/self/fd/N/name`); `keepAlive` holds that descriptor open until closed.
    package static func address(for path: String) throws -> (UnixSocketAddress, keepAlive: Int32?) {
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
}

public struct ControlSocketError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public var noDaemon: Bool
    public var timedOut: Bool
    /// A daemon answered in the text protocol of the releases before the JSON one: it runs the
    /// old binary (an upgrade not yet restarted). It is running; restarting it fixes the rest.
    public var earlierRelease: Bool

    package init(_ description: String, noDaemon: Bool = false, timedOut: Bool = false, earlierRelease: Bool = false) {
        self.description = description
        self.noDaemon = noDaemon
        self.timedOut = timedOut
        self.earlierRelease = earlierRelease
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
    let command: ControlCommand
    let peer: ControlPeer?
    private let fd: Int32
    private let lock = NSLock()
    private var isClosed = false
    private let onClose: @Sendable () -> Void

    init(fd: Int32, command: ControlCommand, peer: ControlPeer? = nil, onClose: @escaping @Sendable () -> Void = {}) {
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

    /// Writes the answer's line and closes the connection.
    func answer(_ answer: ControlAnswer) {
        lock.lock()
        defer { lock.unlock() }
        guard !isClosed else { return }
        isClosed = true
        Self.send(answer, to: fd)
        onClose()
    }

    /// Writes one answer line to `fd` and closes it (also for the connections refused before
    /// they had a command).
    static func send(_ answer: ControlAnswer, to fd: Int32) {
        let bytes = ControlCodec.encode(answer)
        // Blocking for the answer (one line): the client is waiting to read it.
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        close(fd)
    }

    deinit { answer(.error(.stopping, message: "daemon stopped")) }
}

/// The listening side: one thread runs a `poll(2)` loop over the listening socket and every
/// connection still sending its command, so no client — idle, slow or many — can hold up
/// another. Each connection has a deadline to send its line (``commandDeadline``); beyond
/// ``maxConnections`` open at once a new one is refused with a message. Each line is read by
/// ``ControlCodec``: `ping` is answered here, a line the codec refuses (garbage, an unknown
/// command or version, too long) is answered with the codec's error, and every other command is
/// handed to the daemon with the peer's uid and pid (`SO_PEERCRED`).
///
/// Out of file descriptors, the server still answers: it holds one spare descriptor (`/dev/null`,
/// opened first, so its number is low) and closes it to accept a client that `EMFILE` or `ENFILE`
/// would refuse, then takes it back once that client is gone — `status` gets its usual answer at
/// 0 free descriptors. When even that fails, ``AcceptBackoff`` keeps the loop from spinning on
/// the connection left in the backlog, and the condition is logged once, not per attempt.
final class ControlServer: @unchecked Sendable {
    let path: String
    /// Connections admitted at once while they send their line (the protocol's limit).
    static let maxConnections = ControlCodec.maxConnections
    /// How long a client may take to send its command line.
    static let commandDeadline = ControlCodec.commandDeadline
    /// The longest command line (a `purge` carries its URLs).
    static let maxCommandBytes = ControlCodec.maxCommandBytes

    private let listenFD: Int32
    private let wakeFD: (read: Int32, write: Int32)
    private let state = NSLock()
    private var stopped = false
    private var openConnections = 0
    /// The daemon gave its descriptor reserve back to the runtime: clients are accepted only
    /// through the spare, one at a time, so that they never use up the runtime's room.
    private var spareOnly = false
    private let logger: Logger
    /// The descriptor held for a client that could not be accepted otherwise (-1 while it is
    /// lent to one, or could not be taken back yet). Touched only by the server's thread.
    private var spare: Int32
    /// Whether the listening socket is polled (touched only by the server's thread).
    private var backoff = AcceptBackoff()

    /// Binds `path` (replacing a stale socket) and starts accepting; each command is yielded.
    init(path: String, logger: Logger, onCommand: @escaping @Sendable (ControlConnection) -> Void) throws {
        self.path = path
        self.logger = logger
        // Opened before anything else, for a low number: under a lowered limit it is below it.
        let spareFD = Self.openSpare()
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else {
            let message = String(cString: strerror(errno))
            if spareFD >= 0 { close(spareFD) }
            throw ControlSocketError("socket: \(message)")
        }
        var ready = false
        defer {
            if !ready {
                close(fd)
                if spareFD >= 0 { close(spareFD) }
            }
        }
        let (address, keepAlive) = try ControlSocket.address(for: path)
        defer { if let keepAlive { close(keepAlive) } }
        // A socket file left by a crashed daemon: replace it, but never steal a live one.
        if Self.someoneAnswers(at: address) {
            throw ControlSocketError("another purgewatch daemon is already running for this state file (\(path))")
        }
        unlink(path)
        let bound = address.withSockAddr { bind(fd, $0, $1) }
        guard bound == 0, listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            throw ControlSocketError("cannot listen on \(path): \(message)")
        }
        chmod(path, 0o666)
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw ControlSocketError("pipe: \(String(cString: strerror(errno)))") }
        for end in pipeFDs {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
        }
        listenFD = fd
        wakeFD = (pipeFDs[0], pipeFDs[1])
        spare = spareFD
        ready = true
        let thread = Thread { [self] in self.serve(onCommand) }
        thread.name = "purgewatch-control"
        thread.start()
    }

    /// Whether a live daemon answers at `address` (a socket file left by a crashed one refuses the
    /// connection). Any answer line counts, whatever its version: only silence for a second, or
    /// no listener, lets the socket be replaced.
    private static func someoneAnswers(at address: UnixSocketAddress) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard address.withSockAddr({ connect(fd, $0, $1) }) == 0,
            let line = try? ControlCodec.encode(ControlCommand.ping),
            line.withUnsafeBytes({ Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == line.count
        else { return false }
        let deadline = ContinuousClock.now.advanced(by: .seconds(1))
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { return false }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(max(1, remaining.milliseconds)))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { return false }
            var byte: UInt8 = 0
            return read(fd, &byte, 1) == 1
        }
    }

    private struct Pending {
        var bytes: [UInt8] = []
        var deadline: ContinuousClock.Instant
        var peer: ControlPeer?
        /// Accepted through the spare descriptor (out of descriptors): only `ping` is served on
        /// it, quickly, so that `status` keeps being answered.
        var throughSpare = false
    }

    /// How long a client on the spare's slot has to send its line (shorter than `status`'s 2 s).
    static let spareDeadline: Duration = .seconds(1)

    private func serve(_ onCommand: @escaping @Sendable (ControlConnection) -> Void) {
        var pending: [Int32: Pending] = [:]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var pollFailure: Int32?
        while true {
            retakeSpare()
            let now = ContinuousClock.now
            // Paused (out of descriptors): -1 leaves the listening socket out of the poll.
            let listening = backoff.polls(at: now)
            var fds = [
                pollfd(fd: listening ? listenFD : -1, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeFD.read, events: Int16(POLLIN), revents: 0),
            ]
            for fd in pending.keys { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            let nearest = (pending.values.map(\.deadline) + [backoff.pauseEnd(at: now)].compactMap { $0 }).min()
            // No client mid-command and no pause: sleep until one connects or the wake pipe is written.
            let wait = nearest.map { max(0, min(1_000, now.duration(to: $0).milliseconds)) } ?? -1
            let ready = poll(&fds, nfds_t(fds.count), Int32(wait))
            if ready < 0 && errno != EINTR {
                // ENOMEM, or EINVAL for more descriptors than RLIMIT_NOFILE: wait a second, never spin.
                let code = errno
                if pollFailure != code {
                    pollFailure = code
                    logger.error("the control socket cannot wait for clients now (poll: \(String(cString: strerror(code)))); retried every second")
                }
                if !isStopped { usleep(1_000_000) }
            } else if ready >= 0 {
                pollFailure = nil
            }
            if isStopped {
                for fd in pending.keys { close(fd) }
                return
            }
            if fds[1].revents & Int16(POLLIN) != 0 { drainWakePipe() }
            if fds[0].revents & Int16(POLLIN) != 0 { acceptAll(&pending, &buffer, onCommand) }
            for entry in fds.dropFirst(2) where entry.revents != 0 {
                receive(entry.fd, &pending, &buffer, onCommand)
            }
            // Clients that never finish their line are closed, so they hold nothing.
            let later = ContinuousClock.now
            for (fd, connection) in pending where connection.deadline <= later {
                pending[fd] = nil
                ControlConnection.send(.error(.noCommand, message: "no command within \(Self.commandDeadline)"), to: fd)
                released()
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
            // Handed on: it no longer holds an admission slot (a flush --wait may wait for
            // hours, and its client may be long gone; the daemon checks ``peerHasLeft``).
            released()
            let command: ControlCommand
            do {
                command = try ControlCodec.decodeCommand(connection.bytes[..<newline])
            } catch {
                // Garbage from any member of the socket's group: a clear answer, and nothing more.
                ControlConnection.send(ControlAnswer(refusing: error), to: fd)
                return
            }
            if command == .ping {
                ControlConnection.send(.pong, to: fd)
            } else if connection.throughSpare {
                // The one slot kept for `status`: a command that may wait (a flush --wait waits
                // for comparisons, which wait for descriptors) must not hold it.
                ControlConnection.send(
                    .error(.busy, message: "the daemon is out of file descriptors: only status is answered now; try again"), to: fd)
            } else {
                // On the spare's slot (it is missing): its close wakes the loop to take the spare back.
                var onClose: @Sendable () -> Void = {}
                if spare < 0 { onClose = { [weak self] in self?.wake() } }
                onCommand(ControlConnection(fd: fd, command: command, peer: connection.peer, onClose: onClose))
            }
        } else if connection.bytes.count > Self.maxCommandBytes {
            pending[fd] = nil
            ControlConnection.send(.error(.tooLong, message: "command longer than \(Self.maxCommandBytes) bytes"), to: fd)
            released()
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
            var lent = false
            if state.withLock({ spareOnly }) {
                // The runtime's room is not ours to hand out: the spare's slot, or wait.
                guard spare >= 0 else {
                    if backoff.refused(at: ContinuousClock.now) == .outOfDescriptors {
                        logger.warning(
                            "out of file descriptors: control-socket clients are answered one at a time through the descriptor held for them; the others wait"
                        )
                    }
                    return
                }
                close(spare)
                spare = -1
                lent = true
            }
            var client = accept(listenFD, nil, nil)
            var throughSpare = lent && client >= 0
            if client < 0, lent {
                let code = errno
                retakeSpare()  // nothing accepted through it
                errno = code
            }
            if client < 0, errno == EMFILE || errno == ENFILE, spare >= 0 {
                // Out of descriptors: lend the spare's slot to this client; taken back once it is gone.
                close(spare)
                spare = -1
                client = accept(listenFD, nil, nil)
                throughSpare = client >= 0
            }
            if client < 0 {
                let code = errno
                if code == EINTR || code == ECONNABORTED { continue }
                if code == EMFILE || code == ENFILE || code == ENOMEM || code == ENOBUFS || code == EPROTO {
                    // The connection stays in the backlog: leave it there a while instead of spinning.
                    if backoff.refused(at: ContinuousClock.now) == .outOfDescriptors {
                        logger.warning(
                            "the control socket cannot accept clients now (\(String(cString: strerror(code)))): they wait, retried with a backoff; `status` and `flush` are answered through a spare descriptor when one is free"
                        )
                    }
                }
                return  // EAGAIN: nothing more to accept
            }
            if throughSpare {
                if backoff.acceptedThroughSpare() == .outOfDescriptors {
                    logger.warning(
                        "out of file descriptors: control-socket clients are answered through the one descriptor held for them, one at a time")
                }
            } else if backoff.accepted() == .recovered {
                logger.notice("the control socket accepts clients again (file descriptors are free)")
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
                ControlConnection.send(.error(.busy, message: "too many connections (\(Self.maxConnections)); try again"), to: client)
                continue
            }
            var credentials = PeerCredentials()
            var length = socklen_t(MemoryLayout<PeerCredentials>.size)
            let peer: ControlPeer? =
                getsockopt(client, SOL_SOCKET, SO_PEERCRED, &credentials, &length) == 0
                ? ControlPeer(uid: credentials.uid, pid: credentials.pid) : nil
            pending[client] = Pending(
                deadline: ContinuousClock.now.advanced(by: throughSpare ? Self.spareDeadline : Self.commandDeadline), peer: peer,
                throughSpare: throughSpare)
        }
    }

    /// `/dev/null`, read-only and close-on-exec: a slot kept for one client (-1 when none is free).
    private static func openSpare() -> Int32 {
        open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Takes the spare back once the client it was lent to is gone (or a slot is free at last);
    /// a waiting client may then be accepted through it at once.
    private func retakeSpare() {
        guard spare < 0 else { return }
        spare = Self.openSpare()
        if spare >= 0 { backoff.spareRetaken() }
    }

    /// Empties the wake pipe (written by a connection's close, so the spare is taken back).
    private func drainWakePipe() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while read(wakeFD.read, &bytes, bytes.count) > 0 {}
    }

    /// Wakes the server's poll (the wake pipe is non-blocking; a full pipe is awake already).
    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeFD.write, &byte, 1)
    }

    /// While `on`, clients are accepted only through the spare descriptor, one at a time (the
    /// daemon has given its reserve back to the runtime: an accepted client would take the room
    /// left for it — libdispatch crashes the process when it cannot open a file).
    func acceptOnlyThroughSpare(_ on: Bool) {
        let changed = state.withLock { () -> Bool in
            defer { spareOnly = on }
            return spareOnly != on
        }
        if changed { wake() }
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
        wake()
        shutdown(listenFD, Int32(SHUT_RDWR))
        unlink(path)
    }

    deinit {
        stop()
        if spare >= 0 { close(spare) }
        close(listenFD)
        close(wakeFD.read)
        close(wakeFD.write)
    }
}
