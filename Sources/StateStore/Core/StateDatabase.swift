import CSQLite
import Foundation
import Glibc

/// The purgewatch state database: one SQLite file in WAL mode, owned by one connection.
///
/// All access goes through ``transaction(_:)`` (a write transaction, `BEGIN IMMEDIATE`) or
/// ``read(_:)`` (a consistent read snapshot), serialized by a lock, so the instance can be
/// shared (it is `Sendable`) while SQLite sees one connection used by one thread at a time.
/// Calls block the calling thread for the duration of the closure; keep closures short and
/// free of `await`.
///
/// `status` opens the same file with ``openReadOnly(path:options:)`` while the daemon writes:
/// WAL lets it read a snapshot, and the busy timeout covers checkpoints.
///
/// See <https://www.sqlite.org/wal.html> and <https://www.sqlite.org/pragma.html#pragma_synchronous>.
public final class StateDatabase: @unchecked Sendable {
    /// How hard a commit waits for the disk.
    public enum Synchronous: String, Sendable {
        /// WAL + NORMAL: a commit survives a process crash; a power loss may roll back the last
        /// commits, but never splits one (the manifest and the queue rows it acknowledges go together).
        case normal = "NORMAL"
        /// Every commit is fsynced before it returns.
        case full = "FULL"
    }

    public struct Options: Sendable {
        /// How long a statement waits for a lock held by another connection before `SQLITE_BUSY`.
        public var busyTimeoutMilliseconds: Int32
        public var synchronous: Synchronous
        /// SQLite's page cache for this connection, KiB (`PRAGMA cache_size = -N`). SQLite's
        /// default is 2,000 KiB per connection; the daemon reads the manifest in short ordered
        /// chunks, so the B-tree's upper pages are what a cache must hold, and the kernel's page
        /// cache holds the rest (issue 23: the daemon's peak was 2.2 MiB of SQLite cache).
        public var pageCacheKiB: Int

        public init(busyTimeoutMilliseconds: Int32 = 5_000, synchronous: Synchronous = .normal, pageCacheKiB: Int = 512) {
            self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
            self.synchronous = synchronous
            self.pageCacheKiB = pageCacheKiB
        }
    }

    /// StateStore's own schema: version 1 is the manifest, version 2 a small key/value table,
    /// version 3 adds the manifest's ctime and device columns.
    public static let builtInMigrations: [Migration] = [
        Migration(version: 1, name: "manifest", sql: ManifestSchema.createManifest),
        Migration(version: 2, name: "meta", sql: ManifestSchema.createMeta),
        // Idempotent: a file may have these columns without a record of the migration (written
        // by a development build before schema_migrations existed).
        Migration(version: 3, name: "manifest ctime and device") { db in
            let columns = Set(try db.query("SELECT name FROM pragma_table_info('manifest')") { $0.text(0) ?? "" })
            if !columns.contains("ctime_ns") { try db.execute("ALTER TABLE manifest ADD COLUMN ctime_ns INTEGER") }
            if !columns.contains("device") { try db.execute("ALTER TABLE manifest ADD COLUMN device INTEGER") }
        },
    ]

    /// The file this database was opened from.
    public let path: String
    /// `true` for ``openReadOnly(path:options:)``.
    public let isReadOnly: Bool

    private let connection: Database
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private var isInTransaction = false
    private var isClosed = false

