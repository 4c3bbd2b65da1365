import Glibc
import Synchronization

/// Tells systemd about the service's state through `NOTIFY_SOCKET`, without libsystemd (SPEC §7).
///
/// Each call sends one datagram of `KEY=value` lines, as `sd_notify(3)` does; an `@` at the start
/// of `NOTIFY_SOCKET` is Linux's abstract namespace. Without `NOTIFY_SOCKET` (not run by systemd,
/// or a unit that is not `Type=notify`) every call does nothing.
///
/// One socket serves every notification for the life of the notifier (and of its copies): opened
/// when the notifier is made, so `STATUS=` and `WATCHDOG=1` still go out when the process has no
/// descriptor left to open (a socket per message would fail with `EMFILE`, and systemd would kill
/// a daemon whose watchdog pings stopped).
///
/// ```swift
/// let notifier = SystemdNotifier()
/// try notifier.ready(status: "watching 1204 files")
/// if let interval = notifier.watchdogInterval { /* call notifier.watchdog() every `interval` */ }
/// ```
public struct SystemdNotifier: Sendable {
    /// `NOTIFY_SOCKET` as systemd set it, or nil.
    public let socketAddress: String?
    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, or nil when no watchdog is
    /// enabled for this process (see ``watchdogInterval(environment:processID:)``).
    public let watchdogInterval: Duration?
    /// The datagram socket every notification goes through; nil without `NOTIFY_SOCKET`.
    let channel: NotifySocket?

    /// - Parameter environment: the systemd variables, by default the process's.
    public init(environment: [String: String] = SystemdEnvironment.current()) {
        let socket = environment["NOTIFY_SOCKET"]
        socketAddress = (socket?.isEmpty ?? true) ? nil : socket
        watchdogInterval = Self.watchdogInterval(environment: environment, processID: getpid())
        channel = socketAddress == nil ? nil : NotifySocket()
    }

    /// Whether systemd is listening (`NOTIFY_SOCKET` is set).
    public var isEnabled: Bool { socketAddress != nil }

    /// `READY=1`: start-up is finished. Sends `STATUS=` too when `status` is given.
    public func ready(status: String? = nil) throws(SystemdNotifierError) {
        try send(["READY=1"] + Self.statusLine(status))
    }

    /// `STATUS=`: a one-line summary shown by `systemctl status` (newlines become spaces).
    public func status(_ text: String) throws(SystemdNotifierError) {
        try send(Self.statusLine(text))
    }

    /// `WATCHDOG=1`: the keep-alive ping, due every ``watchdogInterval``.
    public func watchdog() throws(SystemdNotifierError) {
        try send(["WATCHDOG=1"])
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (now on `CLOCK_MONOTONIC`, in µs): a reload began.
    /// Send ``ready(status:)`` when it is over.
    public func reloading(status: String? = nil) throws(SystemdNotifierError) {
        try send(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())"] + Self.statusLine(status))
    }

    /// `STOPPING=1`: shutdown began.
    public func stopping(status: String? = nil) throws(SystemdNotifierError) {
        try send(["STOPPING=1"] + Self.statusLine(status))
    }

    /// Sends `assignments` (each `KEY=value`, no newlines) as one notification.
    ///
    /// Never blocks: when the receiver's queue is full the notification is dropped (`EAGAIN`),
    /// so a stalled listener cannot stall the daemon's work loop.
    /// - Throws: ``SystemdNotifierError`` when `NOTIFY_SOCKET` is set but unusable or the send fails.
    public func send(_ assignments: [String]) throws(SystemdNotifierError) {
        guard let socketAddress, let channel else { return }
        guard let address = UnixSocketAddress(socketAddress) else {
            throw SystemdNotifierError(operation: .address, errno: EINVAL, socketAddress: socketAddress)
        }
        let message = Array(assignments.joined(separator: "\n").utf8)
        if let failure = channel.send(message, to: address) {
            throw SystemdNotifierError(operation: failure.operation, errno: failure.errno, socketAddress: socketAddress)
        }
    }

    /// Half of `WATCHDOG_USEC`, if the watchdog is meant for `processID`.
    ///
    /// As `sd_watchdog_enabled(3)`: `WATCHDOG_USEC` must be a positive integer, and when
    /// `WATCHDOG_PID` is set it must equal `processID` (a child that inherited the variables must
    /// not ping for its parent). Half the timeout leaves a whole interval of slack.
    public static func watchdogInterval(environment: [String: String], processID: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let microseconds = UInt64(text), microseconds > 0,
            microseconds <= UInt64(Int64.max)
        else { return nil }
        if let pid = environment["WATCHDOG_PID"] {
            guard let parsed = Int32(pid), parsed == processID else { return nil }
        }
        return .microseconds(Int64(microseconds / 2))
    }

    /// `CLOCK_MONOTONIC` now, in microseconds: what systemd compares `MONOTONIC_USEC=` with.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    /// `STATUS=` with line breaks and other control characters turned into spaces.
    static func statusLine(_ text: String?) -> [String] {
        guard let text else { return [] }
        var line = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F { line += " " } else { line.unicodeScalars.append(scalar) }
        }
        return ["STATUS=\(line)"]
    }
}

