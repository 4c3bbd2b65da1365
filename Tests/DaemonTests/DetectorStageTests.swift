import Foundation
import Logging
import PurgeCore
import SiteWatch
import StateStore
import Testing

@testable import Daemon

/// The detector stage on its own (issue 19): a real tree and a real state database, time on a
/// manual clock — what a comparison that cannot run does over time, and what it hands back.
@Suite struct DetectorStageTests {
    /// A stage over `directory/site`, its state in `directory/state.sqlite`, opened.
    static func stage(in directory: String, clock: ManualClock) throws -> DetectorStage {
        let configPath = directory + "/site.toml"
        try """
        [site]
        root = "\(directory)/site"

        [state]
        path = "\(directory)/state.sqlite"

        [[rule]]
        prefix = ""
        urls = ["https://www.example.com/"]

        [purge]
        area = "mainland"
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let config = try SiteConfig.load(path: configPath, environment: [:])
        var options = DaemonOptions()
        options.clock = clock.daemonClock
        let stage = DetectorStage(
            config: config, options: options, clock: clock.daemonClock,
            logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), metrics: DaemonMetrics(),
            descriptorReserve: DescriptorReserve())
        try stage.open(StateDatabase.open(path: config.state.path, migrations: QueueSchema.migrations))
        return stage
    }

    static func withTree(_ body: (String, ManualClock) async throws -> Void) async throws {
        let directory = "/tmp/pw-detector-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/site", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await body(directory, ManualClock(wall: Date()))
    }

    static func write(_ path: String, _ text: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }

    static func queuedURLs(_ stage: DetectorStage) throws -> [String] {
        try stage.db.read { try $0.queueRows(state: .pending) }.map(\.url).sorted()
    }

    @Test func aComparisonThatCannotRunIsRetriedOnABackoffAndLosesNothing() async throws {
        try await Self.withTree { directory, clock in
            let site = directory + "/site"
            try Self.write(site + "/a.html", "one")
            try Self.write(site + "/b.html", "same")
            let stage = try Self.stage(in: directory, clock: clock)
            #expect(try await stage.reconcile(monitor: nil) == .compared(queued: 0, more: false))  // the baseline
            #expect(stage.filesTracked == 2)

            // The root is moved away mid-deploy, after a.html was touched.
            try FileManager.default.moveItem(atPath: site, toPath: directory + "/away")
            #expect(stage.absorb(.touched([RelativePath("a.html")])))
            stage.windowClosed()
            #expect(stage.takeClosedWindows())
            let start = clock.daemonClock.now()
            #expect(try await stage.closeWindow(now: start, monitor: nil) == .unfinished(queued: 0))
            #expect(stage.failure != nil)
            #expect(stage.retryAt == start.advanced(by: .seconds(1)), "retried after 1 s, not at once")
            #expect(!stage.takeDueRetry(now: start.advanced(by: .milliseconds(999))))

            clock.advance(by: .seconds(1))
            #expect(stage.takeDueRetry(now: clock.daemonClock.now()))
            #expect(stage.takeClosedWindows())
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .unfinished(queued: 0))
            #expect(stage.retryAt == clock.daemonClock.now().advanced(by: .seconds(2)), "the backoff doubles")
            #expect(try Self.queuedURLs(stage).isEmpty)

            // The new tree arrives with a.html changed: the retry compares it, nothing was lost.
            try FileManager.default.moveItem(atPath: directory + "/away", toPath: site)
            try Self.write(site + "/a.html", "two")
            clock.advance(by: .seconds(2))
            #expect(stage.takeDueRetry(now: clock.daemonClock.now()))
            #expect(stage.takeClosedWindows())
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .compared(queued: 1, more: false))
            #expect(try Self.queuedURLs(stage) == ["https://www.example.com/a.html"], "b.html is unchanged: not queued")
            #expect(stage.failure == nil && stage.retryAt == nil)
            #expect(stage.filesTracked == 2)
        }
    }

    @Test func aFullWalkHeldBackByTheRescanBackoffAsksForAnotherWindow() async throws {
        try await Self.withTree { directory, clock in
            let site = directory + "/site"
            try Self.write(site + "/a.html", "one")
            try Self.write(site + "/b.html", "one")
            try Self.write(site + "/c.html", "one")
            let stage = try Self.stage(in: directory, clock: clock)
            _ = try await stage.reconcile(monitor: nil)
            clock.advance(by: .seconds(180))  // the reconcile's walk is past the rescan backoff

            // An overflow (its events lost: a write nobody reported): its full walk runs at once.
            try Self.write(site + "/c.html", "two")
            #expect(stage.absorb(.rescanNeeded(.overflow)))
            #expect(stage.owesFullWalk)
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .compared(queued: 1, more: false))
            #expect(!stage.owesFullWalk && stage.isIdle)

            // Another one right after, with a write: the touched path is compared now, the full
            // walk waits for the backoff — and the window must open again for it.
            try Self.write(site + "/a.html", "two")
            try Self.write(site + "/b.html", "two")  // reported by no event: only a full walk finds it
            _ = stage.absorb(.rescanNeeded(.overflow))
            _ = stage.absorb(.touched([RelativePath("a.html")]))
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .compared(queued: 1, more: true))
            #expect(stage.owesFullWalk)
            #expect(try Self.queuedURLs(stage).contains("https://www.example.com/a.html"))
            #expect(try !Self.queuedURLs(stage).contains("https://www.example.com/b.html"), "not walked yet")

            // A flush's full walk does not wait for the backoff, and it is the walk owed.
            stage.requestFullWalk()
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .compared(queued: 1, more: false))
            #expect(try Self.queuedURLs(stage).contains("https://www.example.com/b.html"))
            #expect(!stage.owesFullWalk && !stage.fullWalkRequested && stage.isIdle)
        }
    }

    /// The queue in another store than the manifest (a fleet's): the manifest moves on only once
    /// the URLs are queued there. A queue that refuses the write leaves the manifest behind, so
    /// the change is found again — not lost — and queued when the queue takes it.
    @Test func withTheQueueElsewhereTheManifestMovesOnlyAfterTheURLsAreQueued() async throws {
        try await Self.withTree { directory, clock in
            let site = directory + "/site"
            try Self.write(site + "/a.html", "one")
            try Self.write(site + "/b.html", "same")
            let stage = try Self.stage(in: directory, clock: clock)
            let queuePath = directory + "/fleet-queue.sqlite"
            let queueDB = try StateDatabase.open(path: queuePath, migrations: QueueSchema.migrations)
            defer { queueDB.close() }
            let refusing = try StateDatabase.openReadOnly(path: queuePath)
            defer { refusing.close() }
            stage.changeCommit = QueueFirstCommit(queue: SQLiteQueueStore(refusing), manifest: stage.db)
            _ = try await stage.reconcile(monitor: nil)  // the baseline: no URL, the manifest written

            try Self.write(site + "/a.html", "two")
            _ = stage.absorb(.touched([RelativePath("a.html")]))
            await #expect(throws: DatabaseError.self) { try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) }
            #expect(!stage.isIdle, "the touched path is kept for the next comparison")

            stage.changeCommit = QueueFirstCommit(queue: SQLiteQueueStore(queueDB), manifest: stage.db)
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .compared(queued: 1, more: false))
            #expect(try queueDB.read { try $0.queueRows(state: .pending) }.map(\.url) == ["https://www.example.com/a.html"])
            #expect(try Self.queuedURLs(stage).isEmpty, "nothing queued in the manifest's own file")
            // Committed: the same bytes are no change any more.
            _ = stage.absorb(.touched([RelativePath("a.html")]))
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .compared(queued: 0, more: false))
        }
    }

    @Test func aMissingRootIsWaitedForNotRetried() async throws {
        try await Self.withTree { directory, clock in
            let site = directory + "/site"
            try FileManager.default.removeItem(atPath: site)
            let stage = try Self.stage(in: directory, clock: clock)
            // The watcher says the root is missing: its appearance is the retry, not a timer.
            #expect(!stage.absorb(.rootUnavailable("no such directory")))
            #expect(stage.waitingForRoot == site)
            _ = stage.absorb(.touched([RelativePath("a.html")]))
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .unfinished(queued: 0))
            #expect(stage.retryAt == nil)
            // It appears: the watcher's rescan for the new root ends the wait.
            try FileManager.default.createDirectory(atPath: site, withIntermediateDirectories: true)
            _ = stage.absorb(.rescanNeeded(.rootReplaced(site)))
            #expect(stage.waitingForRoot == nil)
            #expect(try await stage.closeWindow(now: clock.daemonClock.now(), monitor: nil) == .compared(queued: 0, more: false))
        }
    }
}
