import Glibc
import Testing

@testable import Reporting

/// The notifier against a fake systemd: a datagram socket bound at a path, and one in the abstract
/// namespace (`NOTIFY_SOCKET=@…`, as systemd ≥ 254 and some containers use).
@Suite struct SystemdNotifierTests {
    @Test(arguments: [false, true])
    func readyStatusWatchdogStopping(abstract: Bool) throws {
        let systemd = try DatagramReceiver(abstract: abstract)
        #expect(systemd.address.hasPrefix(abstract ? "@" : "/"))
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": systemd.address])
        #expect(notifier.isEnabled)

        try notifier.ready()
        #expect(try systemd.receiveText() == "READY=1")
        try notifier.ready(status: "watching 1204 files")
        #expect(try systemd.receiveText() == "READY=1\nSTATUS=watching 1204 files")
        try notifier.status("1204 files, 3 pending\nlast batch done")
        #expect(try systemd.receiveText() == "STATUS=1204 files, 3 pending last batch done")
        try notifier.watchdog()
        #expect(try systemd.receiveText() == "WATCHDOG=1")
        try notifier.stopping()
        #expect(try systemd.receiveText() == "STOPPING=1")
        #expect(systemd.isEmpty())
    }

    @Test(arguments: [false, true])
    func reloadingCarriesTheMonotonicClock(abstract: Bool) throws {
        let systemd = try DatagramReceiver(abstract: abstract)
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": systemd.address])
        let before = SystemdNotifier.monotonicMicroseconds()
        try notifier.reloading(status: "reloading configuration")
        let after = SystemdNotifier.monotonicMicroseconds()

        let lines = try systemd.receiveText().split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == "RELOADING=1")
        #expect(lines.last == "STATUS=reloading configuration")
        let stamp = try #require(lines.first { $0.hasPrefix("MONOTONIC_USEC=") }?.dropFirst("MONOTONIC_USEC=".count))
        let microseconds = try #require(UInt64(stamp))
        #expect(before <= microseconds && microseconds <= after)

        var clock = timespec()
        clock_gettime(CLOCK_MONOTONIC, &clock)
        #expect(UInt64(clock.tv_sec) >= microseconds / 1_000_000)
    }

    /// With no descriptor free, `STATUS=` and `WATCHDOG=1` must still go out (systemd kills a daemon
    /// whose pings stop): every notification, from the notifier and its copies, goes through the
    /// one close-on-exec socket opened with it — the same descriptor, the same socket — never a new one.
    @Test func everyNotificationGoesThroughTheSocketOpenedAtStart() throws {
        let systemd = try DatagramReceiver()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": systemd.address])
        let channel = try #require(notifier.channel)
        let fd = channel.currentDescriptor
        #expect(fd >= 0, "opened with the notifier, before any descriptor runs short")
        let socket = try #require(Self.socketInode(fd))
        #expect(fcntl(fd, F_GETFD) & FD_CLOEXEC != 0, "close-on-exec")

        try notifier.ready(status: "watching")
        #expect(try systemd.receiveText() == "READY=1\nSTATUS=watching")
        let copy = notifier
        for index in 0..<20 {
            try copy.status("\(index) URLs pending")
            try notifier.watchdog()
            #expect(try systemd.receiveText() == "STATUS=\(index) URLs pending")
            #expect(try systemd.receiveText() == "WATCHDOG=1")
        }
        #expect(channel.currentDescriptor == fd, "no descriptor of its own per message")
        #expect(Self.socketInode(fd) == socket, "and still the socket it opened")
        #expect(systemd.isEmpty())
    }

    /// A socket closed behind the notifier's back (its number now another file: `ENOTSOCK`) is
    /// replaced, never closed (the number is no longer its own), and the message still arrives.
    @Test func aSocketNoLongerItsOwnIsReplaced() throws {
        let systemd = try DatagramReceiver()
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": systemd.address])
        let channel = try #require(notifier.channel)
        let fd = channel.currentDescriptor
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        #expect(devNull >= 0 && dup2(devNull, fd) == fd)
        close(devNull)
        defer { close(fd) }  // /dev/null now, the test's to close

        try notifier.watchdog()
        #expect(try systemd.receiveText() == "WATCHDOG=1")
        let replacement = channel.currentDescriptor
        #expect(replacement >= 0 && replacement != fd)
        #expect(Self.socketInode(replacement) != nil)
        #expect(Self.socketInode(fd) == nil, "the other file at the old number is left alone")
        try notifier.status("again")
        #expect(try systemd.receiveText() == "STATUS=again")
        #expect(channel.currentDescriptor == replacement)
    }

    /// The inode of the socket at `fd`, or nil when `fd` is not a socket.
    static func socketInode(_ fd: Int32) -> UInt? {
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return UInt(info.st_ino)
    }

    @Test func withoutNotifySocketEverythingIsANoOp() throws {
        let notifier = SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        #expect(notifier.channel == nil, "no socket opened for nothing")
        try notifier.ready()
        try notifier.watchdog()
        try notifier.reloading()
        try notifier.stopping()
        #expect(SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]).isEnabled == false)
    }

    @Test func aSocketNobodyListensOnIsAnError() {
        let address = "/nonexistent-\(getpid())/notify"
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": address])
        #expect(throws: SystemdNotifierError(operation: .send, errno: ENOENT, socketAddress: address)) {
            try notifier.ready()
        }
    }

    @Test(arguments: ["relative/notify", "@", "/" + String(repeating: "x", count: 200)])
    func anUnusableAddressIsAnError(address: String) throws {
        let notifier = SystemdNotifier(environment: ["NOTIFY_SOCKET": address])
        let error = try #require(throws: SystemdNotifierError.self) { try notifier.watchdog() }
        #expect(error.operation == .address)
        #expect(error.description.contains("NOTIFY_SOCKET="))
    }

    @Test(
        arguments: [
            (["WATCHDOG_USEC": "20000000"], 100, Duration?.some(.seconds(10))),
            (["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "100"], 100, .seconds(10)),
            (["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "101"], 100, nil),
            (["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "x"], 100, nil),
            (["WATCHDOG_USEC": "3"], 100, .microseconds(1)),
            (["WATCHDOG_USEC": "0"], 100, nil),
            (["WATCHDOG_USEC": "-5"], 100, nil),
            (["WATCHDOG_USEC": "soon"], 100, nil),
            (["WATCHDOG_PID": "100"], 100, nil),
            ([:], 100, nil),
        ] as [([String: String], Int32, Duration?)])
    func watchdogInterval(environment: [String: String], pid: Int32, expected: Duration?) {
        #expect(SystemdNotifier.watchdogInterval(environment: environment, processID: pid) == expected)
    }

    @Test func theWatchdogIntervalIsForThisProcess() {
        let mine = SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid())"])
        #expect(mine.watchdogInterval == .seconds(15))
        let parents = SystemdNotifier(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "\(getpid() + 1)"])
        #expect(parents.watchdogInterval == nil)
    }
}
