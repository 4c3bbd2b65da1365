import Logging
import PostgresNIO
import StateStore
import Synchronization

/// The fleet's store (SPEC §9): the ``StateStore/QueueStore`` contract on PostgreSQL, one site of
/// several per database. Each unit is one transaction on one pooled connection; where the
/// contract hands rows to a closure (`planBatches`, `settle`) they are read `FOR UPDATE` inside
/// it, the closure runs, and its result is written before `COMMIT`. Every statement names the
/// store's site, so two sites in one database never see each other's rows.
///
/// ## Who runs the client
///
/// postgres-nio's `PostgresClient` is a ServiceLifecycle `Service`: its pool works only while
/// its `run()` runs. Two ways to own that:
/// - ``connect(url:site:ledger:password:logger:)`` checks the server and migrates the schema on one
///   connection of its own (so an unreachable server or a schema too new fails at once, with the
///   server's reason, instead of queueing requests behind the pool's 60 s circuit breaker), then
///   starts the client's `run()` in a task the store owns; ``close()`` cancels it and waits.
///   A store released without `close()` cancels the task when it goes. This is the form the
///   tests and the CLI use, and the daemon's until it is wired (issue 20).
/// - ``init(client:site:url:logger:)`` takes a client that the caller runs — in the daemon, as
///   one more `Service` of its `ServiceGroup`, shut down with it — after ``migrate()``.
public final class PostgresQueueStore: QueueStore {
    public let client: PostgresClient
    /// The site whose rows this store reads and writes.
    public let site: String
    /// The quota ledger the store counts against (shared by the sites of an account that purge
    /// through the same provider); nil: the site's own quota cache.
    public let ledger: QuotaLedger?
    /// The database, for messages (its description is redacted).
    public let url: PostgresURL
    let logger: Logger
    private let runTask: Task<Void, Never>?
    /// When set, every transaction first checks that this submitter's term is still the
    /// account's (``fenced(by:)``).
    public let fence: LeaseFence?
    /// How ``listenForQueueChanges(_:)`` connects: a connection of its own, outside the pool (a
    /// listening connection is held for good, and the pool's are the units'). Nil for a store over
    /// a caller's client: it does not listen.
    let listenConfiguration: PostgresConnection.Configuration?

    /// A store over a client the caller runs (`client.run()`, e.g. in a `ServiceGroup`). Call
    /// ``migrate()`` before the first unit.
    public init(client: PostgresClient, site: String, ledger: QuotaLedger? = nil, url: PostgresURL, logger: Logger) {
        self.client = client
        self.site = site
        self.ledger = ledger
        self.url = url
        self.logger = logger
        self.runTask = nil
        self.fence = nil
        self.listenConfiguration = nil
    }

    private init(
        client: PostgresClient, site: String, ledger: QuotaLedger?, url: PostgresURL, logger: Logger, runTask: Task<Void, Never>?,
        fence: LeaseFence?, listenConfiguration: PostgresConnection.Configuration? = nil
    ) {
        self.client = client
        self.site = site
        self.ledger = ledger
        self.url = url
        self.logger = logger
        self.runTask = runTask
        self.fence = fence
        self.listenConfiguration = listenConfiguration
    }

    /// The same store, for the submitter that holds `fence`'s term: each of its transactions
    /// first checks that the term is still the account's (the lease row locked `FOR SHARE` until
    /// it commits), and writes nothing otherwise (``PostgresStoreError/Code/fenced``). It shares
    /// the pool; closing it does nothing (the store it came from owns the pool).
    public func fenced(by fence: LeaseFence) -> PostgresQueueStore {
        PostgresQueueStore(client: client, site: site, ledger: ledger, url: url, logger: logger, runTask: nil, fence: fence)
    }

    deinit { runTask?.cancel() }

