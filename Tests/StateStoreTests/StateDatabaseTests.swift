import Dispatch
import Glibc
import StateStore
import Testing

/// A fresh directory under /tmp, removed at deinit.
final class TemporaryDirectory {
    let path: String
    init() {
        var template = Array("/tmp/pw-statestore-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) }
    }
    deinit { _ = system("rm -rf '\(path)'") }
    var database: String { path + "/state.sqlite" }
}

@Suite struct StateDatabaseTests {
    @Test func opensInWALModeWithBuiltInMigrations() throws {
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database)
        #expect(try db.userVersion() == StateDatabase.builtInMigrations.last?.version)
        let mode = try db.read { try $0.queryFirst("PRAGMA journal_mode") { $0.text(0) } }
        #expect(mode == "wal")
        let sync = try db.read { try $0.queryFirst("PRAGMA synchronous") { $0.int64(0) } }
        #expect(sync == 1)  // NORMAL
        #expect(try db.read { try $0.manifestCount() } == 0)
        db.close()
        // Reopening applies nothing twice.
        let again = try StateDatabase.open(path: dir.database)
        #expect(try again.userVersion() == StateDatabase.builtInMigrations.last?.version)
    }

    /// Issue 23: SQLite's default page cache is 2,000 KiB per connection; ours is bounded, for
    /// the writer and for a reader alike, and a caller may choose another bound (never below 64 KiB).
    @Test func everyConnectionsPageCacheIsBounded() throws {
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database)
        #expect(try db.read { try $0.queryFirst("PRAGMA cache_size") { $0.int64(0) } } == -512)
        let reader = try StateDatabase.openReadOnly(path: dir.database)
        #expect(try reader.read { try $0.queryFirst("PRAGMA cache_size") { $0.int64(0) } } == -512)
        reader.close()
        let larger = try StateDatabase.openReadOnly(path: dir.database, options: .init(pageCacheKiB: 4_096))
        #expect(try larger.read { try $0.queryFirst("PRAGMA cache_size") { $0.int64(0) } } == -4_096)
        larger.close()
        let tiny = try StateDatabase.openReadOnly(path: dir.database, options: .init(pageCacheKiB: 1))
        #expect(try tiny.read { try $0.queryFirst("PRAGMA cache_size") { $0.int64(0) } } == -64)
        tiny.close()
        db.close()
    }

    @Test func appendedMigrationsRunOnceInOrder() throws {
        let dir = TemporaryDirectory()
        let queue = Migration(
            version: 100, name: "queue",
            sql: "CREATE TABLE queue (url TEXT PRIMARY KEY); INSERT INTO queue VALUES ('a')")
        let batches = Migration(version: 101, name: "batches") { db in
            try db.execute("CREATE TABLE batches (id INTEGER PRIMARY KEY, task TEXT)")
        }
        do {
            let db = try StateDatabase.open(path: dir.database, migrations: [queue, batches])
            #expect(try db.userVersion() == 101)
        }
        let db = try StateDatabase.open(path: dir.database, migrations: [queue, batches])
        #expect(try db.read { try $0.queryFirst("SELECT count(*) FROM queue") { $0.int64(0) } } == 1)
        // A build that only knows the built-in schema refuses the newer file for writing.
        #expect(throws: DatabaseError.self) { _ = try StateDatabase.open(path: dir.database) }
        // ... but status can still read it.
        let readOnly = try StateDatabase.openReadOnly(path: dir.database)
        #expect(try readOnly.userVersion() == 101)
    }

    @Test func migrationsMustAscend() {
        let dir = TemporaryDirectory()
        let bad = Migration(version: 2, name: "clash", sql: "SELECT 1")
        #expect(throws: DatabaseError.self) { _ = try StateDatabase.open(path: dir.database, migrations: [bad]) }
    }

    @Test func failedMigrationRollsBackAndNamesItself() throws {
        let dir = TemporaryDirectory()
        let broken = Migration(version: 100, name: "broken", sql: "CREATE TABLE t (x); INSERT INTO nowhere VALUES (1)")
        do {
            _ = try StateDatabase.open(path: dir.database, migrations: [broken])
            Issue.record("expected an error")
        } catch let error as DatabaseError {
            #expect(error.message.contains("migration 100 (broken)"))
            #expect(error.resultCode == 1)  // SQLITE_ERROR
        }
        let db = try StateDatabase.open(path: dir.database)
        #expect(try db.userVersion() == StateDatabase.builtInMigrations.last?.version)
        #expect(
            try db.read { try $0.queryFirst("SELECT count(*) FROM sqlite_schema WHERE name = 't'") { $0.int64(0) } }
                == 0)
    }

    @Test func transactionRollsBackWhenBodyThrows() throws {
        struct Boom: Error {}
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database)
        #expect(throws: Boom.self) {
            try db.transaction { tx in
                try tx.upsertManifestEntry(
                    ManifestEntry(path: [1], size: 1, mtimeNanoseconds: 1, inode: 1, hash: [1], checkedNanoseconds: 1))
                throw Boom()
            }
        }
        #expect(try db.read { try $0.manifestCount() } == 0)
    }

    @Test func transactionsDoNotNest() throws {
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database)
        #expect(throws: DatabaseError.self) {
            try db.transaction { _ in try db.transaction { _ in () } }
        }
        // The outer transaction was rolled back and the database is usable again.
        try db.transaction { tx in try tx.setMetaValue("k", .integer(1)) }
        #expect(try db.read { try $0.metaValue("k") } == .integer(1))
    }

    @Test func errorsCarrySQLiteResultCode() throws {
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database)
        do {
            try db.transaction { tx in
                try tx.run("CREATE TABLE u (x INTEGER NOT NULL)")
                try tx.run("INSERT INTO u VALUES (NULL)")
            }
            Issue.record("expected a constraint error")
        } catch let error as DatabaseError {
            #expect(error.resultCode == 19)  // SQLITE_CONSTRAINT
            #expect(error.extendedResultCode == 1299)  // SQLITE_CONSTRAINT_NOTNULL
            #expect(error.sql == "INSERT INTO u VALUES (NULL)")
            #expect(error.description.contains("NOT NULL"))
        }
    }

    @Test func typedBindingsRoundTrip() throws {
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database)
        let raw: [UInt8] = [0x61, 0xE9, 0x00, 0xFF, 0x2F]
        let values: [SQLValue] = [.integer(-42), .real(1.5), .text("中文 #%"), .blob(raw), .blob([]), .null]
        let back = try db.transaction { tx -> [SQLValue] in
            try tx.run("CREATE TABLE v (a, b, c, d, e, f)")
            try tx.run("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)", values)
            return try tx.queryFirst("SELECT a, b, c, d, e, f FROM v") { row in (0..<6).map { row.value(Int32($0)) } }
                ?? []
        }
        #expect(back == values)
    }

    @Test func manifestRangesRespectPathBoundaries() throws {
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database)
        let paths = ["a", "a-b/x", "a/x", "a/y/z", "a0", "b", "a.html"].map { Array($0.utf8) } + [[0x61, 0x2F, 0xE9]]
        try db.transaction { tx in
            for path in paths {
                try tx.upsertManifestEntry(
                    ManifestEntry(
                        path: path, size: 1, mtimeNanoseconds: 2, inode: UInt64.max, hash: [9], checkedNanoseconds: 3))
            }
        }
        var under: [[UInt8]] = []
        try db.read { tx in try tx.forEachManifestEntry(atOrUnder: Array("a".utf8)) { under.append($0.path) } }
        #expect(under == [Array("a".utf8), Array("a/x".utf8), Array("a/y/z".utf8), [0x61, 0x2F, 0xE9]])
        var all = 0
        try db.read { tx in try tx.forEachManifestEntry(atOrUnder: []) { _ in all += 1 } }
        #expect(all == paths.count)
        let entry = try db.read { try $0.manifestEntry(path: Array("b".utf8)) }
        #expect(entry?.inode == UInt64.max)
        try db.transaction { try $0.deleteManifestEntry(path: Array("b".utf8)) }
        #expect(try db.read { try $0.manifestEntry(path: Array("b".utf8)) } == nil)
    }

    @Test func readOnlyConnectionReadsWhileTheWriterHoldsATransaction() throws {
        let dir = TemporaryDirectory()
        let writer = try StateDatabase.open(path: dir.database)
        try writer.transaction { tx in
            try tx.upsertManifestEntry(
                ManifestEntry(path: [1], size: 1, mtimeNanoseconds: 1, inode: 1, hash: [1], checkedNanoseconds: 1))
        }
        let reader = try StateDatabase.openReadOnly(path: dir.database)
        let inside = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            try? writer.transaction { tx in
                try tx.upsertManifestEntry(
                    ManifestEntry(path: [2], size: 1, mtimeNanoseconds: 1, inode: 1, hash: [1], checkedNanoseconds: 1))
                inside.signal()
                release.wait()
            }
            done.signal()
        }
        inside.wait()
        // The writer's transaction is open: the reader sees the last committed snapshot.
        #expect(try reader.read { try $0.manifestCount() } == 1)
        release.signal()
        done.wait()
        #expect(try reader.read { try $0.manifestCount() } == 2)
        #expect(throws: DatabaseError.self) {
            try reader.transaction { try $0.setMetaValue("x", .integer(1)) }
        }
    }

    @Test func concurrentUseIsSerialized() async throws {
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database)
        await withTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    for index in 0..<50 {
                        try? db.transaction { tx in
                            try tx.upsertManifestEntry(
                                ManifestEntry(
                                    path: [UInt8(worker), UInt8(index)], size: 1, mtimeNanoseconds: 1, inode: 1,
                                    hash: [1], checkedNanoseconds: 1))
                        }
                    }
                }
            }
        }
        #expect(try db.read { try $0.manifestCount() } == 400)
    }
}

