import Foundation
import Glibc
import PurgeCore
import Testing

@testable import SiteWatch

/// A root that does not exist yet (installed before the first deploy) or vanishes: a state, not
/// an error. The root check runs every 60 s here, so anything seen sooner came from an event.
extension EndToEndTests {
    static func slowRootCheck() -> SiteMonitor.Options {
        var options = SiteMonitor.Options()
        options.rootCheckInterval = .seconds(60)
        return options
    }

    static func isRootReplaced(_ event: SiteEvent) -> Bool {
        if case .rescanNeeded(.rootReplaced) = event { return true }
        return false
    }

    @Test func aMissingRootTwoLevelsDeepIsWaitedForAndWatchedWhenItAppears() async throws {
        let scratch = Scratch()
        let real = try #require(FileSystem.realPath(scratch.path))
        let root = scratch.path + "/srv/www/site"
        let harness = try Harness(scratch: scratch, root: root, options: Self.slowRootCheck(), createRoot: false)
        try await harness.start(reconcile: false)
        let monitor = try #require(harness.monitor)
        #expect(try await harness.waitForEvent { $0 == .rootUnavailable(root) })
        #expect(harness.seenEvents.first == .rootUnavailable(root))
        #expect(monitor.status.isRunning && monitor.status.waitingForRoot)
        #expect(monitor.status.resolvedRoot == nil && monitor.status.watchCount == 0)
        #expect(monitor.status.rootWaitDirectory == real)
        // The detector keeps saying so (the daemon decides what to do about it).
        let error = await #expect(throws: SiteWatchError.self) { _ = try await harness.detector.detect(.full, in: harness.db) }
        #expect(error?.code == .rootUnavailable)
        // Must not: react to a sibling, or move the watch for it.
        makeDirectories(scratch.path + "/srv-other/www/site")
        // Each directory of the chain moves the watch down.
        makeDirectories(scratch.path + "/srv")
        #expect(try await harness.eventually { monitor.status.rootWaitDirectory == real + "/srv" })
        makeDirectories(scratch.path + "/srv/www")
        #expect(try await harness.eventually { monitor.status.rootWaitDirectory == real + "/srv/www" })
        #expect(!harness.seenEvents.contains(where: Self.isRootReplaced))
        // The root and a first page at once: a full walk is asked for, long before a root check.
        let clock = ContinuousClock()
        let created = clock.now
        #expect(shell("mkdir -p '\(root)/blog' && echo home > '\(root)/index.html'") == 0)
        #expect(try await harness.waitForEvent(timeout: .seconds(5), Self.isRootReplaced))
        #expect(clock.now - created < .seconds(5))
        #expect(!monitor.status.waitingForRoot && monitor.status.rootWaitDirectory == nil)
        #expect(monitor.status.resolvedRoot == real + "/srv/www/site")
        #expect(try await harness.eventually { monitor.status.watchCount == 2 })
        // The first walk of an empty manifest is its baseline; then writes are touched paths.
        #expect(try await harness.settle().isEmpty)
        #expect(harness.lastScopeWasFull)
        #expect(try harness.manifestPaths() == ["index.html"])
        harness.write("index.html", "home v2")
        harness.write("blog/post.html", "post")
        #expect(try await harness.settle() == changes([("index.html", .modified), ("blog/post.html", .created)]))
        #expect(!harness.lastScopeWasFull)
        await harness.stop()
    }

