// bench-history: the daemon's per-event database cost with a long history (SPEC §6: "the
// daemon's cost per event does not grow with history").
//
// Usage: bench-history [--queue N] [--batches M] [--events E]
// Builds two state files with the daemon's schema: one empty, one with N old `done` queue rows
// (default 1,000,000) in M old batches (default 100,000). Then times E "events" (default 2,000)
// on each: queue one URL, and run what the control loop and the submitter ask per tick and per
// event (pending count, due batches, flush progress, batches to verify, waiting-quota count,
// oldest pending, a pending-queue read, planning the URL into a batch and settling it).
// Prints both figures and the ratio (goal: within 2×). Benchmarks/history.sh runs it in release.
import Foundation
import StateStore

var queueRows = 1_000_000
var batchRows = 100_000
var events = 2_000
var arguments = CommandLine.arguments.dropFirst()
while let arg = arguments.popFirst() {
    switch arg {
    case "--queue": queueRows = Int(arguments.popFirst() ?? "") ?? queueRows
    case "--batches": batchRows = Int(arguments.popFirst() ?? "") ?? batchRows
    case "--events": events = Int(arguments.popFirst() ?? "") ?? events
    default:
        FileHandle.standardError.write(Data("usage: bench-history [--queue N] [--batches M] [--events E]\n".utf8))
        exit(64)
    }
}

let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-bench-history-\(getpid())").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

func open(_ name: String) throws -> StateDatabase {
    try StateDatabase.open(path: directory + "/" + name, migrations: QueueSchema.migrations)
}

let empty = try open("empty.sqlite")
let full = try open("history.sqlite")
let seedStart = ContinuousClock.now
try full.transaction { db in
    try db.execute(
        """
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < \(batchRows))
        INSERT INTO batches (action, area, state, targets, task_id, attempts, created_at, updated_at, accepted_at)
        SELECT 'PurgeUrlsCache', '', 'done', 'https://www.example.com/old/' || x || '.html', 'task-' || x, 1, x, x, x FROM c
        """)
    try db.execute(
        """
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < \(queueRows))
        INSERT INTO queue (url, area, path, kind, first_seen, state, batch_id)
        SELECT 'https://www.example.com/old/' || x || '.html', '', NULL, 'modified', x, 'done', (x % \(batchRows)) + 1 FROM c
        """)
}
let seeded = seedStart.duration(to: .now)

/// One event: what the daemon does for one changed file, and its per-tick reads.
func event(_ db: StateDatabase, _ index: Int, now: Int64) throws {
    let url = "https://www.example.com/new/\(index).html"
    try db.transaction { tx in
        _ = try tx.enqueue(url: url, area: "", path: Array("new/\(index).html".utf8), kind: .modified, nowMilliseconds: now)
    }
    try db.read { tx in
        _ = try tx.queueCount(state: .pending)
        _ = try tx.dueBatchCount(states: [.planned, .waitingQuota], nowMilliseconds: now)
        _ = try tx.batchCount(state: .waitingQuota)
        _ = try tx.waitingQuotaURLCount()
        _ = try tx.oldestPendingMilliseconds()
        _ = try tx.dueBatches(state: .accepted, nowMilliseconds: now)
        _ = try tx.flushProgress(upTo: try tx.highestQueueID(), failuresSince: now - 60_000)
    }
    let pending = try db.read { try $0.pendingQueue() }
    let batch = try db.transaction { tx in
        try tx.insertBatch(
            action: .urls, area: "", state: .planned, targets: pending.map(\.url), queueIDs: pending.map(\.id),
            dryRun: false, nowMilliseconds: now)
    }
    try db.transaction { tx in
        try tx.updateBatch(id: batch, state: .accepted, taskID: "t", acceptedMilliseconds: now, nowMilliseconds: now)
        for row in try tx.queueRows(batchID: batch) { try tx.setQueueState(id: row.id, state: .done) }
        try tx.updateBatch(id: batch, state: .done, nowMilliseconds: now)
    }
}

func measure(_ db: StateDatabase, events: Int) throws -> Duration {
    let now = Int64(Date().timeIntervalSince1970 * 1_000)
    for index in 0..<50 { try event(db, -index - 1, now: now) }  // warm up
    let start = ContinuousClock.now
    for index in 0..<events { try event(db, index, now: now) }
    return start.duration(to: .now)
}

let emptyTime = try measure(empty, events: events)
let fullTime = try measure(full, events: events)
func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
}
let perEmpty = microseconds(emptyTime) / Double(events)
let perFull = microseconds(fullTime) / Double(events)
print(String(format: "history: seeded %d queue rows + %d batches in %.1f s", queueRows, batchRows, microseconds(seeded) / 1e6))
print(
    String(
        format: "history: per event %.0f µs with an empty state, %.0f µs with the history: ratio %.2f× (goal ≤ 2×)", perEmpty,
        perFull, perFull / perEmpty))
