import Foundation
import Glibc
import PurgeCore
import StateStore
import Testing

@testable import SiteWatch

@Suite struct RelativePathTests {
    @Test(arguments: [
        ([0x61, 0x2F, 0x62] as [UInt8], "a/b"),
        ([0x63, 0x61, 0x66, 0xE9], "caf\\xE9"),
        (Array("中文/页面.html".utf8), "中文/页面.html"),
        ([0xE4, 0xB8], "\\xE4\\xB8"),  // a truncated sequence
        ([0xED, 0xA0, 0x80], "\\xED\\xA0\\x80"),  // a UTF-16 surrogate is not UTF-8
        ([0xC0, 0xAF], "\\xC0\\xAF"),  // overlong
        (Array("a\\b".utf8), "a\\\\b"),
        (Array("with space #%.html".utf8), "with space #%.html"),
    ])
    func descriptionEscapesInvalidUTF8(bytes: [UInt8], expected: String) {
        #expect(RelativePath(bytes).description == expected)
    }

    @Test func containmentRespectsComponentBoundaries() {
        #expect(RelativePath("a").contains("a/b"))
        #expect(RelativePath("a").contains("a"))
        #expect(!RelativePath("a").contains("a-b"))
        #expect(!RelativePath("a").contains("ab/c"))
        #expect(RelativePath.root.contains("x/y"))
        #expect(RelativePath("a/b/c").parent == "a/b")
        #expect(RelativePath("a").parent == .root)
        #expect(RelativePath("a/b/c").name == Array("c".utf8))
    }

    @Test func outermostDropsNestedScopes() {
        let scopes: Set<RelativePath> = ["a", "a/b", "a-b", "a-b/c", "c/d", "c/d/e/f", "c/de"]
        #expect(Detector.outermost(scopes) == ["a", "a-b", "c/d", "c/de"])
        #expect(Detector.outermost(["x", "", "y/z"]) == [.root])
    }
}

@Suite struct PendingChangesTests {
    @Test func touchedPathsAccumulateAndAreTakenOnce() {
        var pending = PendingChanges()
        let now = ContinuousClock.now
        #expect(pending.take(now: now) == nil)
        pending.absorb(.touched(["a", "b"]))
        pending.absorb(.touched(["b", "c"]))
        #expect(pending.take(now: now) == .paths(["a", "b", "c"]))
        #expect(pending.isEmpty)
    }

    /// Above the detector's whole-tree threshold the set collapses to the root (the detector
    /// walks the tree for it anyway): a rewrite of every file holds one path, not all of them.
    @Test func aTouchedSetLargerThanTheThresholdBecomesTheRoot() {
        let now = ContinuousClock.now
        let threshold = Detector.largeScopeThreshold
        var atThreshold = PendingChanges()
        atThreshold.absorb(.touched(Set((0..<threshold).map { RelativePath("d/f\($0)") })))
        guard case .paths(let kept)? = atThreshold.take(now: now) else { Issue.record("no scope"); return }
        #expect(kept.count == threshold, "at the threshold the paths themselves are kept")

        var above = PendingChanges()
        above.absorb(.touched(Set((0..<threshold).map { RelativePath("d/f\($0)") })))
        above.absorb(.touched(["d/one-more"]))
        #expect(above.paths == [.root])
        above.absorb(.touched(["e/later"]))
        #expect(above.take(now: now) == .paths([.root]))
        #expect(above.isEmpty)
        above.restore(.paths(Set((0...threshold).map { RelativePath("r/\($0)") })))
        #expect(above.paths == [.root], "a restored scope that large collapses too")
    }

