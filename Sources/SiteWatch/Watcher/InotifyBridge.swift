import Dispatch
import Glibc
import Logging
import PurgeCore
import Synchronization

/// Where a missing root's resolution stops: `directory` exists, `name` in it does not (yet).
struct RootWaitPoint: Sendable, Equatable {
    var directory: String
    var name: [UInt8]
}

/// State shared between the reader thread and ``SiteMonitor``.
struct BridgeState: Sendable {
    var stopRequested = false
    /// Barriers asked for (``SiteMonitor/barrier(_:)``), answered in order.
    var barriers: [UInt64] = []
    var status = SiteMonitor.Status()
}

final class BridgeShared: Sendable {
    private let state = Mutex(BridgeState())
    /// The pipe that wakes the reader thread: [read end, write end]; the write end is closed by `stop`.
    let wakeRead: Int32
    private let wakeWrite: Mutex<Int32>

    init(wakeRead: Int32, wakeWrite: Int32) {
        self.wakeRead = wakeRead
        self.wakeWrite = Mutex(wakeWrite)
    }

    func withLock<T: Sendable>(_ body: (inout BridgeState) -> T) -> T {
        state.withLock { body(&$0) }
    }

    func wake() {
        wakeWrite.withLock { fd in
            guard fd >= 0 else { return }
            var one: UInt8 = 1
            _ = write(fd, &one, 1)
        }
    }

    /// Called by the reader thread as it exits.
    func closeWakeWriteEnd() {
        wakeWrite.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }
}

/// The inotify reader: the executor of ``WatchMachine``. Everything but `shared` is confined to
/// the reader thread (after ``setUp()`` on the starting thread). It owns what the machine must
/// not touch — the inotify descriptor, the thread's poll loop, the root's descriptor and its
/// resolution, the walker, `/proc` — reads and decodes events, feeds them to the machine with
/// the current instant and performs the actions it returns: adding watches (each directory
/// before it is listed), removing them, walking, and yielding ``SiteEvent``s. It never touches
/// SQLite or the network.
final class InotifyBridge: @unchecked Sendable {
    let configuredRoot: String
    let exclude: ExclusionRule
    let options: SiteMonitor.Options
    let logger: Logger
    /// The inotify calls (the kernel's; a test's wrapper in tests).
    let kernel: any InotifyKernel
    let continuation: AsyncStream<SiteEvent>.Continuation
    let shared: BridgeShared

    private var inotifyFD: Int32 = -1
    private let walker: Walker
    /// The decisions, and the state they need (watch table, renames, holds, flags).
    private var machine: WatchMachine

    // Root resolution.
    /// The configured root's parent as configured (not resolved); nil for `/`.
    private var rootParentPath: String?
    private var realRoot: String?
    private var rootFD: Int32 = -1
    private var rootIdentity: (device: UInt64, inode: UInt64)?
    /// The errno of the last failed attempt to open a root that exists, so it is said once.
    private var lastAttachFailure: Int32?

    /// Held around ``addWatch(_:dirFD:)`` while the set-up walk runs on several threads.
    private let setupLock = Mutex(())
    /// Walks the later parts of the set-up walk.
    private static let setupQueue = DispatchQueue(label: "purgewatch.sitewatch.watch-setup", attributes: .concurrent)

    /// In degraded mode: the `fs.inotify.max_user_watches` value to set (from `/proc`).
    private var requiredWatchLimit: Int?

    init(
        root: String, exclude: ExclusionRule, options: SiteMonitor.Options, logger: Logger, kernel: any InotifyKernel,
        continuation: AsyncStream<SiteEvent>.Continuation, shared: BridgeShared
    ) {
        configuredRoot = root
        self.kernel = kernel
        self.exclude = exclude
        self.options = options
        self.logger = logger
        self.continuation = continuation
        self.shared = shared
        walker = Walker(exclude: exclude)
        machine = WatchMachine(
            WatchMachine.Configuration(
                exclude: exclude, renamePairingTimeout: Self.nanoseconds(options.renamePairingTimeout),
                modifyInterval: Self.nanoseconds(options.modifyInterval),
                rootCheckInterval: Self.nanoseconds(options.rootCheckInterval),
                degradedRescanInterval: Self.nanoseconds(options.degradedRescanInterval)))
    }

    static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    // MARK: - Set-up (on the starting thread)