/// The notifier's one unconnected `AF_UNIX` datagram socket (close-on-exec), shared by its copies.
///
/// Opened at once; opened again only when it is missing (the first open failed) or no longer
/// ours (`EBADF`, `ENOTSOCK`: closed behind our back). A receiver that is gone (`ENOENT`,
/// `ECONNREFUSED`) or full (`EAGAIN`) is not the socket's fault: it is kept.
final class NotifySocket: Sendable {
    /// The descriptor and the identity (`st_dev`, `st_ino`) of the socket it was opened as.
    private struct Open {
        var fd: Int32 = -1
        var device: UInt64 = 0
        var inode: UInt64 = 0
    }

    private let state: Mutex<Open>

    init() {
        state = Mutex(Self.open())
    }

    deinit {
        let fd = state.withLock { $0.fd }
        if fd >= 0 { close(fd) }
    }

    /// The descriptor in use (-1 when none could be opened): for tests.
    var currentDescriptor: Int32 { state.withLock { $0.fd } }

    /// Sends `message` to `address` without blocking; nil when it went out, else the failed step.
    func send(_ message: [UInt8], to address: UnixSocketAddress) -> (operation: SystemdNotifierError.Operation, errno: Int32)? {
        state.withLock { open -> (operation: SystemdNotifierError.Operation, errno: Int32)? in
            for _ in 0..<2 {
                // A number closed behind our back and reused (by a TLS connection, say) is not
                // ours: sending there would write into someone else's stream.
                if open.fd >= 0, !Self.isStill(open) { open = Open() }
                if open.fd < 0 { open = Self.open() }
                guard open.fd >= 0 else { return (.socket, errno) }
                let failure = Self.send(message, on: open.fd, to: address)
                // Not ours any more: forget the number (never close it: it may be someone else's now).
                guard failure == EBADF || failure == ENOTSOCK else { return failure == 0 ? nil : (.send, failure) }
                open = Open()
            }
            return (.send, EBADF)
        }
    }

    private static func open() -> Open {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return Open() }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return Open()
        }
        return Open(fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    /// Whether `open.fd` is still the socket it was opened as.
    private static func isStill(_ open: Open) -> Bool {
        var info = stat()
        guard fstat(open.fd, &info) == 0 else { return false }
        return UInt64(info.st_dev) == open.device && UInt64(info.st_ino) == open.inode
    }

    /// 0, or the `errno` of the failed `sendto`.
    private static func send(_ message: [UInt8], on fd: Int32, to address: UnixSocketAddress) -> Int32 {
        message.withUnsafeBytes { buffer in
            address.withSockAddr { sockaddr, length in
                var sent: Int
                repeat {
                    sent = sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), sockaddr, length)
                } while sent < 0 && errno == EINTR
                return sent < 0 ? errno : 0
            }
        }
    }
}
