/// The purge queue, its batches and the quota cache (versions 100+ of the state database).
///
/// A queued URL moves `pending` → `batched` (into a batch) → `done` | `failed`; a URL whose
/// purge task failed goes back to `pending` (up to a bound). A batch moves `planned` →
/// `sending` → `accepted` → `done` | `failed` | `unverified`, or waits as `waiting-quota` until
/// the daily reset (``QueueState``, ``BatchState``). A batch found `sending` at start was interrupted mid-request and is sent again
/// (at-least-once delivery): nothing queued is ever dropped.
public enum QueueSchema {
    public static let migrations: [Migration] = [
        Migration(
            version: 100, name: "queue",
            sql: """
                CREATE TABLE batches (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    action TEXT NOT NULL,
                    area TEXT NOT NULL,
                    state TEXT NOT NULL,
                    targets TEXT NOT NULL,
                    task_id TEXT,
                    request_id TEXT,
                    attempts INTEGER NOT NULL DEFAULT 0,
                    next_attempt_at INTEGER,
                    last_error_code TEXT,
                    last_error_message TEXT,
                    dry_run INTEGER NOT NULL DEFAULT 0,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL
                );
                CREATE INDEX batches_state ON batches(state);
                CREATE TABLE queue (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    url TEXT NOT NULL,
                    area TEXT NOT NULL,
                    path BLOB,
                    kind TEXT NOT NULL,
                    first_seen INTEGER NOT NULL,
                    state TEXT NOT NULL DEFAULT 'pending',
                    batch_id INTEGER REFERENCES batches(id),
                    retries INTEGER NOT NULL DEFAULT 0,
                    error_code TEXT
                );
                CREATE UNIQUE INDEX queue_pending_url ON queue(url, area) WHERE state = 'pending';
                CREATE INDEX queue_state ON queue(state);
                CREATE INDEX queue_batch ON queue(batch_id);
                CREATE TABLE quota (
                    area TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    batch INTEGER NOT NULL,
                    total INTEGER NOT NULL,
                    available INTEGER NOT NULL,
                    fetched_at INTEGER NOT NULL,
                    PRIMARY KEY (area, kind)
                );
                """),
        // When a URL failed (flush --wait answers for its own window), when a batch was accepted
        // (the 30-minute verification deadline) and how often it was polled (a durable backoff);
        // indexes for the per-tick queries, so their cost does not grow with history (the
        // single-column state indexes are replaced by the composite ones: fewer to maintain).
        Migration(version: 101, name: "lifecycle times") { db in
            // Idempotent (a development build may have added some of it without the record).
            func columns(_ table: String) throws -> Set<String> {
                Set(try db.query("SELECT name FROM pragma_table_info('\(table)')") { $0.text(0) ?? "" })
            }
            if try !columns("queue").contains("failed_at") { try db.execute("ALTER TABLE queue ADD COLUMN failed_at INTEGER") }
            let batchColumns = try columns("batches")
            if !batchColumns.contains("accepted_at") {
                try db.execute("ALTER TABLE batches ADD COLUMN accepted_at INTEGER")
                try db.execute("UPDATE batches SET accepted_at = updated_at WHERE state = 'accepted'")
            }
            if !batchColumns.contains("polls") {
                try db.execute("ALTER TABLE batches ADD COLUMN polls INTEGER NOT NULL DEFAULT 0")
            }
            try db.execute(
                """
                CREATE INDEX IF NOT EXISTS batches_state_due ON batches(state, next_attempt_at);
                CREATE INDEX IF NOT EXISTS batches_updated ON batches(updated_at);
                CREATE INDEX IF NOT EXISTS queue_state_id ON queue(state, id);
                DROP INDEX IF EXISTS batches_state;
                DROP INDEX IF EXISTS queue_state
                """)
        },
    ]
}
