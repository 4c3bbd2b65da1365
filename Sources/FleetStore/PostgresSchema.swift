import Logging
import PostgresNIO

/// The fleet's tables in PostgreSQL, versioned like the SQLite file (SPEC §9: a daemon never
/// writes a schema newer than it knows).
///
/// `schema_version` records every version applied (version, name, when); migrations run in
/// version order, each version once, all of them in one transaction under an advisory lock, so
/// daemons that start together do not race. A database holding a version this build does not
/// know was written by a newer purgewatch: ``migrate(on:url:logger:)`` refuses it, saying which
/// version it found, and writes nothing.
///
/// Version 1 is the queue as the SQLite file holds it after its versions 100 and 101
/// (``StateStore/QueueSchema``), in PostgreSQL's types — identity ids, BIGINT milliseconds, BYTEA
/// paths, BOOLEAN flags, a TEXT[] of targets — with a `site` column on every table, because
/// several sites share one database and each store sees only its own site's rows. One pending
/// row per (site, url, area) is a partial unique index, as SQLite's `queue_pending_url` is per
/// (url, area): enqueue is `INSERT … ON CONFLICT DO NOTHING`, so concurrent enqueuers of the same
/// URL leave one row without a check-then-insert. The quota cache here is per site (a store
/// opened without a ledger; version 4 holds the account's); `meta` is the SQLite file's key/value table, per site.
///
/// Version 2 is what each origin of a site reports (SPEC §9, issue 20 item 2): `origins`, one row
/// per (site, origin) with its first and last heartbeat, and `observations`, the latest content
/// each origin found at each path (`hash` the SHA-256 of its bytes, NULL when deleted), which
/// ``PostgresQueueStore/originsObserving(_:)`` hands to ``PurgeCore/Convergence``.
///
/// Version 3 is the submitter's lease (SPEC §9, issue 20 item 3): one row per account — not per
/// site: the sites of an account share its quota and rate — naming the daemon that holds it
/// (`site/origin`), its term (the fencing token, raised at every change of holder) and when it
/// lapses (``PostgresQueueStore/claimLease(account:holder:ttlMilliseconds:nowMilliseconds:)``).
///
/// Version 4 is the account's quota ledger (SPEC §9, "one account, one budget"): the quota cache
/// of version 1, keyed by account and provider instead of site (``QuotaLedger``: CDN's quota is
/// the account's per area, EdgeOne's is per zone), which a store opened with a ledger reads,
/// replaces and counts against — so the sites of an account spend one day's quota, not one each.
///
/// Version 5 registers each site (``PostgresQueueStore/registerSite(_:origin:nowMilliseconds:)``):
/// its account, its provider and the purge settings the account's submitter needs to send its
/// URLs — the lease holder sends for every site of its account, not only its own.
public enum PostgresSchema {
    /// One step: statements without values (DDL only), applied once.
    public struct Migration: Sendable {
        public let version: Int
        public let name: String
        public let statements: [String]
    }