    @Test func repeatedFullRescansBackOff() {
        var pending = PendingChanges(
            backoff: RescanBackoff(initial: .seconds(1), maximum: .seconds(4), quietPeriod: .seconds(60)))
        let start = ContinuousClock.now
        pending.absorb(.rescanNeeded(.overflow))
        #expect(pending.take(now: start) == .full)  // first: at once
        pending.absorb(.rescanNeeded(.overflow))
        pending.absorb(.touched(["x"]))
        #expect(pending.take(now: start + .milliseconds(10)) == .paths(["x"]))  // held back; touched paths go through
        #expect(pending.take(now: start + .milliseconds(500)) == nil)
        #expect(pending.take(now: start + .seconds(1)) == .full)  // after 1 s
        pending.absorb(.rescanNeeded(.overflow))
        #expect(pending.take(now: start + .seconds(2)) == nil)
        #expect(pending.take(now: start + .seconds(3)) == .full)  // after 2 s more
        pending.absorb(.rescanNeeded(.overflow))
        #expect(pending.take(now: start + .seconds(6)) == nil)
        #expect(pending.take(now: start + .seconds(7)) == .full)  // after 4 s (the maximum)
        pending.absorb(.rescanNeeded(.overflow))
        #expect(pending.take(now: start + .seconds(11)) == .full)  // still 4 s
        pending.absorb(.rescanNeeded(.overflow))
        #expect(pending.take(now: start + .seconds(200)) == .full)  // after a quiet period: at once
        #expect(pending.backoff.delay == .seconds(1))
    }

    /// A flush's full walk runs whatever the backoff says, and it is the walk owed: that one is
    /// not walked again later, and it counts for the backoff.
    @Test func aFlushsFullWalkSettlesTheFullWalkOwed() {
        var pending = PendingChanges(
            backoff: RescanBackoff(initial: .seconds(1), maximum: .seconds(4), quietPeriod: .seconds(60)))
        let start = ContinuousClock.now
        pending.absorb(.rescanNeeded(.overflow))
        #expect(pending.take(now: start) == .full)
        pending.absorb(.rescanNeeded(.overflow))  // held back by the backoff
        pending.absorb(.touched(["x"]))
        pending.takeAllForFullWalk(now: start + .milliseconds(10))
        #expect(pending.isEmpty && pending.fullRescanReason == nil)
        #expect(pending.take(now: start + .seconds(5)) == nil, "the owed walk is not run again")
        #expect(pending.backoff.delay == .seconds(2), "the flush's walk counted as one")
        // Nothing owed: only the touched paths are dropped, the backoff is untouched.
        pending.absorb(.touched(["y"]))
        pending.takeAllForFullWalk(now: start + .seconds(6))
        #expect(pending.isEmpty && pending.backoff.delay == .seconds(2))
    }

    @Test func aFullRescanSubsumesTouchedPaths() {
        var pending = PendingChanges()
        pending.absorb(.touched(["a"]))
        pending.absorb(.rescanNeeded(.rootReplaced("/srv/releases/2")))
        #expect(pending.fullRescanReason == .rootReplaced("/srv/releases/2"))
        #expect(pending.take(now: .now) == .full)
        #expect(pending.isEmpty)
    }
}

/// The detector on its own (no inotify): the fast path, hashing, end states.
@Suite struct DetectorTests {
    func setUp() throws -> (Scratch, String, StateDatabase, Detector) {
        let scratch = Scratch("detector")
        let root = scratch.path + "/site"
        makeDirectories(Array((root + "/d").utf8))
        writeFile(root, "a.html", "a")
        writeFile(root, "d/b.html", "b")
        writeFile(root, ".hidden", "h")
        let db = try StateDatabase.open(path: scratch.path + "/state.sqlite")
        return (scratch, root, db, Detector(root: root, exclude: testExclusion))
    }

    @Test func baselineThenFastPath() async throws {
        let (scratch, _, db, detector) = try setUp()
        _ = scratch
        let baseline = try await detector.detect(.full, in: db)
        #expect(baseline.isBaseline)
        #expect(baseline.changes.isEmpty)
        #expect(baseline.manifestRowsRefreshed == 2)  // .hidden excluded; written while comparing
        #expect(baseline.manifestUpserts.isEmpty)
        try await detector.commit(baseline, in: db)
        // Right after hashing, the files are "racy" (modified within the window): re-hashed once.
        var fast = detector
        fast.racyWindowNanoseconds = 0
        let second = try await fast.detect(.full, in: db)
        #expect(!second.isBaseline)
        #expect(second.changes.isEmpty)
        #expect(second.filesScanned == 2)
        #expect(second.filesHashed == 0)
    }

