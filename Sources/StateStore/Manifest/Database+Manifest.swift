import CSQLite

/// Manifest access. Paths compare as BLOBs (memcmp), so every path under directory `d` lies
/// in the half-open range [`d/`, `d0`) — `0` is the byte after `/`.
extension Database {
    private static let selectColumns = "SELECT path, size, mtime_ns, inode, hash, checked_ns, ctime_ns, device FROM manifest"

    private static func entry(_ row: Statement) -> ManifestEntry {
        ManifestEntry(
            path: row.blob(0), size: row.int64(1), mtimeNanoseconds: row.int64(2),
            inode: UInt64(bitPattern: row.int64(3)), ctimeNanoseconds: row.isNull(6) ? nil : row.int64(6),
            device: row.isNull(7) ? nil : UInt64(bitPattern: row.int64(7)), hash: row.blob(4),
            checkedNanoseconds: row.int64(5))
    }

    /// The entry for one path, or `nil`.
    public func manifestEntry(path: [UInt8]) throws -> ManifestEntry? {
        try queryFirst(Self.selectColumns + " WHERE path = ?", [.blob(path)], Self.entry)
    }

    /// Calls `body` for every entry at `path` or beneath it (all entries for the empty path),
    /// in ascending byte order of the path, without loading them all at once.
    public func forEachManifestEntry(atOrUnder path: [UInt8], _ body: (ManifestEntry) throws -> Void) throws {
        let statement = try prepareScope(path, suffix: " ORDER BY path")
        defer { statement.reset() }
        while try statement.step() { try body(Self.entry(statement)) }
    }

    /// Up to `limit` entries at `path` or beneath it whose path sorts after `after`, ascending:
    /// one chunk of a long comparison, so a caller can read the manifest in short transactions
    /// (an empty `after` starts at the first row; paths are never empty). Each chunk is one
    /// index seek: the query has one lower bound, never two (with `path >= ?` beside
    /// `path > ?`, SQLite seeks to the first and filters up to the second — every chunk then
    /// re-read the scope from its start, 95 ms a chunk at 900,000 rows).
    public func manifestEntries(atOrUnder path: [UInt8], after: [UInt8], limit: Int) throws -> [ManifestEntry] {
        let statement: Statement
        if after.isEmpty {
            statement = try prepareScope(path, suffix: " ORDER BY path LIMIT ?4")
        } else if path.isEmpty {
            statement = try prepare(Self.selectColumns + " WHERE path > ?1 ORDER BY path LIMIT ?4")
            try statement.bind(after, at: 1)
        } else if after == path {
            // The scope's own row came last: what is left lies beneath it, `path/` up to `path0`
            // — not its siblings `path.html` or `path-x`, which sort between `path` and `path/`.
            statement = try prepare(Self.selectColumns + " WHERE path >= ?2 AND path < ?3 ORDER BY path LIMIT ?4")
            try statement.bind(path + [UInt8(ascii: "/")], at: 2)
            try statement.bind(path + [UInt8(ascii: "0")], at: 3)
        } else {
            // `after` is a row beneath the scope (`path/…`), so what is left of it lies between
            // `after` and `path0` ('0' follows '/').
            statement = try prepare(Self.selectColumns + " WHERE path > ?1 AND path < ?3 ORDER BY path LIMIT ?4")
            try statement.bind(after, at: 1)
            try statement.bind(path + [UInt8(ascii: "0")], at: 3)
        }
        try statement.bind(Int64(limit), at: 4)
        return try Self.entries(statement, limit: limit)
    }

    /// Up to `limit` entries with `from <= path < below` (no upper bound when `below` is nil)
    /// whose path sorts after `after`, ascending: one chunk of one part of a split comparison.
    /// One lower bound per query, as above.
    public func manifestEntries(from: [UInt8], below: [UInt8]?, after: [UInt8], limit: Int) throws -> [ManifestEntry] {
        let useAfter = !after.isEmpty && !(after.lexicographicallyPrecedes(from))
        let lower = useAfter ? "path > ?1" : "path >= ?1"
        let statement = try prepare(
            Self.selectColumns + " WHERE \(lower)" + (below == nil ? "" : " AND path < ?2") + " ORDER BY path LIMIT ?4")
        try statement.bind(useAfter ? after : from, at: 1)
        if let below { try statement.bind(below, at: 2) }
        try statement.bind(Int64(limit), at: 4)
        return try Self.entries(statement, limit: limit)
    }

    /// The rows at `path` or beneath it (every row for the empty path), then `suffix`:
    /// `path` itself, or `path/` up to `path0` ('0' follows '/'), bound as ?1–?3.
    private func prepareScope(_ path: [UInt8], suffix: String) throws -> Statement {
        if path.isEmpty { return try prepare(Self.selectColumns + suffix) }
        let statement = try prepare(Self.selectColumns + " WHERE path = ?1 OR (path >= ?2 AND path < ?3)" + suffix)
        try statement.bind(path, at: 1)
        try statement.bind(path + [UInt8(ascii: "/")], at: 2)
        try statement.bind(path + [UInt8(ascii: "0")], at: 3)
        return statement
    }

    private static func entries(_ statement: Statement, limit: Int) throws -> [ManifestEntry] {
        defer { statement.reset() }
        var entries: [ManifestEntry] = []
        entries.reserveCapacity(limit)
        while try statement.step() { entries.append(entry(statement)) }
        return entries
    }

    /// Inserts or replaces one entry.
    public func upsertManifestEntry(_ entry: ManifestEntry) throws {
        let statement = try prepare(
            "INSERT OR REPLACE INTO manifest (path, size, mtime_ns, inode, hash, checked_ns, ctime_ns, device)"
                + " VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        try statement.bind(entry.path, at: 1)
        try statement.bind(entry.size, at: 2)
        try statement.bind(entry.mtimeNanoseconds, at: 3)
        try statement.bind(Int64(bitPattern: entry.inode), at: 4)
        try statement.bind(entry.hash, at: 5)
        try statement.bind(entry.checkedNanoseconds, at: 6)
        try statement.bind(entry.ctimeNanoseconds.map(SQLValue.integer) ?? .null, at: 7)
        try statement.bind(entry.device.map { SQLValue.integer(Int64(bitPattern: $0)) } ?? .null, at: 8)
        try statement.run()
    }

    /// Deletes one path's entry.
    public func deleteManifestEntry(path: [UInt8]) throws {
        let statement = try prepare("DELETE FROM manifest WHERE path = ?")
        try statement.bind(path, at: 1)
        try statement.run()
    }

    /// The number of files tracked.
    public func manifestCount() throws -> Int {
        try queryFirst("SELECT count(*) FROM manifest") { Int($0.int64(0)) } ?? 0
    }

    /// A value from the `meta` key/value table.
    public func metaValue(_ key: String) throws -> SQLValue? {
        try queryFirst("SELECT value FROM meta WHERE key = ?", [.text(key)]) { $0.value(0) }
    }

    /// Sets (or with `.null` keeps as NULL) a value in the `meta` key/value table.
    public func setMetaValue(_ key: String, _ value: SQLValue) throws {
        try run("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [.text(key), value])
    }
}