    public static let migrations: [Migration] = [
        Migration(
            version: 1, name: "queue",
            statements: [
                """
                CREATE TABLE batches (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    site TEXT NOT NULL DEFAULT '',
                    action TEXT NOT NULL,
                    area TEXT NOT NULL,
                    state TEXT NOT NULL,
                    targets TEXT[] NOT NULL,
                    task_id TEXT,
                    request_id TEXT,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at BIGINT,
                    last_error_code TEXT,
                    last_error_message TEXT,
                    dry_run BOOLEAN NOT NULL DEFAULT false,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    accepted_at BIGINT,
                    polls INTEGER NOT NULL DEFAULT 0
                )
                """,
                "CREATE INDEX batches_state_due ON batches (site, state, next_attempt_at)",
                "CREATE INDEX batches_updated ON batches (site, updated_at)",
                """
                CREATE TABLE queue (
                    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    site TEXT NOT NULL DEFAULT '',
                    url TEXT NOT NULL,
                    area TEXT NOT NULL,
                    path BYTEA,
                    kind TEXT NOT NULL,
                    first_seen BIGINT NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending',
                    batch_id BIGINT REFERENCES batches (id),
                    retries INTEGER NOT NULL DEFAULT 0,
                    error_code TEXT,
                    failed_at BIGINT
                )
                """,
                "CREATE UNIQUE INDEX queue_pending_url ON queue (site, url, area) WHERE state = 'pending'",
                "CREATE INDEX queue_state_id ON queue (site, state, id)",
                "CREATE INDEX queue_batch ON queue (batch_id)",
                """
                CREATE TABLE quota (
                    site TEXT NOT NULL DEFAULT '',
                    area TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    batch BIGINT NOT NULL,
                    total BIGINT NOT NULL,
                    available BIGINT NOT NULL,
                    fetched_at BIGINT NOT NULL,
                    PRIMARY KEY (site, area, kind)
                )
                """,
                """
                CREATE TABLE meta (
                    site TEXT NOT NULL DEFAULT '',
                    key TEXT NOT NULL,
                    value TEXT,
                    PRIMARY KEY (site, key)
                )
                """,
            ]),
        Migration(
            version: 2, name: "observations",
            statements: [
                """
                CREATE TABLE origins (
                    site TEXT NOT NULL,
                    origin TEXT NOT NULL,
                    first_seen BIGINT NOT NULL,
                    last_seen BIGINT NOT NULL,
                    PRIMARY KEY (site, origin)
                )
                """,
                """
                CREATE TABLE observations (
                    site TEXT NOT NULL,
                    path BYTEA NOT NULL,
                    origin TEXT NOT NULL,
                    hash BYTEA,
                    observed_at BIGINT NOT NULL,
                    PRIMARY KEY (site, path, origin),
                    FOREIGN KEY (site, origin) REFERENCES origins (site, origin) ON DELETE CASCADE
                )
                """,
            ]),
        Migration(
            version: 3, name: "submitter lease",
            statements: [
                """
                CREATE TABLE submitter_lease (
                    account TEXT PRIMARY KEY,
                    holder TEXT NOT NULL,
                    term BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL
                )
                """
            ]),
        Migration(
            version: 4, name: "account quota ledger",
            statements: [
                """
                CREATE TABLE account_quota (
                    account TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    area TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    batch BIGINT NOT NULL,
                    total BIGINT NOT NULL,
                    available BIGINT NOT NULL,
                    fetched_at BIGINT NOT NULL,
                    PRIMARY KEY (account, provider, area, kind)
                )
                """
            ]),
        Migration(
            version: 5, name: "sites",
            statements: [
                """
                CREATE TABLE sites (
                    site TEXT PRIMARY KEY,
                    account TEXT NOT NULL,
                    provider TEXT NOT NULL,
                    settings TEXT NOT NULL,
                    registered_by TEXT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX sites_account ON sites (account, site)",
            ]),
    ]

    /// The newest version this build knows.
    public static var latestVersion: Int { migrations.map(\.version).max() ?? 0 }

    /// A key for `pg_advisory_xact_lock`, so that two daemons migrating at once take turns
    /// ("purgewatch" in ASCII, a constant of ours).
    static let lockKey: Int64 = 0x7075_7267_6577_6174

    /// The newest schema version the database holds (nil: none yet), read without writing
    /// anything — `check-config --require-database`.
    public static func installedVersion(url: PostgresURL, password: String?, logger: Logger) async throws -> Int? {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try url.connectionConfiguration(password: password), id: 0, logger: logger)
            do {
                let version = try await installedVersion(on: connection, logger: logger)
                try? await connection.close()
                return version
            } catch {
                try? await connection.close()
                throw error
            }
        } catch {
            throw PostgresStoreError.wrapping(error, url: url)
        }
    }

    static func installedVersion(on connection: PostgresConnection, logger: Logger) async throws -> Int? {
        var exists = false
        for try await present in try await connection.query(
            "SELECT to_regclass('schema_version') IS NOT NULL", logger: logger
        ).decode(Bool.self) {
            exists = present
        }
        guard exists else { return nil }
        var newest: Int?
        for try await version in try await connection.query("SELECT max(version) FROM schema_version", logger: logger).decode(Int?.self) {
            newest = version
        }
        return newest
    }

    /// Brings the database to ``latestVersion`` in one transaction, or refuses a newer one.
    /// - Returns: the versions applied now (empty when it was up to date).
    /// - Throws: ``PostgresStoreError`` `schemaTooNew` (nothing written), or the server's error.
    @discardableResult
    public static func migrate(on connection: PostgresConnection, url: PostgresURL, logger: Logger) async throws -> [Int] {
        do {
            try await connection.query("BEGIN", logger: logger)
            do {
                let applied = try await migrateInTransaction(connection, url: url, logger: logger)
                try await connection.query("COMMIT", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        } catch {
            throw PostgresStoreError.wrapping(error, url: url)
        }
    }

    private static func migrateInTransaction(_ connection: PostgresConnection, url: PostgresURL, logger: Logger) async throws -> [Int] {
        try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
        try await connection.query(
            """
            CREATE TABLE IF NOT EXISTS schema_version (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at BIGINT NOT NULL
            )
            """, logger: logger)
        var present = Set<Int>()
        for try await version in try await connection.query("SELECT version FROM schema_version", logger: logger).decode(Int.self) {
            present.insert(version)
        }
        if let newest = present.max(), newest > latestVersion {
            throw PostgresStoreError(
                code: .schemaTooNew,
                message:
                    "the database's schema is version \(newest), newer than this purgewatch knows (\(latestVersion)): it was written by a newer release; upgrade this daemon (nothing was written)",
                database: url.description)
        }
        var applied: [Int] = []
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !present.contains(migration.version) {
            for statement in migration.statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
            try await connection.query(
                """
                INSERT INTO schema_version (version, name, applied_at)
                VALUES (\(migration.version), \(migration.name), (extract(epoch FROM clock_timestamp()) * 1000)::bigint)
                """, logger: logger)
            applied.append(migration.version)
        }
        if !applied.isEmpty {
            logger.info(
                "PostgreSQL schema migrated",
                metadata: ["store.versions": "\(applied.map(String.init).joined(separator: ","))", "store.database": "\(url)"])
        }
        return applied
    }
}