    @Test func sameSizeRewriteWithinTheTimestampGranularityIsCaught() async throws {
        let (scratch, root, db, detector) = try setUp()
        _ = scratch
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        // Same size, and put the old mtime back: only the racy check (or the inode) can see it.
        let before = FileSystem.lstat(at: AT_FDCWD, Array((root + "/a.html").utf8))!
        writeFile(root, "a.html", "z")
        var times = [
            timespec(
                tv_sec: Int(before.mtimeNanoseconds / 1_000_000_000),
                tv_nsec: Int(before.mtimeNanoseconds % 1_000_000_000)),
            timespec(
                tv_sec: Int(before.mtimeNanoseconds / 1_000_000_000),
                tv_nsec: Int(before.mtimeNanoseconds % 1_000_000_000)),
        ]
        #expect(utimensat(AT_FDCWD, root + "/a.html", &times, 0) == 0)
        let detection = try await detector.detect(.paths(["a.html"]), in: db)
        #expect(detection.changes == [Change(path: "a.html", kind: .modified)])
    }

    @Test func vanishedAndExcludedPathsAreJudgedByEndState() async throws {
        let (scratch, root, db, detector) = try setUp()
        _ = scratch
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        removeFile(Array((root + "/d/b.html").utf8))
        rmdir(root + "/d")
        // Touched paths that no longer exist, never existed, or are excluded.
        let detection = try await detector.detect(.paths(["d/b.html", "d", "nothing/here", ".hidden"]), in: db)
        #expect(detection.changes == [Change(path: "d/b.html", kind: .deleted)])
        try await detector.commit(detection, in: db)
        #expect(try db.read { try $0.manifestCount() } == 1)
    }

