import Foundation
import Logging
import PurgeCore
import StateStore
import Synchronization
import Testing

@testable import SiteWatch

/// The harness's exclusion: dot files and directories, `*~`, `*.swp`, `*.tmp` (like the example config).
let testExclusion = ExclusionRule(patterns: [".*", "*~", "*.swp", "*.tmp"])

final class EventCollector: Sendable {
    private let events = Mutex<[SiteEvent]>([])
    func append(_ event: SiteEvent) { events.withLock { $0.append(event) } }
    /// Touched events holding `path` not drained yet.
    func peekCount(of path: RelativePath) -> Int {
        events.withLock { events in
            events.count { if case .touched(let paths) = $0 { paths.contains(path) } else { false } }
        }
    }
    func drain() -> [SiteEvent] {
        events.withLock {
            let all = $0
            $0 = []
            return all
        }
    }
}

/// A daemon in miniature: a monitor feeding ``PendingChanges``, a detector and a real SQLite
/// manifest. ``settle()`` waits until every event caused so far has been read (by writing a
/// sentinel file and waiting for it), then detects and commits like the daemon would.
final class Harness: @unchecked Sendable {
    let scratch: Scratch
    /// The configured root (maybe a symlink).
    let root: String
    let db: StateDatabase
    let detector: Detector
    var monitor: SiteMonitor?
    let collector = EventCollector()
    var pending = PendingChanges(backoff: RescanBackoff(initial: .zero, maximum: .zero))
    var consumer: Task<Void, Never>?
    var sentinelCounter = 0
    var lastScopeWasFull = false
    var seenEvents: [SiteEvent] = []
    var options: SiteMonitor.Options
    /// The monitor's inotify calls: the kernel's, or a test's ``ScriptedInotify`` around them.
    let kernel: any InotifyKernel

    static let logger: Logger = {
        var logger = Logger(label: "sitewatch-tests", factory: { _ in SwiftLogNoOpLogHandler() })
        logger.logLevel = .critical
        return logger
    }()

    let exclude: ExclusionRule

    /// - Parameter createRoot: false to start before the root exists (it is created by the test).
    init(
        scratch: Scratch = Scratch(), root: String? = nil, options: SiteMonitor.Options = SiteMonitor.Options(),
        exclude: ExclusionRule = testExclusion, createRoot: Bool = true, kernel: any InotifyKernel = LinuxInotify()
    ) throws {
        self.scratch = scratch
        self.kernel = kernel
        self.root = root ?? scratch.path + "/site"
        if createRoot { makeDirectories(Array(self.root.utf8)) }
        db = try StateDatabase.open(path: scratch.path + "/state.sqlite")
        detector = Detector(root: self.root, exclude: exclude)
        self.exclude = exclude
        self.options = options
    }

    /// The root's real directory now.
    var realRoot: String { FileSystem.realPath(root)! }

    func write(_ relative: String, _ content: String) { writeFile(root, relative, content) }

    /// Starts watching, then takes the baseline (or, with a manifest, reconciles) by a full walk.
    @discardableResult
    func start(reconcile: Bool = true) async throws -> Set<Change> {
        let monitor = SiteMonitor(root: root, exclude: exclude, options: options, logger: Self.logger, kernel: kernel)
        let stream = try monitor.start()
        self.monitor = monitor
        let collector = self.collector
        consumer = Task { for await event in stream { collector.append(event) } }
        guard reconcile else { return [] }
        let detection = try await detector.detect(.full, in: db)
        try await detector.commit(detection, in: db)
        return Set(detection.changes)
    }

    func stop() async {
        // A reader held by the test's kernel would never see the stop.
        (kernel as? ScriptedInotify)?.resume()
        monitor?.stop()
        await consumer?.value
        monitor = nil
        consumer = nil
    }

    /// Absorbs collected events; `true` once `sentinel` was among the touched paths.
    private func absorb(sentinel: RelativePath) -> Bool {
        var seen = false
        for event in collector.drain() {
            seenEvents.append(event)
            pending.absorb(event)
            if case .touched(let paths) = event, paths.contains(sentinel) { seen = true }
        }
        return seen
    }

    /// Waits for the events of everything done so far, then detects and commits.
    /// Returns the changes without the sentinels.
    func settle(timeout: Duration = .seconds(15)) async throws -> Set<Change> {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var seen = false
        while !seen && clock.now < deadline {
            sentinelCounter += 1
            let sentinel = RelativePath("zz-sentinel-\(sentinelCounter)")
            write(sentinel.description, "\(sentinelCounter)")
            let attemptDeadline = min(deadline, clock.now + .seconds(1))
            while clock.now < attemptDeadline {
                if absorb(sentinel: sentinel) {
                    seen = true
                    break
                }
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        #expect(seen, "the watcher never reported the sentinel file")
        guard let scope = pending.take(now: clock.now) else { return [] }
        lastScopeWasFull = scope == .full
        let detection = try await detector.detect(scope, in: db)
        try await detector.commit(detection, in: db)
        return Set(detection.changes.filter { !$0.path.description.hasPrefix("zz-sentinel-") })
    }

    /// What the daemon does for `flush`: a barrier; once it is answered, the paths touched before
    /// it (since this call) are returned, and what is pending is compared and committed.
    func flush(_ id: UInt64, timeout: Duration = .seconds(10)) async throws -> (
        touched: Set<RelativePath>, changes: Set<Change>
    ) {
        let monitor = try #require(monitor)
        for event in collector.drain() {
            seenEvents.append(event)
            pending.absorb(event)
        }
        let before = seenEvents.count
        #expect(monitor.barrier(id))
        #expect(try await waitForEvent(timeout: timeout) { $0 == .barrier(id) }, "barrier \(id) never answered")
        var touched: Set<RelativePath> = []
        for case .touched(let paths) in seenEvents[before...].prefix(while: { $0 != .barrier(id) }) {
            touched.formUnion(paths)
        }
        guard let scope = pending.take(now: ContinuousClock.now) else { return (touched, []) }
        lastScopeWasFull = scope == .full
        let detection = try await detector.detect(scope, in: db)
        try await detector.commit(detection, in: db)
        return (touched, Set(detection.changes.filter { !$0.path.description.hasPrefix("zz-sentinel-") }))
    }

    /// Takes the events collected so far into ``seenEvents`` (and ``pending``).
    func collect() {
        for event in collector.drain() {
            seenEvents.append(event)
            pending.absorb(event)
        }
    }

    /// Polls until `condition` holds over the events seen so far (up to `timeout`).
    func waitForEvent(timeout: Duration = .seconds(10), _ condition: (SiteEvent) -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            for event in collector.drain() {
                seenEvents.append(event)
                pending.absorb(event)
            }
            if seenEvents.contains(where: condition) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Polls `condition` until it holds (up to `timeout`).
    func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async throws -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while clock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    func manifestPaths() throws -> Set<RelativePath> {
        var paths: Set<RelativePath> = []
        try db.read { tx in try tx.forEachManifestEntry(atOrUnder: []) { paths.insert(RelativePath($0.path)) } }
        return paths.filter { !$0.description.hasPrefix("zz-sentinel-") }
    }
}

func changes(_ list: [(String, ChangeKind)]) -> Set<Change> {
    Set(list.map { Change(path: RelativePath($0.0), kind: $0.1) })
}