@Suite struct DueBatchTests {
    /// The per-tick read returns the batches whose time has come, and not the others.
    @Test func onlyDueBatchesAreLoaded() throws {
        let dir = TemporaryDirectory()
        let db = try StateDatabase.open(path: dir.database, migrations: QueueSchema.migrations)
        let ids = try db.transaction { tx -> [Int64] in
            let now: Int64 = 1_000
            return [
                try tx.insertBatch(action: .urls, area: "", state: .accepted, targets: ["a"], queueIDs: [], dryRun: false, nowMilliseconds: now),
                try tx.insertBatch(
                    action: .urls, area: "", state: .accepted, targets: ["b"], queueIDs: [], dryRun: false, nextAttemptMilliseconds: 900,
                    nowMilliseconds: now),
                try tx.insertBatch(
                    action: .urls, area: "", state: .accepted, targets: ["c"], queueIDs: [], dryRun: false, nextAttemptMilliseconds: 5_000,
                    nowMilliseconds: now),
                try tx.insertBatch(action: .urls, area: "", state: .planned, targets: ["d"], queueIDs: [], dryRun: false, nowMilliseconds: now),
            ]
        }
        let due = try db.read { try $0.dueBatches(state: .accepted, nowMilliseconds: 1_000) }
        #expect(due.map(\.id) == [ids[0], ids[1]], "not the one due later, not another state")
        #expect(try db.read { try $0.dueBatches(state: .accepted, nowMilliseconds: 5_000) }.count == 3)
    }
}