    /// Creates the inotify instance, watches the root's parent, and watches the tree (each
    /// directory before it is listed). A root that does not exist (yet) is a state: the nearest
    /// existing directory on the way to it is watched, ``SiteEvent/rootUnavailable(_:)`` is the
    /// first event, and the tree is watched when the root appears. Throws when the root exists
    /// but cannot be opened, or inotify cannot be initialised; a watch limit is not fatal
    /// (degraded mode).
    func setUp() throws {
        inotifyFD = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard inotifyFD >= 0 else {
            let code = errno
            if code == EMFILE {
                throw SiteWatchError(
                    code: .instanceLimitReached,
                    message:
                        "inotify instance limit reached: raise it with `sysctl fs.inotify.max_user_instances=\(Self.readProcInt("/proc/sys/fs/inotify/max_user_instances").map { $0 * 2 } ?? 1024)`",
                    errno: code)
            }
            throw SiteWatchError(code: .systemCallFailed, message: "inotify_init1 failed", errno: code)
        }
        let bytes = Array(configuredRoot.utf8)
        let trimmed = bytes.count > 1 && bytes.last == UInt8(ascii: "/") ? Array(bytes.dropLast()) : bytes
        if let slash = trimmed.lastIndex(of: UInt8(ascii: "/")) {
            machine.parentWatch.name = Array(trimmed[(slash + 1)...])
            let parentBytes = slash == 0 ? [UInt8(ascii: "/")] : Array(trimmed[..<slash])
            rootParentPath = String(decoding: parentBytes, as: UTF8.self)
        } else {
            machine.parentWatch.name = trimmed
            rootParentPath = "."
        }
        ensureParentWatch(logFailure: true)
        if !attachRoot() {
            let code = errno
            guard code == ENOENT else {
                close(inotifyFD)
                inotifyFD = -1
                throw SiteWatchError(
                    code: .rootUnavailable, message: "cannot open the site root \(configuredRoot)",
                    path: configuredRoot, errno: code)
            }
            // Installed before the first deploy: wait for the root rather than fail.
            continuation.yield(.rootUnavailable(configuredRoot))
            checkRoot()
            if realRoot == nil {
                logger.notice(
                    "site root does not exist yet; waiting for it",
                    metadata: [
                        "sitewatch.root": "\(configuredRoot)",
                        "sitewatch.watching": "\(machine.waitWatch.directory ?? "-")",
                    ])
            }
        }
        machine.scheduleRootCheck(now: Self.monotonicNanoseconds())
        publishStatus()
    }

    /// Watches the directory that holds the root (as configured, resolved now) unless it is
    /// watched already; it may not exist yet.
    private func ensureParentWatch(logFailure: Bool = false) {
        guard machine.parentWatch.wd < 0, let rootParentPath, let realParent = FileSystem.realPath(rootParentPath)
        else { return }
        let (wd, code) = kernel.addWatch(inotifyFD, path: realParent, mask: InotifyMask.parent)
        machine.parentWatch.wd = wd
        if wd < 0 && logFailure {
            logger.warning(
                "cannot watch the root's parent directory; a replaced root is found by the periodic check only",
                metadata: ["sitewatch.path": "\(realParent)", "sitewatch.errno": "\(code)"])
        }
    }