    private init(connection: Database, path: String, readOnly: Bool) {
        self.connection = connection
        self.path = path
        self.isReadOnly = readOnly
        lock = .allocate(capacity: 1)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_RECURSIVE))
        pthread_mutex_init(lock, &attributes)
        pthread_mutexattr_destroy(&attributes)
    }

    deinit {
        close()
        pthread_mutex_destroy(lock)
        lock.deallocate()
    }

    /// Opens (creating if needed) the database for writing, switches it to WAL, and applies
    /// the built-in migrations followed by `migrations`, each in its own transaction.
    ///
    /// - Parameters:
    ///   - path: the SQLite file; its directory must exist.
    ///   - migrations: later modules' migrations, versions ≥ 100, ascending.
    /// - Throws: ``DatabaseError`` when the file cannot be opened, a migration fails, or the file
    ///   was written by a newer schema than this build knows.
    public static func open(path: String, migrations: [Migration] = [], options: Options = Options()) throws
        -> StateDatabase
    {
        let all = builtInMigrations + migrations
        for (previous, next) in zip(all, all.dropFirst()) where next.version <= previous.version {
            throw DatabaseError(
                extendedResultCode: SQLITE_MISUSE,
                message:
                    "migration \(next.version) (\(next.name)) must have a higher version than \(previous.version) (\(previous.name))",
                path: path)
        }
        let database = try openConnection(
            path: path, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, options: options, readOnly: false)
        try database.connection.execute("PRAGMA journal_mode=WAL")
        try database.connection.execute("PRAGMA synchronous=\(options.synchronous.rawValue)")
        try database.connection.execute("PRAGMA foreign_keys=ON")
        try database.migrate(all)
        return database
    }

    /// Opens an existing database for reading only (for `status` while the daemon runs).
    /// Applies no migration; check ``userVersion()`` before relying on a table.
    public static func openReadOnly(path: String, options: Options = Options()) throws -> StateDatabase {
        try openConnection(path: path, flags: SQLITE_OPEN_READONLY, options: options, readOnly: true)
    }

    private static func openConnection(path: String, flags: Int32, options: Options, readOnly: Bool) throws
        -> StateDatabase
    {
        var handle: OpaquePointer?
        let code = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, nil)
        guard code == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_close_v2(handle)
            throw DatabaseError(extendedResultCode: code, message: message, path: path)
        }
        sqlite3_busy_timeout(handle, options.busyTimeoutMilliseconds)
        sqlite3_extended_result_codes(handle, 1)
        let database = Database(handle: handle, path: path)
        do {
            // Reads the schema: a file that is not a database (or is locked) fails here.
            try database.execute("PRAGMA cache_size = -\(max(64, options.pageCacheKiB))")
        } catch {
            sqlite3_close_v2(handle)
            throw error
        }
        return StateDatabase(connection: database, path: path, readOnly: readOnly)
    }

    /// The migrations a file had applied before they were recorded one by one (`user_version`
    /// then named the last one applied): the manifest (1), meta (2) and the queue (100).
    static let legacyVersions = [1, 2, 100]

    /// Applies every migration not yet recorded in `schema_migrations`, in version order, each in
    /// its own transaction. Recording each version (rather than trusting `user_version` alone)
    /// lets a module add a low-numbered migration later: migration 3 runs on a file that is
    /// already at 100. `user_version` stays the highest version applied.
    private func migrate(_ migrations: [Migration]) throws {
        let current = try read { try $0.userVersion }
        if let newest = migrations.map(\.version).max(), current > newest {
            throw DatabaseError(
                extendedResultCode: SQLITE_ERROR,
                message:
                    "schema version \(current) is newer than this build knows (\(newest)); upgrade purgewatch or move the state file aside",
                path: path)
        }
        let applied = try transaction { db -> Set<Int> in
            try db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY NOT NULL, name TEXT NOT NULL)")
            var applied = Set(try db.query("SELECT version FROM schema_migrations") { Int($0.int64(0)) })
            if applied.isEmpty && current > 0 {
                for version in Self.legacyVersions where version <= current {
                    try db.run("INSERT INTO schema_migrations (version, name) VALUES (?, 'before tracking')", [.integer(Int64(version))])
                    applied.insert(version)
                }
            }
            return applied
        }
        for migration in migrations where !applied.contains(migration.version) {
            try transaction { db in
                do {
                    try migration.apply(db)
                } catch let error as DatabaseError {
                    throw DatabaseError(
                        extendedResultCode: error.extendedResultCode,
                        message: "migration \(migration.version) (\(migration.name)) failed: \(error.message)",
                        sql: error.sql, path: path)
                }
                try db.run(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [.integer(Int64(migration.version)), .text(migration.name)])
                let version = max(try db.userVersion, migration.version)
                try db.execute("PRAGMA user_version = \(version)")
            }
        }
    }

    /// The schema version (`PRAGMA user_version`) of the file.
    public func userVersion() throws -> Int { try read { try $0.userVersion } }

    private func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body()
    }

    private func begin(_ sql: String, _ body: (Database) throws -> Void) throws {
        if isClosed {
            throw DatabaseError(extendedResultCode: SQLITE_MISUSE, message: "database is closed", path: path)
        }
        if isInTransaction {
            throw DatabaseError(
                extendedResultCode: SQLITE_MISUSE, message: "transactions do not nest; use the Database you were given",
                path: path)
        }
        try connection.execute(sql)
        isInTransaction = true
        defer { isInTransaction = false }
        do {
            try body(connection)
            try connection.execute("COMMIT")
        } catch {
            try? connection.execute("ROLLBACK")
            throw error
        }
    }

    /// Runs `body` in a write transaction (`BEGIN IMMEDIATE`): committed when it returns, rolled
    /// back when it throws. Transactions do not nest.
    ///
    /// - Throws: what `body` throws, or ``DatabaseError`` (e.g. `SQLITE_BUSY` after the busy timeout,
    ///   `SQLITE_READONLY` on a read-only open).
    public func transaction<T>(_ body: (Database) throws -> T) throws -> T {
        try withLock {
            var result: T?
            try begin("BEGIN IMMEDIATE") { result = try body($0) }
            return result!
        }
    }

    /// Runs `body` in a read transaction: every query inside sees one snapshot.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try withLock {
            var result: T?
            try begin("BEGIN DEFERRED") { result = try body($0) }
            return result!
        }
    }

    /// Writes a consistent copy of the database to `path` (`VACUUM INTO`), e.g. the state a
    /// `--dry-run` starts from. Works on a read-only open while another process writes.
    public func copy(to path: String) throws {
        try withLock {
            let escaped = path.replacingOccurrences(of: "'", with: "''")
            try connection.execute("VACUUM INTO '\(escaped)'")
        }
    }

    /// Closes the connection (also done on deinit). Later calls throw `SQLITE_MISUSE`.
    public func close() {
        withLock {
            guard !isClosed else { return }
            isClosed = true
            connection.finalizeAll()
            sqlite3_close_v2(connection.handle)
        }
    }
}
