import Glibc
import Logging
import Synchronization

/// Watches a site's publish directory with inotify and reports where to look for changes.
///
/// It owns root resolution (a `current -> releases/N` symlink root is resolved, its parent is
/// watched, and a swap moves every watch to the new tree), the out-of-sync state (an overflow,
/// an unknown watch descriptor, a failed `inotify_add_watch` or a replaced root ask for a full
/// walk), and degraded mode (the watch limit: a clear error with the `sysctl` line, then
/// periodic full walks).
///
/// The reader is one dedicated thread that only reads, parses and keeps watches; consumers get
/// ``SiteEvent``s from ``start()``'s `AsyncStream` and feed them to ``PendingChanges``. Start
/// the monitor *before* the startup reconcile (a `.full` detection), so that nothing changed
/// during the reconcile is missed.
///
/// See inotify(7).
public final class SiteMonitor: Sendable {
    public struct Options: Sendable {
        /// How often the tree is walked while the watch limit leaves part of it unwatched.
        public var degradedRescanInterval: Duration = .seconds(60)
        /// How often the root is re-resolved even without an event (a root replaced behind our
        /// back). A safety net only: a swap or a missing root's arrival is seen through the
        /// watched parent at once, and at rest each check is a wake-up (SPEC §7).
        public var rootCheckInterval: Duration = .seconds(30)
        /// Threads the set-up walk uses (the root's entries cut into this many parts, each
        /// watched on its own thread): the cores, at most 2.
        public var setupThreads = max(1, min(2, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        /// How long a directory's `IN_MOVED_FROM` waits for its `IN_MOVED_TO` before it counts as moved out.
        public var renamePairingTimeout: Duration = .milliseconds(100)
        /// How long a file's writes (`IN_MODIFY`: `truncate(2)`, a `pwrite` through a descriptor
        /// kept open) are held before its path is delivered: a file being written is touched once
        /// per interval, after its writes, not once per `write(2)`. A barrier delivers what is held
        /// at once, and a close after writing (`IN_CLOSE_WRITE`) delivers the path at once.
        public var modifyInterval: Duration = .milliseconds(200)
        /// A pause after the inotify descriptor becomes readable, so bursts are drained in few reads.
        public var readPause: Duration = .milliseconds(1)

        public init() {}
    }

    /// A snapshot for `status` and sd_notify `STATUS=`.
    public struct Status: Sendable, Hashable {
        public var isRunning = false
        /// The directory the root resolves to now (`nil` while unavailable).
        public var resolvedRoot: String?
        public var watchCount = 0
        public var isDegraded = false
        /// In degraded mode: the `fs.inotify.max_user_watches` value to set.
        public var requiredWatchLimit: Int?
        public var overflowCount = 0
        public var rescanCount = 0
        /// The root does not exist (yet, or any more): the monitor runs and waits for it, watching
        /// the nearest existing directory on the way (``rootWaitDirectory``); a
        /// ``RescanReason/rootReplaced(_:)`` rescan follows when it appears.
        public var waitingForRoot = false
        /// While ``waitingForRoot``: the existing directory watched for the next missing name.
        public var rootWaitDirectory: String?
    }

    public let root: String
    public let exclude: ExclusionRule
    public let options: Options
    private let logger: Logger
    private let kernel: any InotifyKernel
    private let shared = Mutex<BridgeShared?>(nil)

    /// - Parameters:
    ///   - root: the configured site root; may be a symbolic link that deploys swap.
    ///   - exclude: the rules' exclusion; excluded directories are never watched.
    public convenience init(
        root: String, exclude: ExclusionRule = .none, options: Options = Options(), logger: Logger
    ) {
        self.init(root: root, exclude: exclude, options: options, logger: logger, kernel: LinuxInotify())
    }

    /// - Parameter kernel: the inotify calls (a test's wrapper around the kernel's).
    package init(root: String, exclude: ExclusionRule, options: Options, logger: Logger, kernel: any InotifyKernel) {
        self.root = root
        self.exclude = exclude
        self.options = options
        self.logger = logger
        self.kernel = kernel
    }

    /// Sets up inotify and every watch (each directory is watched before it is listed), then
    /// starts the reader thread. Call once.
    ///
    /// A root that does not exist yet — missing itself, a symbolic link to a missing target, or
    /// missing parent directories — is not an error: the stream starts with
    /// ``SiteEvent/rootUnavailable(_:)``, ``Status/waitingForRoot`` is true, the nearest existing
    /// directory on the way is watched, and when the root appears its tree is watched and
    /// ``SiteEvent/rescanNeeded(_:)`` (``RescanReason/rootReplaced(_:)``) asks for a full walk.
    ///
    /// The stream ends after ``stop()``; cancelling the task that iterates it stops the monitor too.
    /// - Throws: ``SiteWatchError``: `rootUnavailable` (the root exists but cannot be opened, e.g.
    ///   `EACCES`), `instanceLimitReached`, `systemCallFailed`. Hitting the watch limit is not
    ///   thrown: the stream starts with ``SiteEvent/degraded(_:)``.
    public func start() throws -> AsyncStream<SiteEvent> {
        if shared.withLock({ $0 != nil }) {
            throw SiteWatchError(code: .systemCallFailed, message: "SiteMonitor.start() called twice")
        }
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            throw SiteWatchError(code: .systemCallFailed, message: "pipe failed", errno: errno)
        }
        for fd in pipeFDs {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        let bridgeShared = BridgeShared(wakeRead: pipeFDs[0], wakeWrite: pipeFDs[1])
        let (stream, continuation) = AsyncStream<SiteEvent>.makeStream(bufferingPolicy: .unbounded)
        let bridge = InotifyBridge(
            root: root, exclude: exclude, options: options, logger: logger, kernel: kernel, continuation: continuation,
            shared: bridgeShared)
        do {
            try bridge.setUp()
        } catch {
            close(pipeFDs[0])
            bridgeShared.closeWakeWriteEnd()
            continuation.finish()
            throw error
        }
        shared.withLock { $0 = bridgeShared }
        continuation.onTermination = { [weak self] _ in self?.stop() }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(bridge).toOpaque()
        let rc = pthread_create(
            &thread, nil,
            { context in
                let bridge = Unmanaged<InotifyBridge>.fromOpaque(context!).takeRetainedValue()
                bridge.run()
                return nil
            }, context)
        guard rc == 0 else {
            Unmanaged<InotifyBridge>.fromOpaque(context).release()
            throw SiteWatchError(code: .systemCallFailed, message: "cannot start the inotify reader thread", errno: rc)
        }
        pthread_detach(thread)
        return stream
    }

    /// Stops the reader thread; it closes the inotify descriptor (dropping every watch) and ends the stream.
    public func stop() {
        guard let bridge = shared.withLock({ $0 }) else { return }
        bridge.withLock { $0.stopRequested = true }
        bridge.wake()
    }

    /// Asks the reader thread to drain the inotify descriptor until it would block, check the
    /// root, settle unpaired renames, deliver everything and then ``SiteEvent/barrier(_:)`` with
    /// `id`. Returns false when no reader runs (nothing will answer).
    @discardableResult
    public func barrier(_ id: UInt64) -> Bool {
        guard let bridge = shared.withLock({ $0 }), bridge.withLock({ $0.status.isRunning && !$0.stopRequested }) else {
            return false
        }
        bridge.withLock { $0.barriers.append(id) }
        bridge.wake()
        return true
    }

    /// The current status.
    public var status: Status {
        shared.withLock { $0 }?.withLock { $0.status } ?? Status()
    }
}