    @Test func aSymlinkRootWhoseTargetIsMissingIsWaitedFor() async throws {
        let scratch = Scratch()
        let real = try #require(FileSystem.realPath(scratch.path))
        symlinkPath(target: "releases/1", at: scratch.path + "/current")
        let harness = try Harness(
            scratch: scratch, root: scratch.path + "/current", options: Self.slowRootCheck(), createRoot: false)
        try await harness.start(reconcile: false)
        let monitor = try #require(harness.monitor)
        #expect(try await harness.waitForEvent { $0 == .rootUnavailable(scratch.path + "/current") })
        #expect(monitor.status.waitingForRoot)
        #expect(monitor.status.rootWaitDirectory == real)
        #expect(shell("mkdir -p '\(scratch.path)/releases/1' && echo v1 > '\(scratch.path)/releases/1/index.html'") == 0)
        #expect(try await harness.waitForEvent(timeout: .seconds(5), Self.isRootReplaced))
        #expect(monitor.status.resolvedRoot == real + "/releases/1")
        #expect(try await harness.settle().isEmpty)
        #expect(try harness.manifestPaths() == ["index.html"])
        // Then deploys swap the link as usual.
        #expect(shell("cp -a '\(scratch.path)/releases/1' '\(scratch.path)/releases/2'") == 0)
        writeFile(scratch.path + "/releases/2", "index.html", "v2")
        #expect(shell("cd '\(scratch.path)' && ln -s releases/2 current.new && mv -T current.new current") == 0)
        #expect(try await harness.settle() == changes([("index.html", .modified)]))
        #expect(monitor.status.resolvedRoot == real + "/releases/2")
        harness.write("index.html", "v3")
        #expect(try await harness.settle() == changes([("index.html", .modified)]))
        #expect(!harness.lastScopeWasFull)
        await harness.stop()
    }

    @Test func aRootRemovedWithItsParentGoesBackToWaiting() async throws {
        let scratch = Scratch()
        let real = try #require(FileSystem.realPath(scratch.path))
        let root = scratch.path + "/www/site"
        let harness = try Harness(scratch: scratch, root: root, options: Self.slowRootCheck())
        Self.makeSite(harness)
        try await harness.start()
        let monitor = try #require(harness.monitor)
        #expect(!monitor.status.waitingForRoot)
        #expect(shell("rm -rf '\(scratch.path)/www'") == 0)
        #expect(try await harness.waitForEvent { $0 == .rootUnavailable(root) })
        #expect(try await harness.eventually { monitor.status.rootWaitDirectory == real })
        #expect(monitor.status.waitingForRoot && monitor.status.resolvedRoot == nil && monitor.status.watchCount == 0)
        // Back (an rsync into the missing path creates it): compared with the manifest.
        #expect(shell("mkdir -p '\(root)' && echo 'home v2' > '\(root)/index.html'") == 0)
        #expect(try await harness.waitForEvent(timeout: .seconds(5), Self.isRootReplaced))
        let back = try await harness.settle()
        #expect(back.contains(Change(path: "index.html", kind: .modified)))
        #expect(back.contains(Change(path: "blog/a.html", kind: .deleted)))
        harness.write("index.html", "home v3")
        #expect(try await harness.settle() == changes([("index.html", .modified)]))
        await harness.stop()
    }

    @Test func aRootThatIsAFileIsStillAnErrorAtStart() async throws {
        let scratch = Scratch()
        writeFile(scratch.path, "site", "not a directory")
        let monitor = SiteMonitor(root: scratch.path + "/site", logger: Harness.logger)
        let error = #expect(throws: SiteWatchError.self) { _ = try monitor.start() }
        #expect(error?.code == .rootUnavailable)
    }

    @Test func theMissingPointFollowsLinksAndStopsAtTheFirstMissingName() throws {
        let scratch = Scratch()
        let real = try #require(FileSystem.realPath(scratch.path))
        makeDirectories(scratch.path + "/a")
        symlinkPath(target: "a/missing/x", at: scratch.path + "/link")
        writeFile(scratch.path, "file", "f")
        #expect(InotifyBridge.missingPoint(of: scratch.path + "/a") == nil)
        #expect(InotifyBridge.missingPoint(of: scratch.path + "/a/b/c") == RootWaitPoint(directory: real + "/a", name: Array("b".utf8)))
        #expect(InotifyBridge.missingPoint(of: scratch.path + "/link") == RootWaitPoint(directory: real + "/a", name: Array("missing".utf8)))
        #expect(InotifyBridge.missingPoint(of: scratch.path + "/a/../nope") == RootWaitPoint(directory: real, name: Array("nope".utf8)))
        #expect(InotifyBridge.missingPoint(of: scratch.path + "/file") == RootWaitPoint(directory: real, name: Array("file".utf8)))
    }
}