    @Test func siblingScopesThatSortBetweenADirectoryAndItsFiles() async throws {
        let (scratch, root, db, detector) = try setUp()
        _ = scratch
        makeDirectories(root + "/blog/x")
        writeFile(root, "blog/a.html", "a")
        writeFile(root, "blog/x/y.html", "y")
        writeFile(root, "blog.html", "b")
        writeFile(root, "blog-2.html", "c")
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        // '.' and '-' sort before '/': "blog.html" lies between "blog" and "blog/a.html".
        let scope: Set<RelativePath> = ["blog", "blog.html", "blog-2.html", "blog/x"]
        #expect(try await detector.detect(.paths(scope), in: db).changes.isEmpty)
        writeFile(root, "blog/x/y.html", "y2")
        removeFile(Array((root + "/blog.html").utf8))
        #expect(
            try await detector.detect(.paths(scope), in: db).changes == [
                Change(path: "blog.html", kind: .deleted), Change(path: "blog/x/y.html", kind: .modified),
            ])
    }

    /// The walk is merged with the manifest read a chunk at a time: with chunks of 1, 2 and 3
    /// rows the changes are the same as with one chunk holding the whole manifest, and the
    /// expected ones — deletions at chunk boundaries, between files, after the last file, under
    /// a scope; creations before the first row; nothing unchanged reported.
    /// A whole-tree walk cut into 1, 2 or 3 parts (each part merged with its own range of rows,
    /// on its own thread) gives the same changes too.
    @Test(arguments: [1, 2, 3, 4_096], [1, 2, 3])
    func chunkedManifestReadsGiveTheSameChanges(chunk: Int, threads: Int) async throws {
        let (scratch, root, db, _) = try setUp()
        _ = scratch
        var detector = Detector(root: root, exclude: testExclusion)
        detector.racyWindowNanoseconds = 0
        detector.manifestChunk = chunk
        detector.walkThreads = threads
        makeDirectories(root + "/blog/x")
        for name in ["b1", "b2", "b3", "b4", "b5", "b6", "b7"] { writeFile(root, "blog/\(name).html", name) }
        for name in ["blog.html", "blog-2.html", "blog/x/y.html", "z1", "z2", "z3"] { writeFile(root, name, name) }
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        #expect(try await detector.detect(.full, in: db).changes.isEmpty, "nothing changed: nothing reported")
        for name in ["blog/b2.html", "blog/b3.html", "blog/b7.html", "z2", "z3"] { removeFile(Array((root + "/" + name).utf8)) }
        writeFile(root, "blog/b5.html", "b5 changed")
        writeFile(root, "0first.html", "new")
        writeFile(root, "blog/b8.html", "new")
        let full = try await detector.detect(.full, in: db)
        #expect(
            full.changes == [
                Change(path: "0first.html", kind: .created), Change(path: "blog/b2.html", kind: .deleted),
                Change(path: "blog/b3.html", kind: .deleted), Change(path: "blog/b5.html", kind: .modified),
                Change(path: "blog/b7.html", kind: .deleted), Change(path: "blog/b8.html", kind: .created),
                Change(path: "z2", kind: .deleted), Change(path: "z3", kind: .deleted),
            ])
        #expect(full.filesScanned == 12)  // 2 from setUp + 13 written − 5 removed + 2 new
        // A file scope whose siblings sort between it and its would-be children ("z1" < "z1-x"
        // < "z1.y" < "z1/"): with one row a chunk, the scope's own row ends the first chunk and
        // the next must start at "z1/", not take the siblings for rows of the scope (deleted).
        writeFile(root, "z1-x", "x")
        writeFile(root, "z1.y", "y")
        try await detector.commit(try await detector.detect(.paths(["z1-x", "z1.y"]), in: db), in: db)
        #expect(try await detector.detect(.paths(["z1"]), in: db).changes.isEmpty)
        let scoped = try await detector.detect(.paths(["blog", "z3"]), in: db)
        #expect(
            scoped.changes == full.changes.filter { $0.path.bytes.starts(with: Array("blog/".utf8)) || $0.path == "z3" })
        // Committed, every part's rows are written (a split walk keeps them per part): compared
        // again, nothing is left to report.
        #expect(full.manifestUpsertParts.joined().count == 3)
        #expect(threads == 1 || full.manifestUpsertParts.filter { !$0.isEmpty }.count >= 2, "the rows are in more than one part")
        try await detector.commit(full, in: db)
        #expect(try await detector.detect(.full, in: db).changes.isEmpty, "must not: a part's rows left unwritten")
    }

    /// Rows that acknowledge no change are written while comparing (so a rewrite of a million
    /// files does not keep a million rows); a changed file's row is not — it waits for the
    /// commit that writes its queue rows, so a comparison that is never committed reports the
    /// change again.
    @Test func onlyRowsThatAcknowledgeNoChangeAreWrittenBeforeTheCommit() async throws {
        let (scratch, root, db, _) = try setUp()
        _ = scratch
        var detector = Detector(root: root, exclude: testExclusion)
        detector.racyWindowNanoseconds = 0
        detector.manifestChunk = 2
        for index in 0..<7 { writeFile(root, "p\(index).html", "p\(index)") }
        let baseline = try await detector.detect(.full, in: db)
        #expect(baseline.manifestRowsRefreshed == 9 && baseline.manifestUpserts.isEmpty)
        try await detector.commit(baseline, in: db)
        func row(_ path: String) throws -> ManifestEntry? { try db.read { try $0.manifestEntry(path: Array(path.utf8)) } }
        let oldChanged = try #require(try row("p3.html"))
        let oldSame = try #require(try row("p5.html"))
        for index in 0..<7 { writeFile(root, "p\(index).html", index == 3 ? "changed" : "p\(index)") }
        writeFile(root, "new.html", "new")
        let detection = try await detector.detect(.full, in: db)
        #expect(
            detection.changes == [Change(path: "new.html", kind: .created), Change(path: "p3.html", kind: .modified)])
        #expect(detection.manifestRowsRefreshed == 6, "the six rewritten with the same bytes")
        #expect(Set(detection.manifestUpserts.map(\.path)) == [Array("new.html".utf8), Array("p3.html".utf8)])
        // Before any commit: the unchanged file's row has its new stat data...
        let refreshed = try #require(try row("p5.html"))
        #expect(refreshed.hash == oldSame.hash && refreshed.checkedNanoseconds > oldSame.checkedNanoseconds)
        // ...and must not: the changed file's row and the new file's are untouched.
        #expect(try row("p3.html") == oldChanged)
        #expect(try row("new.html") == nil)
        // Never committed (say the queue write failed): the next comparison reports them again.
        let again = try await detector.detect(.full, in: db)
        #expect(again.changes == detection.changes)
        #expect(again.filesHashed == 2, "only the two changes are read again")
    }

    @Test func commitWritesCallerRowsInTheSameTransaction() async throws {
        struct Refused: Error {}
        let (scratch, root, _, _) = try setUp()
        let queue = Migration(version: 100, name: "queue", sql: "CREATE TABLE queue (path BLOB, kind TEXT)")
        let db = try StateDatabase.open(path: scratch.path + "/queue.sqlite", migrations: [queue])
        let detector = Detector(root: root, exclude: testExclusion)
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        writeFile(root, "a.html", "a2")
        writeFile(root, "new.html", "n")
        let detection = try await detector.detect(.paths(["a.html", "new.html"]), in: db)
        #expect(detection.changes.count == 2)
        // A failing queue write leaves the manifest untouched: the change is detected again.
        await #expect(throws: Refused.self) {
            try await detector.commit(detection, in: db) { _ in throw Refused() }
        }
        let again = try await detector.detect(.paths(["a.html", "new.html"]), in: db)
        #expect(again.changes == detection.changes)
        let changes = again.changes
        let queued = try await detector.commit(again, in: db) { tx -> Int in
            for change in changes {
                try tx.run("INSERT INTO queue VALUES (?, ?)", [.blob(change.path.bytes), .text(change.kind.rawValue)])
            }
            return try tx.queryFirst("SELECT count(*) FROM queue") { Int($0.int64(0)) } ?? 0
        }
        #expect(queued == 2)
        #expect(try await detector.detect(.paths(["a.html", "new.html"]), in: db).changes.isEmpty)
    }

    @Test func unreadableFilesAreLeftAlone() async throws {
        guard getuid() != 0 else { return }  // root reads everything
        let (scratch, root, db, detector) = try setUp()
        _ = scratch
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        chmod(root + "/d", 0)
        defer { chmod(root + "/d", 0o755) }
        let detection = try await detector.detect(.full, in: db)
        #expect(detection.changes.isEmpty)
        #expect(detection.unreadable == ["d"])
    }

    @Test func missingRootThrows() async throws {
        let scratch = Scratch("detector")
        let db = try StateDatabase.open(path: scratch.path + "/state.sqlite")
        let detector = Detector(root: scratch.path + "/nope")
        let error = await #expect(throws: SiteWatchError.self) { _ = try await detector.detect(.full, in: db) }
        #expect(error?.code == .rootUnavailable)
    }
}

