/// One step of the schema, applied once, in `version` order, inside a transaction.
///
/// The table `schema_migrations` records every version applied (a file from before that table
/// counts versions 1, 2 and 100 as applied up to its `user_version`), so a module may add a
/// migration with a lower number than another module's latest: it still runs once.
/// `PRAGMA user_version` is the highest version applied. StateStore's own migrations
/// (``StateDatabase/builtInMigrations``) use versions 1…99; later modules append theirs with
/// versions from 100 up (the queue at 100, lifecycle times at 101) and pass them to
/// ``StateDatabase/open(path:migrations:options:)``. A database whose `user_version` is higher
/// than any known migration was written by a newer purgewatch and is refused for writing.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let apply: @Sendable (Database) throws -> Void

    public init(version: Int, name: String, apply: @escaping @Sendable (Database) throws -> Void) {
        self.version = version
        self.name = name
        self.apply = apply
    }

    /// A migration that runs one or more SQL statements separated by `;`.
    public init(version: Int, name: String, sql: String) {
        self.init(version: version, name: name) { db in try db.execute(sql) }
    }
}
