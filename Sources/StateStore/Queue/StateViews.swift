import Dispatch
import Foundation
import Synchronization

/// What the operator's views read — `status` (text, `--json`, `--check`), `failures`, the metrics
/// endpoint — as read-only units of the store, answered while the daemon writes. One interface,
/// so that a fleet's status reads its shared state the same way (SPEC §9; issue 20): the views
/// never see SQL or a connection.
public protocol StateViews: Sendable {
    /// The state at one instant (one read transaction); nil when there is no state yet.
    nonisolated(nonsending) func overview(_ request: OverviewRequest) async throws -> StateOverview?
    /// Every URL failed permanently and not retried or forgotten, with its batch's last error.
    /// - Throws: ``StateNotMigrated`` when an older release wrote the state (a guess would be wrong).
    nonisolated(nonsending) func failures() async throws -> [FailureRow]
}

/// What an overview includes beyond its counts.
public struct OverviewRequest: Sendable {
    /// Batches updated since this instant (nil: none), newest first, at most ``batchLimit``.
    public var batchesUpdatedSinceMilliseconds: Int64?
    public var batchLimit: Int
    /// Failed URLs listed, at most (their count is always there).
    public var failureLimit: Int
    /// The meta values read (the daemon's reports: degraded, waiting for the root…).
    public var metaKeys: [String]

    public init(batchesUpdatedSinceMilliseconds: Int64? = nil, batchLimit: Int = 0, failureLimit: Int = 0, metaKeys: [String] = []) {
        self.batchesUpdatedSinceMilliseconds = batchesUpdatedSinceMilliseconds
        self.batchLimit = batchLimit
        self.failureLimit = failureLimit
        self.metaKeys = metaKeys
    }
}

/// The state at one instant, as the views show it.
public struct StateOverview: Sendable {
    /// An older release wrote the state and the daemon has not migrated it yet: only
    /// ``filesTracked`` was read.
    public var notMigrated = false
    public var filesTracked = 0
    /// URLs not accepted by the API yet (queued, planned or being sent), not parked for the quota.
    public var unsentURLs = 0
    public var oldestUnsentMilliseconds: Int64?
    /// URLs parked until the quota resets, and when the first is tried again.
    public var waitingQuotaURLs = 0
    public var earliestQuotaWaitMilliseconds: Int64?
    /// Queue rows by state (pending, batched, failed).
    public var queueCounts: [QueueState: Int] = [:]
    public var batchCounts: [BatchState: Int] = [:]
    /// Batches updated since the request's instant, newest first.
    public var recentBatches: [BatchRow] = []
    public var failures: [FailureRow] = []
    public var quotaRows: [QuotaRow] = []
    public var lastAcceptedMilliseconds: Int64?
    /// The requested meta values that are text.
    public var meta: [String: String] = [:]

    public init() {}
}

/// The state was written by an older purgewatch and the daemon has not migrated it yet.
public struct StateNotMigrated: Error, CustomStringConvertible, Sendable {
    public var path: String

    public init(path: String) { self.path = path }

    public var description: String {
        "the state \(path) was written by an older purgewatch; start the daemon (it migrates the state) and ask again"
    }
}

/// The views over one SQLite state file: one read-only connection, opened at the first read and
/// kept (the metrics endpoint reads at every scrape), closed after an error and opened again at the
/// next read (a moved or recreated file). Reads block their thread briefly: the async units run
/// them on a queue of their own, off the cooperative pool; a caller that has a thread of its own
/// (an event loop) calls ``readOverview(_:)`` directly.
public final class SQLiteStateViews: StateViews {
    public let path: String
    private let connection = Mutex<StateDatabase?>(nil)
    private static let queue = DispatchQueue(label: "purgewatch.state-views")

    public init(path: String) { self.path = path }

    deinit { connection.withLock { $0?.close() } }

    public nonisolated(nonsending) func overview(_ request: OverviewRequest) async throws -> StateOverview? {
        try await offQueue { try self.readOverview(request) }
    }

    public nonisolated(nonsending) func failures() async throws -> [FailureRow] {
        try await offQueue { try self.readFailures() }
    }

    private nonisolated(nonsending) func offQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Self.queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// ``overview(_:)`` on the caller's thread.
    public func readOverview(_ request: OverviewRequest) throws -> StateOverview? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try use { db in
            var overview = StateOverview()
            guard try Self.isMigrated(db) else {
                overview.notMigrated = true
                overview.filesTracked = (try? db.read { try $0.manifestCount() }) ?? 0
                return overview
            }
            try db.read { tx in
                overview.filesTracked = try tx.manifestCount()
                overview.unsentURLs = try tx.unsentURLCount()
                overview.oldestUnsentMilliseconds = try tx.oldestUnsentMilliseconds()
                overview.waitingQuotaURLs = try tx.waitingQuotaURLCount()
                overview.earliestQuotaWaitMilliseconds = try tx.earliestQuotaWaitMilliseconds()
                for state in [QueueState.pending, .batched, .failed] { overview.queueCounts[state] = try tx.queueCount(state: state) }
                overview.batchCounts = try tx.batchCounts()
                if let since = request.batchesUpdatedSinceMilliseconds, request.batchLimit > 0 {
                    overview.recentBatches = Array(try tx.batches(updatedSince: since).prefix(request.batchLimit))
                }
                if request.failureLimit > 0 { overview.failures = try tx.failures(limit: request.failureLimit) }
                overview.quotaRows = try tx.quotaRows()
                overview.lastAcceptedMilliseconds = try tx.lastAcceptedMilliseconds()
                for key in request.metaKeys {
                    if case .text(let value)? = try tx.metaValue(key) { overview.meta[key] = value }
                }
            }
            return overview
        }
    }

    /// ``failures()`` on the caller's thread.
    public func readFailures() throws -> [FailureRow] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        return try use { db in
            guard try Self.isMigrated(db) else { throw StateNotMigrated(path: path) }
            return try db.read { try $0.failures() }
        }
    }

    private static func isMigrated(_ db: StateDatabase) throws -> Bool {
        guard let latest = QueueSchema.migrations.last?.version else { return true }
        return try db.userVersion() >= latest
    }

    private func use<T>(_ body: (StateDatabase) throws -> T) throws -> T {
        try connection.withLock { open in
            let db = try open ?? StateDatabase.openReadOnly(path: path)
            open = db
            do {
                return try body(db)
            } catch {
                db.close()
                open = nil
                throw error
            }
        }
    }
}