    /// Connects to `url`, brings its schema to ``PostgresSchema/latestVersion`` and starts the
    /// pool, which the store then owns (``close()``).
    /// - Parameters:
    ///   - password: the password, when it does not come from the URL (the URL's is for tests).
    /// - Throws: ``PostgresStoreError``: the server unreachable or refusing (`connection`), a
    ///   schema newer than this build knows (`schemaTooNew`, nothing written).
    ///   - ledger: the quota ledger the store counts against (nil: the site's own cache).
    ///   - migrating: false for a reader (`status`): the schema must already be this build's,
    ///     nothing is written (a daemon migrates it).
    public static func connect(
        url: PostgresURL, site: String, ledger: QuotaLedger? = nil, password: String? = nil, migrating: Bool = true, logger: Logger
    ) async throws -> PostgresQueueStore {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try url.connectionConfiguration(password: password), id: 0, logger: logger)
            do {
                if migrating {
                    try await PostgresSchema.migrate(on: connection, url: url, logger: logger)
                } else if let version = try await PostgresSchema.installedVersion(on: connection, logger: logger),
                    version != PostgresSchema.latestVersion
                {
                    throw PostgresStoreError(
                        code: version > PostgresSchema.latestVersion ? .schemaTooNew : .server,
                        message:
                            "the database's schema is version \(version), this purgewatch reads version \(PostgresSchema.latestVersion): start a daemon of this release (it migrates) or use the release that wrote it",
                        database: url.description)
                }
            } catch {
                try? await connection.close()
                throw error
            }
            try? await connection.close()
        } catch {
            throw PostgresStoreError.wrapping(error, url: url)
        }
        var configuration = url.clientConfiguration(password: password)
        // The daemon's stages take turns on one executor: a few connections are plenty.
        configuration.options.maximumConnections = 4
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let task = Task { await client.run() }
        return PostgresQueueStore(
            client: client, site: site, ledger: ledger, url: url, logger: logger, runTask: task, fence: nil,
            listenConfiguration: try? url.connectionConfiguration(password: password))
    }

    /// Stops the pool this store started (``connect(url:site:ledger:password:logger:)``); units fail
    /// afterwards. A store over a caller's client leaves it alone.
    public func close() async {
        guard let runTask else { return }
        runTask.cancel()
        await runTask.value
    }

    /// ``close()``, waiting at most `limit` for the pool to end (a unit stuck on a connection the
    /// network lost must not hold a daemon's stop past systemd's `TimeoutStopSec`).
    public func close(waitingAtMost limit: Duration) async {
        guard let runTask else { return }
        runTask.cancel()
        await awaitAtMost(limit) { await runTask.value }
    }

    /// Migrates the schema through the client (the caller runs it); see ``PostgresSchema``.
    public func migrate() async throws {
        do {
            try await client.withConnection { connection in
                _ = try await PostgresSchema.migrate(on: connection, url: url, logger: logger)
            }
        } catch {
            throw PostgresStoreError.wrapping(error, url: url)
        }
    }

    // MARK: - Units

    /// One transaction: `BEGIN`, the fence's check on a fenced store, `body`, `COMMIT` (`ROLLBACK`
    /// when it throws). An error of the closure passes through as it is; the server's become
    /// ``PostgresStoreError``.
    /// - Parameter fenced: false for the lease's own units (a claim, a release), which must never
    ///   wait behind or be refused by the fence they decide.
    @discardableResult
    nonisolated(nonsending) func transaction<T: Sendable>(fenced: Bool = true, _ body: (PostgresUnit) async throws -> T) async throws
        -> T
    {
        do {
            return try await client.withConnection { connection in
                let unit = PostgresUnit(connection: connection, site: site, ledger: ledger, logger: logger)
                try await unit.run("BEGIN")
                do {
                    if fenced, let fence { try await unit.checkFence(fence) }
                    let value = try await body(unit)
                    try await unit.run("COMMIT")
                    return value
                } catch {
                    _ = try? await unit.run("ROLLBACK")
                    throw error
                }
            }
        } catch {
            throw PostgresStoreError.wrapping(error, url: url)
        }
    }

    /// A read outside a transaction (each statement sees one snapshot).
    @discardableResult
    nonisolated(nonsending) func read<T: Sendable>(_ body: (PostgresUnit) async throws -> T) async throws -> T {
        do {
            return try await client.withConnection { connection in
                try await body(PostgresUnit(connection: connection, site: site, ledger: ledger, logger: logger))
            }
        } catch {
            throw PostgresStoreError.wrapping(error, url: url)
        }
    }

    public nonisolated(nonsending) func enqueue(_ urls: [NewQueueRow], nowMilliseconds: Int64) async throws -> Int {
        guard !urls.isEmpty else { return 0 }
        return try await transaction { unit in
            let added = try await unit.enqueue(urls, nowMilliseconds: nowMilliseconds)
            try await unit.notifyQueueChanged()
            return added
        }
    }

    /// Queues a URL for this site unless the same (url, area) is already pending; returns whether
    /// a row was added (``enqueue(_:nowMilliseconds:)`` for one URL).
    @discardableResult
    public nonisolated(nonsending) func enqueue(url: String, area: String, path: [UInt8]?, kind: QueueKind, nowMilliseconds: Int64)
        async throws -> Bool
    {
        try await transaction { try await $0.enqueue(url: url, area: area, path: path, kind: kind, nowMilliseconds: nowMilliseconds) }
    }

    // MARK: Planning

    public nonisolated(nonsending) func pendingURLs() async throws -> [QueueRow] {
        try await read { try await $0.pendingQueue(forUpdate: false) }
    }

    public nonisolated(nonsending) func insertBatches(_ batches: [NewBatch], nowMilliseconds: Int64) async throws {
        guard !batches.isEmpty else { return }
        try await transaction { unit in
            for batch in batches {
                try await unit.insertBatch(
                    action: batch.action, area: batch.area, state: batch.state, targets: batch.targets, queueIDs: batch.queueIDs,
                    dryRun: batch.dryRun, nextAttemptMilliseconds: batch.nextAttemptMilliseconds, nowMilliseconds: nowMilliseconds)
            }
        }
    }

    public nonisolated(nonsending) func planBatches(nowMilliseconds: Int64, _ plan: ([PendingURL]) throws -> [NewBatch]) async throws {
        try await transaction { unit in
            let pending = try await unit.pendingToPlan(forUpdate: true)
            guard !pending.isEmpty else { return }
            for batch in try plan(pending) {
                try await unit.insertBatch(
                    action: batch.action, area: batch.area, state: batch.state, targets: batch.targets, queueIDs: batch.queueIDs,
                    dryRun: batch.dryRun, nextAttemptMilliseconds: batch.nextAttemptMilliseconds, nowMilliseconds: nowMilliseconds)
            }
        }
    }

    public nonisolated(nonsending) func batches(in state: BatchState, dueBy: Int64?) async throws -> [BatchRow] {
        try await read { unit in
            if let dueBy {
                return try await unit.batchRows(
                    """
                    SELECT \(unescaped: PostgresUnit.batchColumns) FROM batches
                    WHERE site = \(site) AND state = \(state.rawValue) AND (next_attempt_at IS NULL OR next_attempt_at <= \(dueBy))
                    ORDER BY id
                    """)
            }
            return try await unit.batchRows(
                "SELECT \(unescaped: PostgresUnit.batchColumns) FROM batches WHERE site = \(site) AND state = \(state.rawValue) ORDER BY id")
        }
    }

    public nonisolated(nonsending) func dissolve(batch: Int64) async throws {
        try await transaction { try await $0.dissolveBatch(id: batch) }
    }

    /// Dissolves `batch` only while it is still `sending`, its row locked meanwhile: a takeover's
    /// resend of a previous holder's half-sent batch, which a pass of this process may have settled
    /// in between (an acceptance dissolved would be sent again: charged twice).
    /// - Returns: whether it was dissolved.
    public nonisolated(nonsending) func dissolveIfSending(batch: Int64) async throws -> Bool {
        try await transaction { unit in
            var state: String?
            for try await value in try await unit.run(
                "SELECT state FROM batches WHERE site = \(site) AND id = \(batch) FOR UPDATE"
            ).decode(String.self) {
                state = value
            }
            guard state == BatchState.sending.rawValue else { return false }
            try await unit.dissolveBatch(id: batch)
            return true
        }
    }

    // MARK: Sending

    public nonisolated(nonsending) func markSending(batch: Int64, state: BatchState, attempts: Int, nowMilliseconds: Int64) async throws {
        try await transaction { unit in
            try await unit.run(
                """
                UPDATE batches SET state = \(state.rawValue), attempts = \(attempts), updated_at = \(nowMilliseconds)
                WHERE site = \(site) AND id = \(batch)
                """)
        }
    }

    public nonisolated(nonsending) func recordAccepted(_ batch: BatchRow, acceptance: Acceptance, nowMilliseconds: Int64) async throws {
        try await transaction { unit in
            var targets = batch.targets
            if !acceptance.rejected.isEmpty {
                // The refused targets leave the batch (the verifier polls for the rest); their
                // rows fail alone or move to batches of their own, in the same unit.
                let refused = Set(acceptance.rejected.map(\.target))
                targets = batch.targets.filter { !refused.contains($0) }
                let rows = try await unit.queueRows(batchID: batch.id, forUpdate: true).filter { $0.state == .batched }
                var later: [Acceptance.Rejection.Later: (targets: [String], rows: [Int64], reason: String)] = [:]
                for rejection in acceptance.rejected {
                    let covered = rows.filter {
                        batch.action == .directories ? $0.url.hasPrefix(rejection.target) : $0.url == rejection.target
                    }
                    guard let next = rejection.later else {
                        try await unit.setQueueState(
                            ids: covered.map(\.id), state: .failed, errorCode: rejection.reason, nowMilliseconds: nowMilliseconds)
                        continue
                    }
                    later[next, default: ([], [], rejection.reason)].targets.append(rejection.target)
                    later[next, default: ([], [], rejection.reason)].rows += covered.map(\.id)
                }
                for (next, part) in later.sorted(by: { $0.key.dueMilliseconds < $1.key.dueMilliseconds }) {
                    let id = try await unit.insertBatch(
                        action: batch.action, area: batch.area, state: next.state, targets: part.targets, queueIDs: part.rows,
                        dryRun: batch.isDryRun, nextAttemptMilliseconds: next.dueMilliseconds, nowMilliseconds: nowMilliseconds)
                    try await unit.run(
                        """
                        UPDATE batches SET attempts = \(acceptance.attempts), last_error_code = \(part.reason), updated_at = \(nowMilliseconds)
                        WHERE site = \(site) AND id = \(id)
                        """)
                }
                if let kind = acceptance.exhaustQuota {
                    try await unit.consumeQuota(kind: kind, count: Int.max / 2, areas: acceptance.areas)
                }
            }
            try await unit.run(
                """
                UPDATE batches SET state = \(acceptance.state.rawValue), task_id = \(acceptance.taskID), request_id = \(acceptance.requestID),
                    next_attempt_at = \(acceptance.firstPollMilliseconds), last_error_code = NULL, last_error_message = NULL,
                    targets = \(targets), accepted_at = \(acceptance.acceptedMilliseconds), polls = 0, updated_at = \(nowMilliseconds)
                WHERE site = \(site) AND id = \(batch.id)
                """)
            try await unit.consumeQuota(kind: batch.action.quotaKind, count: targets.count, areas: acceptance.areas)
        }
    }

    public nonisolated(nonsending) func recordSimulated(
        _ batch: BatchRow, state: BatchState, areas: [String], nowMilliseconds: Int64
    ) async throws {
        try await transaction { unit in
            try await unit.run(
                """
                UPDATE batches SET state = \(state.rawValue), task_id = \("dry-run-\(batch.id)"), updated_at = \(nowMilliseconds)
                WHERE site = \(site) AND id = \(batch.id)
                """)
            let batched = try await unit.queueRows(batchID: batch.id, forUpdate: true).filter { $0.state == .batched }.map(\.id)
            try await unit.setQueueState(ids: batched, state: .done, errorCode: nil)
            try await unit.consumeQuota(kind: batch.action.quotaKind, count: batch.targets.count, areas: areas)
        }
    }

    public nonisolated(nonsending) func recordFailure(_ batch: BatchRow, _ failure: FailedSend, nowMilliseconds: Int64) async throws -> Bool {
        try await transaction { unit in
            try await unit.run(
                """
                UPDATE batches SET state = \(failure.state.rawValue), next_attempt_at = \(failure.dueMilliseconds),
                    last_error_code = \(failure.errorCode), last_error_message = \(failure.errorMessage), updated_at = \(nowMilliseconds)
                WHERE site = \(site) AND id = \(batch.id)
                """)
            if let kind = failure.exhaustQuota { try await unit.consumeQuota(kind: kind, count: Int.max / 2, areas: failure.areas) }
            let rows = try await unit.queueRows(batchID: batch.id, forUpdate: true)
            if failure.failURLs {
                let batched = rows.filter { $0.state == .batched }.map(\.id)
                try await unit.setQueueState(ids: batched, state: .failed, errorCode: failure.errorCode, nowMilliseconds: nowMilliseconds)
            }
            guard let url = failure.failAlone else { return true }
            guard rows.contains(where: { $0.url == url }) else { return false }
            let alone = rows.filter { $0.url == url && $0.state == .batched }.map(\.id)
            try await unit.setQueueState(ids: alone, state: .failed, errorCode: failure.errorCode, nowMilliseconds: nowMilliseconds)
            try await unit.run(
                """
                UPDATE batches SET targets = \(batch.targets.filter { $0 != url }), updated_at = \(nowMilliseconds)
                WHERE site = \(site) AND id = \(batch.id)
                """)
            return true
        }
    }

    public nonisolated(nonsending) func lowerBatchSize(kind: QuotaKind, to size: Int, defaults: [QuotaRow]) async throws {
        try await transaction { unit in
            if try await unit.quotaRows().isEmpty { try await unit.replaceQuota(defaults) }
            try await unit.setBatchSize(kind: kind, to: size)
        }
    }

    public nonisolated(nonsending) func split(_ batch: BatchRow, into parts: [[String]], nowMilliseconds: Int64) async throws {
        let byPrefix = batch.action == .directories
        try await transaction { unit in
            let rows = try await unit.queueRows(batchID: batch.id, forUpdate: true).filter { $0.state == .batched }
            for part in parts where !part.isEmpty {
                let members = Set(part)
                let ids = rows.filter { row in
                    byPrefix ? part.contains { row.url.hasPrefix($0) } : members.contains(row.url)
                }.map(\.id)
                try await unit.insertBatch(
                    action: batch.action, area: batch.area, state: .planned, targets: part, queueIDs: ids, dryRun: false,
                    nextAttemptMilliseconds: nil, nowMilliseconds: nowMilliseconds)
            }
            try await unit.dissolveBatch(id: batch.id)
        }
    }

    // MARK: Verifying

    public nonisolated(nonsending) func urls(ofBatch batch: Int64) async throws -> [QueueRow] {
        try await read { try await $0.queueRows(batchID: batch, forUpdate: false) }
    }

    public nonisolated(nonsending) func schedulePoll(
        batch: Int64, state: BatchState, atMilliseconds: Int64, polls: Int, nowMilliseconds: Int64
    ) async throws {
        try await transaction { unit in
            try await unit.run(
                """
                UPDATE batches SET state = \(state.rawValue), next_attempt_at = \(atMilliseconds), polls = \(polls), updated_at = \(nowMilliseconds)
                WHERE site = \(site) AND id = \(batch)
                """)
        }
    }

    public nonisolated(nonsending) func markUnverified(batch: Int64, state: BatchState, message: String, nowMilliseconds: Int64) async throws {
        try await transaction { unit in
            try await unit.run(
                """
                UPDATE batches SET state = \(state.rawValue), next_attempt_at = NULL, last_error_code = 'Unverified',
                    last_error_message = \(message), updated_at = \(nowMilliseconds)
                WHERE site = \(site) AND id = \(batch)
                """)
            // Accepted, never confirmed: settled (so history can be pruned), marked as such.
            let batched = try await unit.queueRows(batchID: batch, forUpdate: true).filter { $0.state == .batched }.map(\.id)
            try await unit.setQueueState(ids: batched, state: .done, errorCode: "Unverified")
        }
    }

    public nonisolated(nonsending) func settle(
        batch: Int64, nowMilliseconds: Int64, _ decide: ([QueueRow]) throws -> Settlement?
    ) async throws {
        try await transaction { unit in
            guard let settlement = try decide(try await unit.queueRows(batchID: batch, forUpdate: true)) else { return }
            try await unit.setQueueState(ids: settlement.done, state: .done, errorCode: nil)
            try await unit.release(ids: settlement.requeued, retry: true, errorCode: settlement.errorCode)
            try await unit.setQueueState(
                ids: settlement.failed, state: .failed, errorCode: settlement.errorCode, nowMilliseconds: nowMilliseconds)
            // A nil code or message leaves the batch's as it was.
            try await unit.run(
                """
                UPDATE batches SET state = \(settlement.state.rawValue), next_attempt_at = NULL,
                    last_error_code = COALESCE(\(settlement.errorCode), last_error_code),
                    last_error_message = COALESCE(\(settlement.errorMessage), last_error_message), updated_at = \(nowMilliseconds)
                WHERE site = \(site) AND id = \(batch)
                """)
        }
    }

    public nonisolated(nonsending) func prune(olderThan milliseconds: Int64) async throws -> (queue: Int, batches: Int) {
        let limit = 5_000
        return try await transaction { unit in
            let queue = try await unit.count(
                """
                WITH d AS (
                    DELETE FROM queue WHERE id IN (
                        SELECT id FROM queue WHERE site = \(site) AND state IN ('done', 'superseded', 'failed', 'forgotten')
                            AND COALESCE(failed_at, first_seen) < \(milliseconds)
                            AND (batch_id IS NULL OR batch_id IN (SELECT id FROM batches WHERE site = \(site) AND updated_at < \(milliseconds)))
                        LIMIT \(limit))
                    RETURNING 1)
                SELECT count(*) FROM d
                """)
            let batches = try await unit.count(
                """
                WITH d AS (
                    DELETE FROM batches WHERE id IN (
                        SELECT id FROM batches b WHERE site = \(site) AND state IN ('done', 'failed', 'unverified') AND updated_at < \(milliseconds)
                            AND NOT EXISTS (SELECT 1 FROM queue WHERE queue.batch_id = b.id)
                        LIMIT \(limit))
                    RETURNING 1)
                SELECT count(*) FROM d
                """)
            try await unit.pruneObservations(olderThan: milliseconds)
            return (queue, batches)
        }
    }

    // MARK: Scheduling

    public nonisolated(nonsending) func workload(nowMilliseconds: Int64) async throws -> Workload {
        try await read { unit in
            let rows = try await unit.run(
                """
                SELECT
                    (SELECT count(*) FROM queue WHERE site = \(site) AND state = 'pending'),
                    (SELECT count(*) FROM batches WHERE site = \(site) AND state = 'planned'),
                    (SELECT count(*) FROM batches WHERE site = \(site) AND state = 'waiting-quota'),
                    (SELECT count(*) FROM batches WHERE site = \(site) AND state = 'planned' AND COALESCE(next_attempt_at, 0) <= \(nowMilliseconds)),
                    (SELECT count(*) FROM batches WHERE site = \(site) AND state = 'waiting-quota' AND COALESCE(next_attempt_at, 0) <= \(nowMilliseconds))
                """)
            var work = Workload()
            for try await (pending, planned, waiting, plannedDue, waitingDue) in rows.decode((Int, Int, Int, Int, Int).self) {
                work.pending = pending
                work.planned = planned
                work.waitingQuota = waiting
                work.plannedDue = plannedDue
                work.waitingQuotaDue = waitingDue
            }
            return work
        }
    }

    public nonisolated(nonsending) func earliestAttempt(in states: [BatchState]) async throws -> Int64? {
        try await read { unit in
            let rows = try await unit.run(
                "SELECT MIN(COALESCE(next_attempt_at, 0)) FROM batches WHERE site = \(site) AND state = ANY(\(states.map(\.rawValue)))")
            for try await value in rows.decode(Int64?.self) { return value }
            return nil
        }
    }

    public nonisolated(nonsending) func highestQueueID() async throws -> Int64 {
        try await read { try await $0.highestQueueID() }
    }

    public nonisolated(nonsending) func flushProgress(upTo: Int64, after: Int64, failuresSince: Int64) async throws -> FlushProgress {
        try await transaction { unit in
            let unsettled = try await unit.count(
                """
                SELECT count(*) FROM queue q LEFT JOIN batches b ON b.id = q.batch_id
                WHERE q.site = \(site) AND q.state IN ('pending', 'batched') AND q.id <= \(upTo)
                  AND NOT (q.state = 'batched' AND b.state IN ('accepted', 'done', 'failed', 'unverified'))
                """)
            var failed: [String] = []
            let rows = try await unit.run(
                """
                SELECT url FROM queue WHERE site = \(site) AND state = 'failed' AND id <= \(upTo)
                    AND (id > \(after) OR failed_at >= \(failuresSince)) ORDER BY id
                """)
            for try await url in rows.decode(String.self) { failed.append(url) }
            return FlushProgress(unsettled: unsettled, failed: failed)
        }
    }

    // MARK: Quota cache

    public nonisolated(nonsending) func quota() async throws -> [QuotaRow] {
        try await read { try await $0.quotaRows() }
    }

    public nonisolated(nonsending) func replaceQuota(_ rows: [QuotaRow]) async throws {
        try await transaction { try await $0.replaceQuota(rows) }
    }
}

/// Awaits `work` for at most `limit`: past it, returns and leaves `work` running unawaited (for
/// the stop of a process, whose exit ends it).
public func awaitAtMost(_ limit: Duration, _ work: @escaping @Sendable () async -> Void) async {
    let resumed = Mutex(false)
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let resume: @Sendable () -> Void = {
            if resumed.withLock({ done in
                defer { done = true }; return !done
            }) {
                continuation.resume()
            }
        }
        Task {
            await work()
            resume()
        }
        Task {
            try? await Task.sleep(for: limit)
            resume()
        }
    }
}
