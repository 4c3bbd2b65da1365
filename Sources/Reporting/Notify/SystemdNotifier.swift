import Glibc

/// Tells systemd about the service's state through `NOTIFY_SOCKET`, without libsystemd (SPEC §7).
///
/// Each call sends one datagram of `KEY=value` lines, as `sd_notify(3)` does; an `@` at the start
/// of `NOTIFY_SOCKET` is Linux's abstract namespace. Without `NOTIFY_SOCKET` (not run by systemd,
/// or a unit that is not `Type=notify`) every call does nothing.
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

    /// - Parameter environment: the systemd variables, by default the process's.
    public init(environment: [String: String] = SystemdEnvironment.current()) {
        let socket = environment["NOTIFY_SOCKET"]
        socketAddress = (socket?.isEmpty ?? true) ? nil : socket
        watchdogInterval = Self.watchdogInterval(environment: environment, processID: getpid())
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
        guard let socketAddress else { return }
        guard let address = UnixSocketAddress(socketAddress) else {
            throw SystemdNotifierError(operation: .address, errno: EINVAL, socketAddress: socketAddress)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            throw SystemdNotifierError(operation: .socket, errno: errno, socketAddress: socketAddress)
        }
        defer { close(fd) }
        let message = Array(assignments.joined(separator: "\n").utf8)
        let failure: Int32 = message.withUnsafeBytes { buffer in
            address.withSockAddr { sockaddr, length in
                var sent: Int
                repeat {
                    sent = sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), sockaddr, length)
                } while sent < 0 && errno == EINTR
                return sent < 0 ? errno : 0
            }
        }
        if failure != 0 {
            throw SystemdNotifierError(operation: .send, errno: failure, socketAddress: socketAddress)
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
