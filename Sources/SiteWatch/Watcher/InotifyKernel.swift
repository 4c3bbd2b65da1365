import Glibc

/// What the inotify reader asks of the kernel about its instance (inotify(7)): the monitor's one
/// seam. The daemon uses the kernel itself (``LinuxInotify``); tests wrap it, in their own target,
/// to play what a test cannot make the kernel do on demand — a reader busy elsewhere, a lower
/// watch limit, an event the kernel would only queue under rare conditions — around real watches
/// and real events.
package protocol InotifyKernel: Sendable {
    /// inotify_add_watch(2).
    /// - Returns: the watch descriptor, or -1 and the errno.
    func addWatch(_ instance: Int32, path: String, mask: UInt32) -> (wd: Int32, errno: Int32)
    /// inotify_rm_watch(2).
    func removeWatch(_ instance: Int32, _ wd: Int32)
    /// Waits at most `timeoutMilliseconds` (-1: no limit) until the instance has events to read
    /// or the reader's wake pipe `wake` is readable (poll(2)); an interrupted wait returns early.
    func wait(_ instance: Int32, wake: Int32, timeoutMilliseconds: Int32) -> InotifyReadiness
    /// read(2) of the instance (non-blocking).
    /// - Returns: the bytes read (whole events); 0 or less when nothing is queued.
    func read(_ instance: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int
    /// The bytes queued on the instance now (`FIONREAD`): what a barrier drains. nil when unknown.
    func queuedBytes(_ instance: Int32) -> Int?
    /// The watch limit that binds this process's user, and the watches the user holds elsewhere.
    func watchLimit(_ instance: Int32) -> InotifyWatchLimit
}

/// What ``InotifyKernel/wait(_:wake:timeoutMilliseconds:)`` found.
package struct InotifyReadiness: Sendable, Equatable {
    /// The instance has events to read.
    package var readable: Bool
    /// The wake pipe is readable (a barrier, a stop): the reader drains it and looks at its state.
    package var woken: Bool
    /// The wait itself failed (`poll(2)`'s errno, never `EINTR`): the reader says so.
    package var failure: Int32?

    package init(readable: Bool, woken: Bool, failure: Int32? = nil) {
        self.readable = readable
        self.woken = woken
        self.failure = failure
    }
}

/// The watch limit in force, for the degraded-mode message (`sysctl` line to run).
package struct InotifyWatchLimit: Sendable, Equatable {
    /// The limit that binds.
    package var limit: Int
    /// Its setting: `fs.inotify.max_user_watches`, or a user namespace's `user.max_inotify_watches`.
    package var setting: String
    /// Watches this user holds on other inotify instances.
    package var heldElsewhere: Int

    package init(limit: Int, setting: String, heldElsewhere: Int) {
        self.limit = limit
        self.setting = setting
        self.heldElsewhere = heldElsewhere
    }
}

/// The Linux kernel's inotify, as the daemon uses it.
package struct LinuxInotify: InotifyKernel {
    package init() {}

    package func addWatch(_ instance: Int32, path: String, mask: UInt32) -> (wd: Int32, errno: Int32) {
        let wd = inotify_add_watch(instance, path, mask)
        return (wd, wd >= 0 ? 0 : errno)
    }

    package func removeWatch(_ instance: Int32, _ wd: Int32) {
        inotify_rm_watch(instance, wd)
    }

    package func wait(_ instance: Int32, wake: Int32, timeoutMilliseconds: Int32) -> InotifyReadiness {
        var fds = [
            pollfd(fd: wake, events: Int16(POLLIN), revents: 0),
            pollfd(fd: instance, events: Int16(POLLIN), revents: 0),
        ]
        let ready = poll(&fds, 2, timeoutMilliseconds)
        guard ready > 0 else {
            let code = errno
            return InotifyReadiness(readable: false, woken: false, failure: ready < 0 && code != EINTR ? code : nil)
        }
        return InotifyReadiness(readable: fds[1].revents != 0, woken: fds[0].revents != 0)
    }

    package func read(_ instance: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        Glibc.read(instance, buffer.baseAddress, buffer.count)
    }

    package func queuedBytes(_ instance: Int32) -> Int? {
        var queued: Int32 = 0
        return ioctl(instance, UInt(FIONREAD), &queued) == 0 ? Int(queued) : nil
    }

    package func watchLimit(_ instance: Int32) -> InotifyWatchLimit {
        // The limit that binds: the system-wide sysctl, or — when tighter — this user namespace's
        // (a container's, or `unshare -U`'s; /proc/sys/user/max_inotify_watches counts per namespace).
        var limit = InotifyBridge.readProcInt("/proc/sys/fs/inotify/max_user_watches") ?? 8192
        var setting = "fs.inotify.max_user_watches"
        if let namespace = InotifyBridge.readProcInt("/proc/sys/user/max_inotify_watches"), namespace < limit {
            limit = namespace
            setting = "user.max_inotify_watches"
        }
        let elsewhere = max(
            0,
            InotifyBridge.watchesHeldByThisUser() - InotifyBridge.watchCount(fdinfo: "/proc/self/fdinfo/\(instance)"))
        return InotifyWatchLimit(limit: limit, setting: setting, heldElsewhere: elsewhere)
    }
}