    /// Resolves the root and watches its tree. `false` (with `errno`) when it cannot be opened.
    private func attachRoot() -> Bool {
        guard let resolved = FileSystem.realPath(configuredRoot) else { return false }
        let fd = open(resolved, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        guard let stat = FileSystem.fstat(fd) else {
            let code = errno
            close(fd)
            errno = code
            return false
        }
        realRoot = resolved
        rootFD = fd
        rootIdentity = (stat.device, stat.inode)
        machine.beginTree()
        watchTree(root: fd)
        return true
    }

    /// Watches every directory of the tree under the open root (each before it is listed):
    /// the root first, then its entries cut in ``SiteMonitor/Options/setupThreads`` parts walked
    /// at once, the machine fed and its actions performed under ``setupLock`` meanwhile. Runs at set-up (before
    /// the reader thread starts) and on the reader thread after a root swap, which then blocks
    /// until the parts are done: ``addWatch(_:dirFD:)`` must touch nothing outside the lock.
    private func watchTree(root fd: Int32) {
        addWatch(.root, dirFD: fd)
        guard let split = walker.split(directory: fd, path: .root, parts: max(1, options.setupThreads), wantsFiles: false)
        else {
            // Not listable in one go (an entry that cannot be stat'ed): the plain walk, on this
            // thread (re-adding the root's watch returns the same descriptor).
            walker.walk(directory: fd, path: .root, Walker.Visitor(willList: { [self] path, dirFD in addWatch(path, dirFD: dirFD) }))
            return
        }
        let group = DispatchGroup()
        for part in 1..<max(1, split.parts) {
            Self.setupQueue.async(group: group) { [self] in walker.walk(split, part: part, directory: fd, lockedWatching) }
        }
        walker.walk(split, part: 0, directory: fd, lockedWatching)
        group.wait()
    }

    /// A visitor that watches each directory under ``setupLock`` (built on the walking thread).
    private var lockedWatching: Walker.Visitor {
        Walker.Visitor(willList: { [self] path, dirFD in setupLock.withLock { _ in addWatch(path, dirFD: dirFD) } })
    }

    private func detachRoot() {
        for wd in machine.detachTree() { kernel.removeWatch(inotifyFD, wd) }
        if rootFD >= 0 { close(rootFD) }
        rootFD = -1
        realRoot = nil
        rootIdentity = nil
    }

    // MARK: - Performing the machine's actions

    /// Feeds `input` to the machine at the current instant and performs what it decides, before
    /// anything else is fed (a walk's reports are fed from inside the action that walks).
    private func feed(_ input: WatchMachine.Input) {
        perform(machine.handle(input, now: Self.monotonicNanoseconds()))
    }

    private func perform(_ actions: [WatchMachine.Action]) {
        for action in actions {
            switch action {
            case .watchSubtree(let path):
                attachSubtree(path)
            case .unwatch(let descriptors):
                for wd in descriptors { kernel.removeWatch(inotifyFD, wd) }
            case .checkRoot:
                checkRoot()
            case .resyncWatches(let reason):
                resyncWatches(then: reason)
            case .enterDegraded:
                enterDegraded()
            case .watchesRestored:
                requiredWatchLimit = nil
                logger.notice("inotify watches fit again; degraded mode ended")
                continuation.yield(.watchesRestored)
            case .deliver(let paths):
                continuation.yield(.touched(paths))
            case .rescan(let reason):
                continuation.yield(.rescanNeeded(reason))
            case .answerBarrier(let id):
                publishStatus()  // a flush reading the status on its answer sees it current
                continuation.yield(.barrier(id))
            case .warn(let warning):
                warn(warning)
            }
        }
    }

    private func warn(_ warning: WatchMachine.Warning) {
        switch warning {
        case .overflow(let count):
            logger.warning(
                "inotify queue overflow: events were lost; the tree will be walked against the manifest",
                metadata: ["sitewatch.overflows": "\(count)"])
        case .watchFailed(let path, let code):
            logger.warning(
                "inotify_add_watch failed", metadata: ["sitewatch.path": "\(path)", "sitewatch.errno": "\(code)"])
        case .unlistable(let path, let code):
            logger.warning(
                "cannot watch or list a directory for now (and maybe others like it: said once a minute)",
                metadata: ["sitewatch.path": "\(path)", "sitewatch.errno": "\(code)"])
        }
    }

    /// Watches one directory (through its open descriptor) and tells the machine how it went.
    private func addWatch(_ path: RelativePath, dirFD: Int32) {
        let (wd, code) = kernel.addWatch(inotifyFD, path: "/proc/self/fd/\(dirFD)", mask: InotifyMask.tree)
        feed(wd >= 0 ? .watched(path, wd: wd) : .watchFailed(path, errno: code))
    }

    /// A directory appeared (created or moved in): watch it first, then list it, and report every
    /// file found — recursively — so nothing written before the watch existed is missed.
    private func attachSubtree(_ path: RelativePath) {
        guard rootFD >= 0 else { return }
        let fd = FileSystem.openDirectory(root: rootFD, path: path)
        guard fd >= 0 else { return }
        defer { close(fd) }
        walker.walk(
            directory: fd, path: path,
            Walker.Visitor(
                willList: { [self] dir, dirFD in addWatch(dir, dirFD: dirFD) },
                file: { [self] entry in feed(.found(entry.path)) },
                unreadable: { [self] dir, code in feed(.unlisted(dir, errno: code)) }))
    }

    /// Re-adds a watch on every directory of the tree (the kernel returns the existing descriptor
    /// for a directory already watched); the machine then drops the watches it did not see and
    /// says why the tree is walked (``WatchMachine/Input/resyncFinished(_:)``).
    private func resyncWatches(then reason: RescanReason) {
        if rootFD >= 0 {
            feed(.resyncStarted)
            walker.walk(
                directory: rootFD, path: .root,
                Walker.Visitor(
                    willList: { [self] path, dirFD in addWatch(path, dirFD: dirFD) },
                    unreadable: { [self] path, code in feed(.unlisted(path, errno: code)) }))
        }
        feed(.resyncFinished(reason))
    }

    // MARK: - Degraded mode

    /// The machine entered degraded mode: say so, with the limit to set.
    private func enterDegraded() {
        let error = watchLimitError()
        requiredWatchLimit = error.requiredWatchLimit
        logger.error("\(error.message)", metadata: ["sitewatch.required_watches": "\(error.requiredWatchLimit ?? 0)"])
        continuation.yield(.degraded(error))
    }

    private func watchLimitError() -> SiteWatchError {
        var directories = 0
        if rootFD >= 0 {
            walker.walk(directory: rootFD, path: .root, Walker.Visitor(willList: { _, _ in directories += 1 }))
        }
        let limit = kernel.watchLimit(inotifyFD)
        let (current, setting, othersInUse) = (limit.limit, limit.setting, limit.heldElsewhere)
        let needed = othersInUse + directories + 1
        let target = max(needed + needed / 10, current + 1)
        let suggested = (target + 1023) / 1024 * 1024
        let advice =
            setting == "fs.inotify.max_user_watches"
            ? "Run `sysctl fs.inotify.max_user_watches=\(suggested)` (persist it in /etc/sysctl.d/60-purgewatch.conf)."
            : "This user namespace (a container) allows fewer watches than the host: its owner raises `user.max_inotify_watches` to \(suggested)."
        let message = """
            inotify watch limit reached: \(configuredRoot) has \(directories) directories and this user \
            already holds \(othersInUse) other watches, but \(setting) is \(current). \
            \(advice) \
            Until then purgewatch is in degraded mode: it walks the whole tree every \
            \(options.degradedRescanInterval) instead of watching part of it.
            """
        return SiteWatchError(
            code: .watchLimitReached, message: message, path: configuredRoot, errno: ENOSPC,
            requiredWatchLimit: suggested)
    }

    static func readProcInt(_ path: String) -> Int? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 63) }
        guard count > 0 else { return nil }
        return Int(String(decoding: buffer[0..<count].filter { $0 >= 0x30 && $0 <= 0x39 }, as: UTF8.self))
    }

    /// Counts `inotify wd:` lines in one fdinfo file.
    static func watchCount(fdinfo path: String) -> Int {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var data: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 65536) }
            if count <= 0 { break }
            data += chunk[0..<count]
        }
        let needle = Array("inotify wd:".utf8)
        var total = 0
        var index = 0
        while index + needle.count <= data.count {
            if data[index] == needle[0], data[index..<(index + needle.count)].elementsEqual(needle) {
                total += 1
                index += needle.count
            } else {
                index += 1
            }
        }
        return total
    }

    /// Watches held by every inotify instance this user can see in /proc (the limit is per user).
    static func watchesHeldByThisUser() -> Int {
        guard let proc = opendir("/proc") else { return 0 }
        defer { closedir(proc) }
        let uid = getuid()
        var total = 0
        while let entry = readdir(proc) {
            let name = withUnsafePointer(to: &entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            guard !name.isEmpty, name.allSatisfy(\.isNumber) else { continue }
            var st = stat()
            guard stat("/proc/\(name)", &st) == 0, st.st_uid == uid else { continue }
            guard let fds = opendir("/proc/\(name)/fd") else { continue }
            while let fdEntry = readdir(fds) {
                let fdName = withUnsafePointer(to: &fdEntry.pointee.d_name) {
                    $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
                }
                guard fdName.first?.isNumber == true else { continue }
                var target = [CChar](repeating: 0, count: 256)
                let length = readlink("/proc/\(name)/fd/\(fdName)", &target, 255)
                guard length > 0 else { continue }
                let text = String(decoding: target[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                if text == "anon_inode:inotify" { total += watchCount(fdinfo: "/proc/\(name)/fdinfo/\(fdName)") }
            }
            closedir(fds)
        }
        return total
    }

    // MARK: - The reader thread

    func run() {
        // ≈ 2,000 events a read (64 KiB; a burst fills it, so it is resident: issue 23).
        let bufferSize = 64 * 1024
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bufferSize, alignment: 8)
        defer {
            buffer.deallocate()
            if rootFD >= 0 { close(rootFD) }
            close(inotifyFD)  // also drops every watch
            close(shared.wakeRead)
            shared.closeWakeWriteEnd()
            shared.withLock { $0.status.isRunning = false }
            continuation.finish()
        }
        while true {
            let (stop, barriers) = shared.withLock { state -> (Bool, [UInt64]) in
                defer { state.barriers = [] }
                return (state.stopRequested, state.barriers)
            }
            if stop { return }
            if !barriers.isEmpty {
                answerBarriers(barriers, buffer: buffer)
                continue
            }
            let readiness = kernel.wait(inotifyFD, wake: shared.wakeRead, timeoutMilliseconds: timeoutMilliseconds())
            if let code = readiness.failure { logger.error("poll failed", metadata: ["sitewatch.errno": "\(code)"]) }
            if readiness.woken {
                var drain = [UInt8](repeating: 0, count: 64)
                _ = read(shared.wakeRead, &drain, 64)
            }
            if readiness.readable {
                // A short pause lets a burst collect, so one read drains many events.
                if options.readPause > .zero { usleep(UInt32(Self.nanoseconds(options.readPause) / 1000)) }
                // Drain, but hand on what was read at least every 50 ms: under a sustained burst
                // the queue never empties, and holding every path back until it does would let
                // the daemon's quiet period run out mid-deploy (and close the window on a part).
                let drainStart = Self.monotonicNanoseconds()
                while true {
                    let count = kernel.read(inotifyFD, into: buffer)
                    if count <= 0 { break }
                    decode(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
                    if Self.monotonicNanoseconds() - drainStart > 50_000_000 { break }
                }
            }
            feed(.timers)
            feed(.endOfPass)
            publishStatus()
        }
    }

    /// A flush's barrier: everything the kernel queued before it was asked for is read (the
    /// descriptor is drained until it would block, with no time cap), a root replaced by a
    /// symlink swap is noticed now rather than at the next root check, a rename whose other half
    /// is not queued by now never will be (both halves are queued by the one `rename(2)`), and all
    /// of it is delivered before the barrier events.
    ///
    /// The drain reads what was queued when it began (`FIONREAD`), not until the queue is empty:
    /// under a sustained stream of events it would never be.
    private func answerBarriers(_ ids: [UInt64], buffer: UnsafeMutableRawBufferPointer) {
        let queued = kernel.queuedBytes(inotifyFD) ?? Int.max
        var drained = 0
        while drained < queued {
            let count = kernel.read(inotifyFD, into: buffer)
            if count <= 0 { break }
            drained += count
            decode(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        feed(.drainedForBarrier)
        feed(.answerBarriers(ids))
    }

    private func timeoutMilliseconds() -> Int32 {
        let now = Self.monotonicNanoseconds()
        guard let next = machine.nextDeadline() else { return 60_000 }
        guard next > now else { return 0 }
        return Int32(min((next - now) / 1_000_000 + 1, 60_000))
    }

    /// Feeds every event of one `read(2)` to the machine, each after the previous one's actions.
    private func decode(_ bytes: UnsafeRawBufferPointer) {
        RawInotifyEvent.decode(bytes) { event in feed(.event(event)) }
    }

    /// Re-resolves the root; when it names another directory now, moves every watch there and asks
    /// for a full walk (the new release is compared with the manifest). When it is missing, waits
    /// for it: the nearest existing directory on the way is watched (``watchForRoot()``), so each
    /// directory of a `mkdir -p`, the symbolic link or its target, moves the watch down or
    /// attaches the root at once.
    private func checkRoot() {
        ensureParentWatch()
        // Each pass either settles or finds that the chain grew since the last look (bounded:
        // a path has few components, and a pathological race falls back to the periodic check).
        for _ in 0..<256 {
            guard let resolved = FileSystem.realPath(configuredRoot),
                let stat = FileSystem.lstat(at: AT_FDCWD, Array(resolved.utf8)), stat.kind == .directory
            else {
                if realRoot != nil {
                    logger.warning(
                        "site root is unavailable; waiting for it to reappear",
                        metadata: ["sitewatch.root": "\(configuredRoot)"])
                    detachRoot()
                    publishStatus()  // the status says so before the event does
                    continuation.yield(.rootUnavailable(configuredRoot))
                }
                if watchForRoot() { return }
                continue
            }
            if let identity = rootIdentity, identity.device == stat.device, identity.inode == stat.inode,
                resolved == realRoot
            {
                return
            }
            let wasWaiting = realRoot == nil
            detachRoot()
            guard attachRoot() else {
                // There but not openable (or gone again): the next event or root check retries,
                // and says so once per errno, not at every check.
                let code = errno
                if lastAttachFailure != code {
                    lastAttachFailure = code
                    logger.warning(
                        "site root exists but cannot be opened; trying again at the next event or root check",
                        metadata: ["sitewatch.root": "\(configuredRoot)", "sitewatch.errno": "\(code)"])
                }
                if !wasWaiting { continuation.yield(.rootUnavailable(configuredRoot)) }
                return
            }
            lastAttachFailure = nil
            logger.notice(
                wasWaiting
                    ? "site root is available; watching it and comparing it with the manifest"
                    : "site root replaced; moving watches and comparing the new tree with the manifest",
                metadata: ["sitewatch.root": "\(configuredRoot)", "sitewatch.target": "\(resolved)"])
            dropWaitWatch()
            machine.treeReplaced()
            publishStatus()  // a consumer reading the status on this event sees the root attached
            continuation.yield(.rescanNeeded(.rootReplaced(resolved)))
            return
        }
    }

    /// While the root is missing: watches the nearest existing directory on the way to it for the
    /// name missing there. `false` when that point moved (a directory or link appeared before the
    /// watch was in place, so no event will say so) or nothing is missing any more: look again.
    private func watchForRoot() -> Bool {
        guard let point = Self.missingPoint(of: configuredRoot) else { return false }
        if machine.waitWatch.wd >= 0, point.directory == machine.waitWatch.directory {
            machine.waitWatch.name = point.name
            return true
        }
        let (wd, code) = kernel.addWatch(inotifyFD, path: point.directory, mask: InotifyMask.parent)
        guard wd >= 0 else {
            // Found by the periodic root check instead.
            logger.warning(
                "cannot watch the directory the site root will appear in",
                metadata: ["sitewatch.path": "\(point.directory)", "sitewatch.errno": "\(code)"])
            dropWaitWatch()
            return true
        }
        if machine.waitWatch.wd != wd { dropWaitWatch() }
        machine.waitWatch = WatchMachine.RootWatch(wd: wd, name: point.name, directory: point.directory)
        return Self.missingPoint(of: configuredRoot) == point
    }

    /// Removes the waiting watch (unless it is also the parent's watch).
    private func dropWaitWatch() {
        if let wd = machine.dropWaitWatch() { kernel.removeWatch(inotifyFD, wd) }
    }

    /// Where resolving `path` stops: the deepest existing directory on the way (symbolic links
    /// followed, as `realpath` would) and the name that is missing there — or is not a
    /// directory, or is a link that cannot be read. `nil` when `path` resolves to a directory.
    static func missingPoint(of path: String) -> RootWaitPoint? {
        let slash = UInt8(ascii: "/")
        var directory: [UInt8]
        if path.utf8.first == slash {
            directory = [slash]
        } else if let cwd = FileSystem.realPath(".") {
            directory = Array(cwd.utf8)
        } else {
            return nil
        }
        var pending = Array(path.utf8.split(separator: slash).reversed().map(Array.init))
        var links = 0
        func joined(_ name: [UInt8]) -> [UInt8] { directory == [slash] ? directory + name : directory + [slash] + name }
        while let name = pending.popLast() {
            if name == [UInt8(ascii: ".")] { continue }
            if name == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                // `directory` holds no symbolic link: its lexical parent is its real parent.
                if let last = directory.lastIndex(of: slash) { directory = last == 0 ? [slash] : Array(directory[..<last]) }
                continue
            }
            let full = joined(name)
            let point = RootWaitPoint(directory: String(decoding: directory, as: UTF8.self), name: name)
            guard let stat = FileSystem.lstat(at: AT_FDCWD, full) else { return point }
            switch stat.kind {
            case .directory:
                directory = full
            case .symlink:
                links += 1
                guard links <= 40, let target = FileSystem.readLink(at: AT_FDCWD, full) else { return point }
                if target.first == slash { directory = [slash] }
                pending += target.split(separator: slash).reversed().map(Array.init)
            case .regular, .other:
                return point
            }
        }
        return nil
    }

    private func publishStatus() {
        let status = SiteMonitor.Status(
            isRunning: true, resolvedRoot: realRoot, watchCount: machine.watches.count, isDegraded: machine.isDegraded,
            requiredWatchLimit: requiredWatchLimit, overflowCount: machine.overflowCount,
            rescanCount: machine.rescanCount, waitingForRoot: realRoot == nil,
            rootWaitDirectory: realRoot == nil ? machine.waitWatch.directory : nil)
        shared.withLock { $0.status = status }
    }
}