/// SPEC §5: the stat fast path compares size, mtime, ctime, inode and device; a row recorded
/// before ctime was is compared by content once, then recorded.
@Suite struct CtimeFastPathTests {
    func setUp() throws -> (Scratch, String, StateDatabase, Detector) {
        let scratch = Scratch("ctime")
        let root = scratch.path + "/site"
        makeDirectories(Array(root.utf8))
        writeFile(root, "a.html", "aaaa")
        writeFile(root, "b.html", "bbbb")
        let db = try StateDatabase.open(path: scratch.path + "/state.sqlite")
        var detector = Detector(root: root, exclude: testExclusion)
        detector.racyWindowNanoseconds = 0  // only the stat comparison may notice
        return (scratch, root, db, detector)
    }

    func restoreMtime(_ path: String, _ mtime: Int64) {
        var times = [
            timespec(tv_sec: Int(mtime / 1_000_000_000), tv_nsec: Int(mtime % 1_000_000_000)),
            timespec(tv_sec: Int(mtime / 1_000_000_000), tv_nsec: Int(mtime % 1_000_000_000)),
        ]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
    }

    @Test func sameSizeRewriteWithRestoredMtimeOnTheSameInodeIsModified() async throws {
        let (scratch, root, db, detector) = try setUp()
        _ = scratch
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        let before = FileSystem.lstat(at: AT_FDCWD, Array((root + "/a.html").utf8))!
        writeFile(root, "a.html", "zzzz")  // O_TRUNC: same inode, same size
        restoreMtime(root + "/a.html", before.mtimeNanoseconds)
        let after = FileSystem.lstat(at: AT_FDCWD, Array((root + "/a.html").utf8))!
        #expect(after.inode == before.inode && after.size == before.size && after.mtimeNanoseconds == before.mtimeNanoseconds)
        let detection = try await detector.detect(.full, in: db)
        #expect(detection.changes == [Change(path: "a.html", kind: .modified)])
        #expect(detection.filesHashed == 1, "only the file whose ctime moved is read")
    }

