import Glibc
import Synchronization

@testable import SiteWatch

/// The kernel's inotify with what a test cannot make the kernel do on demand played around it —
/// the reader's one seam (``InotifyKernel``), so the monitor itself carries no test hook:
/// - ``pause()``: the reader thread is held inside its wait, as a reader busy elsewhere would be
///   (it reads nothing and answers no barrier; the kernel's queue fills and may overflow);
///   ``resume()`` lets it go (the harness resumes before it stops the monitor);
/// - ``readLag``: after each read that returned events, the reader's wait ignores the instance
///   this long (a barrier's drain still reads it at once);
/// - ``watchLimit``: the instance holds at most this many watches — a directory already watched
///   is watched again, a new one is refused with `ENOSPC` without being added, as the kernel
///   refuses at its limit (the kernel counts per user; this, per instance) — and the limit
///   reported is this one;
/// - ``queue(_:)``: an event read after what the kernel has queued, as if the kernel had queued it.
/// Every real watch and event goes through the kernel.
final class ScriptedInotify: InotifyKernel {
    private struct State {
        var paused = false
        var lagUntil: ContinuousClock.Instant?
        var queued: [UInt8] = []
        /// The watches this instance holds, by directory (device, inode), and the reverse.
        var held: [DirectoryID: Int32] = [:]
        var directories: [Int32: DirectoryID] = [:]
    }
    private struct DirectoryID: Hashable {
        var device: UInt64
        var inode: UInt64
    }
    private let state = Mutex(State())
    private let kernel = LinuxInotify()
    let readLag: Duration
    let watchLimit: Int?
    /// Wakes a reader held in ``wait(_:wake:timeoutMilliseconds:)`` (a resume, a queued event).
    private let pipeFDs: (read: Int32, write: Int32)

    init(readLag: Duration = .zero, watchLimit: Int? = nil) {
        self.readLag = readLag
        self.watchLimit = watchLimit
        var fds: [Int32] = [-1, -1]
        precondition(pipe(&fds) == 0)
        for fd in fds {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        pipeFDs = (fds[0], fds[1])
    }

    deinit {
        close(pipeFDs.read)
        close(pipeFDs.write)
    }

    /// Holds the reader thread at its next wait (and there until ``resume()``).
    func pause() {
        state.withLock { $0.paused = true }
        poke()  // out of a wait under way: held from now on
    }

    func resume() {
        state.withLock { $0.paused = false }
        poke()
    }

    /// Queues `event` after what the kernel has queued; the reader reads it at its next pass.
    func queue(_ event: RawInotifyEvent) {
        state.withLock { $0.queued += Self.encode(event) }
        poke()
    }

    /// An overflow as the kernel reports it (`IN_Q_OVERFLOW`, wd -1).
    func queueOverflow() { queue(RawInotifyEvent(wd: -1, mask: InotifyMask.overflow)) }

    private func poke() {
        var one: UInt8 = 1
        _ = write(pipeFDs.write, &one, 1)
    }

    /// The kernel's layout (inotify(7)): the header in the machine's byte order, then the name
    /// NUL-padded to a multiple of the header's size (16 bytes), as the kernel pads it.
    static func encode(_ event: RawInotifyEvent) -> [UInt8] {
        let length = event.name.isEmpty ? 0 : (event.name.count + 1 + 15) / 16 * 16
        var bytes: [UInt8] = []
        for field in [UInt32(bitPattern: event.wd), event.mask, event.cookie, UInt32(length)] {
            withUnsafeBytes(of: field) { bytes += $0 }
        }
        bytes += event.name
        bytes += [UInt8](repeating: 0, count: length - event.name.count)
        return bytes
    }

    func addWatch(_ instance: Int32, path: String, mask: UInt32) -> (wd: Int32, errno: Int32) {
        var info = stat()
        guard stat(path, &info) == 0 else { return kernel.addWatch(instance, path: path, mask: mask) }
        let directory = DirectoryID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        let refused = state.withLock { state -> Bool in
            guard let watchLimit, state.held[directory] == nil else { return false }
            return state.held.count >= watchLimit
        }
        if refused { return (-1, ENOSPC) }
        let (wd, code) = kernel.addWatch(instance, path: path, mask: mask)
        guard wd >= 0 else { return (wd, code) }
        state.withLock { state in
            state.held[directory] = wd
            state.directories[wd] = directory
        }
        return (wd, 0)
    }

    func removeWatch(_ instance: Int32, _ wd: Int32) {
        forget(wd)
        kernel.removeWatch(instance, wd)
    }

    private func forget(_ wd: Int32) {
        state.withLock { state in
            if let directory = state.directories.removeValue(forKey: wd) { state.held[directory] = nil }
        }
    }

    func wait(_ instance: Int32, wake: Int32, timeoutMilliseconds: Int32) -> InotifyReadiness {
        while true {
            while state.withLock({ $0.paused }) {
                var fds = [pollfd(fd: pipeFDs.read, events: Int16(POLLIN), revents: 0)]
                _ = poll(&fds, 1, 50)
                drainPokes()
            }
            let (queued, lagUntil) = state.withLock { (!$0.queued.isEmpty, $0.lagUntil) }
            if queued { return InotifyReadiness(readable: true, woken: false) }
            var timeout = timeoutMilliseconds
            let now = ContinuousClock.now
            let lagging = lagUntil.map { now < $0 } ?? false
            if lagging, let lagUntil {
                let left = now.duration(to: lagUntil)
                let milliseconds = Int32(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
                timeout = timeout < 0 ? milliseconds : min(timeout, milliseconds)
            }
            var fds = [
                pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
                pollfd(fd: pipeFDs.read, events: Int16(POLLIN), revents: 0),
                pollfd(fd: instance, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, lagging ? 2 : 3, timeout)
            if ready > 0, fds[1].revents != 0 { drainPokes() }
            // Paused meanwhile: held before anything is read.
            if state.withLock({ $0.paused }) { continue }
            guard ready > 0 else { return InotifyReadiness(readable: false, woken: false) }
            let readable = (!lagging && fds[2].revents != 0) || state.withLock { !$0.queued.isEmpty }
            return InotifyReadiness(readable: readable, woken: fds[0].revents != 0)
        }
    }

    private func drainPokes() {
        var drain = [UInt8](repeating: 0, count: 64)
        _ = Glibc.read(pipeFDs.read, &drain, 64)
    }

    func read(_ instance: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let count = kernel.read(instance, into: buffer)
        if count > 0 {
            // Watches the kernel dropped by itself (a directory deleted) no longer count.
            RawInotifyEvent.decode(UnsafeRawBufferPointer(rebasing: buffer[0..<count])) { event in
                if event.mask & InotifyMask.ignored != 0 { forget(event.wd) }
            }
            if readLag > .zero { state.withLock { $0.lagUntil = ContinuousClock.now.advanced(by: readLag) } }
            return count
        }
        let scripted = state.withLock { state -> [UInt8] in
            defer { state.queued = [] }
            return state.queued
        }
        guard !scripted.isEmpty else { return count }
        precondition(scripted.count <= buffer.count)
        scripted.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return scripted.count
    }

    func queuedBytes(_ instance: Int32) -> Int? {
        let scripted = state.withLock { $0.queued.count }
        return kernel.queuedBytes(instance).map { $0 + scripted }
    }

    func watchLimit(_ instance: Int32) -> InotifyWatchLimit {
        guard let watchLimit else { return kernel.watchLimit(instance) }
        return InotifyWatchLimit(limit: watchLimit, setting: "fs.inotify.max_user_watches", heldElsewhere: 0)
    }
}