    @Test func sameBytesWithANewCtimeIsHashedButNotAChange() async throws {
        let (scratch, root, db, detector) = try setUp()
        _ = scratch
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        #expect(chmod(root + "/a.html", 0o600) == 0)  // moves ctime only
        let detection = try await detector.detect(.full, in: db)
        #expect(detection.changes.isEmpty)
        #expect(detection.filesHashed == 1)
        try await detector.commit(detection, in: db)
        #expect(try await detector.detect(.full, in: db).filesHashed == 0, "the new ctime was recorded")
    }

    @Test func rowsWithoutCtimeAreComparedByContentOnceThenRecorded() async throws {
        let (scratch, root, db, detector) = try setUp()
        _ = scratch
        try await detector.commit(try await detector.detect(.full, in: db), in: db)
        // What a manifest written before migration 3 holds: no ctime, no device.
        _ = try db.transaction { try $0.run("UPDATE manifest SET ctime_ns = NULL, device = NULL") }
        let first = try await detector.detect(.full, in: db)
        #expect(first.changes.isEmpty)
        #expect(first.filesHashed == 2)
        try await detector.commit(first, in: db)
        let row = try #require(try db.read { try $0.manifestEntry(path: Array("a.html".utf8)) })
        #expect(row.ctimeNanoseconds != nil && row.device != nil)
        #expect(try await detector.detect(.full, in: db).filesHashed == 0)
        _ = root
    }
}

/// Migration 3 against a manifest written by the previous schema (made with the `sqlite3` CLI,
/// an independent writer): rows survive with NULL ctime and device.
@Suite struct ManifestMigrationTests {
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 CLI missing (apt-get install sqlite3)"))
    func versionTwoManifestKeepsItsRows() throws {
        let scratch = Scratch("migration")
        let path = scratch.path + "/old.sqlite"
        let sql = """
            CREATE TABLE manifest (path BLOB PRIMARY KEY NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
              inode INTEGER NOT NULL, hash BLOB NOT NULL, checked_ns INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value ANY) WITHOUT ROWID;
            INSERT INTO manifest VALUES (CAST('a.html' AS BLOB), 4, 1000, 42, x'00', 2000);
            PRAGMA user_version = 2;
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        process.arguments = [path, sql]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        let db = try StateDatabase.open(path: path)
        let row = try #require(try db.read { try $0.manifestEntry(path: Array("a.html".utf8)) })
        #expect(row.size == 4 && row.mtimeNanoseconds == 1000 && row.inode == 42)
        #expect(row.ctimeNanoseconds == nil && row.device == nil)
        #expect(try db.read { try $0.userVersion } >= 3)
    }
}
