import ControlProtocol
import Daemon
import Foundation
import PurgeCore
import StateStore
import TencentCDN

/// What `purgewatch status` shows, read from the state database (works while the daemon runs).
///
/// The JSON form is a stable interface (documented in the README): keys are only ever added.
public struct StatusReport: Sendable {
    public struct Batch: Sendable {
        public var id: Int64
        public var action: String
        public var area: String
        public var state: BatchState
        public var targetCount: Int
        public var firstTargets: [String]
        public var taskID: String?
        public var requestID: String?
        public var attempts: Int
        public var errorCode: String?
        public var errorMessage: String?
        public var nextAttempt: Date?
        public var created: Date
        public var updated: Date
        public var dryRun: Bool
    }

    public struct Failure: Sendable {
        public var url: String
        public var path: String?
        public var errorCode: String?
        public var batchID: Int64?
        public var failedAt: Date?
        public var message: String? = nil
    }

    public struct Quota: Sendable {
        public var area: String
        public var kind: String
        public var batch: Int
        public var total: Int
        public var available: Int
        public var fetched: Date
    }

    public var configPath: String
    /// The provider that purges (SPEC §10): `cdn`, or `edgeone` with its zone.
    public var product: String = "cdn"
    public var zoneID: String?
    public var statePath: String
    public var dryRun: Bool
    /// A daemon holds the control socket: it answered the ping, or accepted it and did not answer
    /// in time (see ``daemonAnswering``).
    public var daemonRunning: Bool
    /// False when the running daemon took the ping's connection but did not answer in time
    /// (stuck, or out of file descriptors with none to spare); meaningful with ``daemonRunning``.
    public var daemonAnswering = true
    public var stateExists: Bool
    public var filesTracked: Int
    public var pendingURLs: Int
    public var oldestPending: Date?
    public var waitingQuotaURLs: Int
    public var waitingUntil: Date?
    /// Batches whose task never reached `done`/`fail` within 30 minutes (SPEC §6).
    public var unverifiedBatches: Int = 0
    /// Why watching is degraded (the watch limit), as the daemon recorded it; nil when it is not.
    public var degraded: String?
    /// The site root the daemon waits for (it does not exist yet, or vanished); nil when watched.
    public var waitingForRoot: String?
    /// Why the daemon cannot compare the tree now (too many open files…); nil while it can.
    public var compareTrouble: String?
    /// How many files cannot be read (EACCES and the like) and one of them; nil when none.
    public var unreadableFiles: String?
    /// Failed URLs neither retried nor forgotten (all of them; `failures` lists only 200).
    public var failedURLCount: Int = 0
    /// The state was written by an older purgewatch and not migrated yet (the daemon migrates
    /// it when it starts): its queue cannot be read.
    public var notMigrated = false
    public var batches: [Batch]
    public var failures: [Failure]
    public var quota: [Quota]
    public var nextQuotaReset: Date
    public var now: Date
    /// A fleet's origin (SPEC §9): the site's origins, its submitter; the queue fields above are
    /// then the site's, read from the shared state. Nil for a single origin.
    public var fleet: Fleet?

    /// Reads the report for a config (`dryRun`: the dry-run state file) through the store's
    /// views (``StateStore/StateViews``: one read transaction).
    public static func read(config: SiteConfig, dryRun: Bool, now: Date = Date()) async throws -> StatusReport {
        let statePath = dryRun ? config.dryRunStatePath : config.state.path
        let socket = ControlSocket.path(forState: statePath)
        // Any answer is a running daemon, a daemon of an earlier release included; a connection
        // taken without an answer is one too (a stopped daemon's socket refuses connections).
        let running: Bool
        var answering = true
        do {
            // `pong`, or an error answer (busy, stopping): something answered on the socket.
            _ = try ControlClient.send(.ping, to: socket, timeout: .seconds(2))
            running = true
        } catch let error as ControlSocketError where error.earlierRelease {
            running = true
        } catch let error as ControlSocketError where error.timedOut {
            running = true
            answering = false
        } catch {
            running = false
        }
        var report = StatusReport(
            configPath: config.sourcePath, statePath: statePath, dryRun: dryRun, daemonRunning: running,
            stateExists: FileManager.default.fileExists(atPath: statePath), filesTracked: 0, pendingURLs: 0,
            oldestPending: nil, waitingQuotaURLs: 0, waitingUntil: nil, batches: [], failures: [], quota: [],
            nextQuotaReset: QuotaClock.nextReset(after: now), now: now)
        report.product = config.tencentCloud.product.rawValue
        report.zoneID = config.tencentCloud.zoneID
        report.daemonAnswering = answering
        guard report.stateExists else { return report }
        let since = Int64((now.timeIntervalSince1970 - 86_400) * 1_000)
        let request = OverviewRequest(
            batchesUpdatedSinceMilliseconds: since, batchLimit: 200, failureLimit: 200,
            metaKeys: [PurgeDaemon.degradedKey, PurgeDaemon.waitingForRootKey, PurgeDaemon.unreadableFilesKey, PurgeDaemon.compareTroubleKey])
        guard let overview = try await SQLiteStateViews(path: statePath).overview(request) else {
            report.stateExists = false
            return report
        }
        // A file the daemon has not migrated yet (an upgrade before its restart): the tracked
        // file count only.
        report.filesTracked = overview.filesTracked
        guard !overview.notMigrated else {
            report.notMigrated = true
            return report
        }
        report.degraded = overview.meta[PurgeDaemon.degradedKey]
        report.waitingForRoot = overview.meta[PurgeDaemon.waitingForRootKey]
        report.unreadableFiles = overview.meta[PurgeDaemon.unreadableFilesKey]
        report.compareTrouble = overview.meta[PurgeDaemon.compareTroubleKey]
        if config.state.url != nil {
            // The queue is the site's, in the fleet's shared state.
            await report.readFleet(config: config, request: request)
        } else {
            report.applyQueue(overview, product: config.tencentCloud.product)
        }
        return report
    }

    /// The queue's part of `overview`: pending, waiting, batches, failures, quota.
    mutating func applyQueue(_ overview: StateOverview, product: SiteConfig.Product) {
        func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1_000) }
        // Pending: not yet accepted by the API (planned or being sent included), not parked.
        pendingURLs = overview.unsentURLs
        oldestPending = overview.oldestUnsentMilliseconds.map(date)
        waitingQuotaURLs = overview.waitingQuotaURLs
        waitingUntil = overview.earliestQuotaWaitMilliseconds.map(date)
        unverifiedBatches = overview.batchCounts[.unverified] ?? 0
        batches = overview.recentBatches.map {
            Batch(
                id: $0.id, action: Self.actionName($0.action, product: product), area: $0.area, state: $0.state,
                targetCount: $0.targets.count,
                firstTargets: Array($0.targets.prefix(3)), taskID: $0.taskID, requestID: $0.requestID,
                attempts: $0.attempts, errorCode: $0.lastErrorCode, errorMessage: $0.lastErrorMessage,
                nextAttempt: $0.nextAttemptMilliseconds.map(date), created: date($0.createdMilliseconds),
                updated: date($0.updatedMilliseconds), dryRun: $0.isDryRun)
        }
        failures = overview.failures.map {
            Failure(
                url: $0.row.url, path: $0.row.path.map { RelativePath($0).description }, errorCode: $0.row.errorCode,
                batchID: $0.row.batchID, failedAt: $0.row.failedMilliseconds.map(date), message: $0.message)
        }
        failedURLCount = overview.queueCounts[.failed] ?? 0
        // A reading from before the last 00:00 UTC+8 counts as reset, as the planner reads it.
        quota = QuotaBook.effective(overview.quotaRows, now: now).map {
            Quota(
                area: $0.area, kind: $0.kind.rawValue, batch: $0.batch, total: $0.total, available: $0.available,
                fetched: date($0.fetchedMilliseconds))
        }
    }

    /// The stable JSON form (`status --json`).
    public var json: String {
        typealias J = JSONText
        func string(_ value: String?) -> String { value.map(J.string) ?? "null" }
        func date(_ value: Date?) -> String { value.map { J.string(iso8601($0)) } ?? "null" }
        let batchesJSON = batches.map { batch in
            J.object([
                ("id", "\(batch.id)"), ("action", J.string(batch.action)), ("area", J.string(batch.area)),
                ("state", J.string(batch.state.rawValue)), ("url_count", "\(batch.targetCount)"),
                ("first_targets", J.array(batch.firstTargets.map(J.string))), ("task_id", string(batch.taskID)),
                ("request_id", string(batch.requestID)), ("attempts", "\(batch.attempts)"),
                ("error_code", string(batch.errorCode)), ("error_message", string(batch.errorMessage)),
                ("next_attempt_at", date(batch.nextAttempt)), ("created_at", date(batch.created)),
                ("updated_at", date(batch.updated)), ("dry_run", batch.dryRun ? "true" : "false"),
            ])
        }
        let failuresJSON = failures.map { failure in
            J.object([
                ("url", J.string(failure.url)), ("path", string(failure.path)), ("error_code", string(failure.errorCode)),
                ("batch_id", failure.batchID.map { "\($0)" } ?? "null"), ("failed_at", date(failure.failedAt)),
                ("message", string(failure.message)),
            ])
        }
        let quotaJSON = quota.map { quota in
            J.object([
                ("area", J.string(quota.area)), ("kind", J.string(quota.kind)), ("batch", "\(quota.batch)"),
                ("total", "\(quota.total)"), ("available", "\(quota.available)"),
                ("used", "\(max(0, quota.total - quota.available))"), ("fetched_at", date(quota.fetched)),
            ])
        }
        let failedBatches = batches.filter { $0.state == .failed }.count
        return J.object(
            [
                ("config", J.string(configPath)),
                ("provider", J.string(product)),
                ("zone_id", string(zoneID)),
                ("unreadable_files", string(unreadableFiles)),
                ("state_path", J.string(statePath)),
                ("dry_run", dryRun ? "true" : "false"),
                // Its meaning is unchanged (a daemon that answered); `daemon_answering` was added beside it.
                ("daemon_running", daemonRunning && daemonAnswering ? "true" : "false"),
                ("daemon_answering", daemonRunning && daemonAnswering ? "true" : "false"),
                ("files_tracked", "\(filesTracked)"),
                (
                    "pending",
                    J.object([
                        ("urls", "\(pendingURLs)"), ("oldest_at", date(oldestPending)),
                        ("oldest_age_seconds", oldestPending.map { "\(Int(now.timeIntervalSince($0)))" } ?? "null"),
                    ])
                ),
                ("waiting_quota", J.object([("urls", "\(waitingQuotaURLs)"), ("until", date(waitingUntil))])),
                ("unverified_batches", "\(unverifiedBatches)"),
                ("degraded", string(degraded)),
                ("waiting_for_root", string(waitingForRoot)),
                ("compare_trouble", string(compareTrouble)),
                ("batches", J.array(batchesJSON)),
                ("failures", J.object([("batches", "\(failedBatches)"), ("urls", J.array(failuresJSON))])),
                ("quota", J.array(quotaJSON)),
                ("next_quota_reset", date(nextQuotaReset)),
            ] + (fleet.map { [("fleet", $0.json(now: now))] } ?? []))
    }

    // MARK: - status --check

    /// The monitoring-plugin levels (SPEC §2), with their exit statuses.
    public enum CheckLevel: Int32, Sendable {
        case ok = 0
        case warning = 1
        case critical = 2
        case unknown = 3
        var word: String {
            switch self {
            case .ok: "OK"
            case .warning: "WARNING"
            case .critical: "CRITICAL"
            case .unknown: "UNKNOWN"
            }
        }
    }

    /// The URL quota left today for `area` ("" = every area counts: the tightest), nil when no
    /// DescribePurgeQuota reading is cached yet.
    public func urlQuotaLeft(area: String) -> Int? {
        quota.filter { $0.kind == "url" && (area.isEmpty || $0.area == area) }.map(\.available).min()
    }

    /// `status --check`: one line `PURGEWATCH LEVEL - summary | perfdata` and its level.
    /// CRITICAL: no daemon runs (or it took the ping but did not answer), URLs failed permanently (not retried or forgotten), or a pending
    /// URL older than `max_delay` + 10 min; WARNING: URLs waiting for the quota reset, degraded
    /// watching, unverified batches; else OK.
    public func check(maxDelay: Duration, area: String) -> (level: CheckLevel, line: String) {
        if notMigrated {
            return (.unknown, Self.unknownLine("the state \(statePath) was written by an older purgewatch; it is migrated when the daemon starts"))
        }
        let oldestAge = oldestPending.map { max(0, Int(now.timeIntervalSince($0))) }
        let pendingLimit = Int(maxDelay.components.seconds) + 600
        var critical: [String] = []
        var warning: [String] = []
        if !daemonRunning { critical.append("no daemon is running for \(configPath)") }
        if daemonRunning, !daemonAnswering {
            critical.append("the daemon for \(configPath) runs but did not answer within 2 s (stuck, or out of file descriptors: see its log)")
        }
        if failedURLCount > 0 {
            critical.append("\(failedURLCount) URL(s) failed permanently (purgewatch failures)")
        }
        if let oldestAge, oldestAge > pendingLimit {
            critical.append("a URL has been pending for \(oldestAge) s (limit \(pendingLimit) s = max_delay + 10 min)")
        }
        if waitingQuotaURLs > 0 {
            warning.append("\(waitingQuotaURLs) URL(s) wait for the quota reset at \(waitingUntil.map(iso8601) ?? "?")")
        }
        if let degraded { warning.append("watching is degraded (\(degraded))") }
        if daemonRunning, let waitingForRoot { warning.append("the site root \(waitingForRoot) does not exist yet") }
        if daemonRunning, waitingForRoot == nil, let compareTrouble { warning.append("cannot compare the tree now: \(compareTrouble)") }
        if unverifiedBatches > 0 { warning.append("\(unverifiedBatches) batch(es) unverified") }
        if let unreadableFiles { warning.append(unreadableFiles) }
        if let fleet { fleet.check(now: now, critical: &critical, warning: &warning) }
        let level: CheckLevel = !critical.isEmpty ? .critical : !warning.isEmpty ? .warning : .ok
        let summary =
            (critical + warning).isEmpty
            ? "\(filesTracked) files tracked, \(pendingURLs) URL(s) pending" : (critical + warning).joined(separator: "; ")
        let quotaLeft = urlQuotaLeft(area: area).map { "\($0)" } ?? "U"
        let perfdata = [
            "pending=\(pendingURLs);;;0", "failed=\(failedURLCount);;1;0", "waiting_quota=\(waitingQuotaURLs);1;;0",
            "quota_left=\(quotaLeft);;;0", "oldest_pending_age=\(oldestAge.map { "\($0)s" } ?? "0s");;\(pendingLimit);0",
            "files=\(filesTracked);;;0",
        ].joined(separator: " ")
        return (level, "PURGEWATCH \(level.word) - \(summary) | \(perfdata)")
    }

    /// The line for a state that cannot be read.
    public static func unknownLine(_ reason: String) -> String { "PURGEWATCH UNKNOWN - \(reason)" }

    /// What a batch's kind is called for `product`: the CDN action (`PurgeUrlsCache`,
    /// `PurgePathCache`, as the state stores it), or EdgeOne's purge type (`purge_url`,
    /// `purge_prefix`).
    static func actionName(_ action: BatchAction, product: SiteConfig.Product) -> String {
        switch (product, action) {
        case (.cdn, _): action.rawValue
        case (.edgeone, .urls): "purge_url"
        case (.edgeone, .directories): "purge_prefix"
        }
    }

    /// The readable form.
    public var text: String {
        var lines: [String] = []
        lines.append("config:   \(configPath)\(dryRun ? " (dry run)" : "")")
        lines.append("provider: \(product)\(zoneID.map { " (zone \($0))" } ?? "")")
        lines.append("state:    \(statePath)\(stateExists ? "" : " (not created yet)")")
        lines.append("daemon:   \(daemonRunning ? (daemonAnswering ? "running" : "running, but did not answer within 2 s") : "not running")")
        lines.append("files:    \(filesTracked) tracked")
        var pendingLine = "pending:  \(pendingURLs) URL(s)"
        if let oldestPending { pendingLine += ", oldest since \(iso8601(oldestPending))" }
        lines.append(pendingLine)
        if waitingQuotaURLs > 0 {
            lines.append("waiting:  \(waitingQuotaURLs) URL(s) wait for the quota reset at \(waitingUntil.map(iso8601) ?? "?")")
        }
        for quota in quota {
            lines.append("quota:    \(quota.area) \(quota.kind): \(quota.total - quota.available) of \(quota.total) used today, batch \(quota.batch)")
        }
        lines.append("reset:    next quota reset \(iso8601(nextQuotaReset)) (00:00 UTC+8)")
        if let degraded { lines.append("DEGRADED: \(degraded); the tree is walked periodically") }
        if daemonRunning, let waitingForRoot {
            lines.append("WAITING:  the site root \(waitingForRoot) does not exist yet; its first tree is recorded as the baseline")
        }
        if daemonRunning, waitingForRoot == nil, let compareTrouble {
            lines.append("TROUBLE:  cannot compare the tree now (retried; nothing is judged meanwhile): \(compareTrouble)")
        }
        if let unreadableFiles {
            lines.append("UNREADABLE: \(unreadableFiles); kept as they were in the manifest until they can be read")
        }
        if unverifiedBatches > 0 {
            lines.append("unverified: \(unverifiedBatches) batch(es) accepted but never reported done within 30 min (no longer polled)")
        }
        let failed = batches.filter { $0.state == .failed }
        if !failed.isEmpty || !failures.isEmpty {
            lines.append("NEEDS A HUMAN: \(failed.count) failed batch(es), \(failures.count) failed URL(s)")
            for batch in failed.prefix(10) {
                lines.append("  batch \(batch.id) \(batch.action): \(batch.errorCode ?? "?") \(batch.errorMessage ?? "")")
            }
            for failure in failures.prefix(10) {
                lines.append("  \(failure.url): \(failure.errorCode ?? "?")")
            }
        }
        if let fleet { lines += fleet.lines(now: now) }
        if !batches.isEmpty { lines.append("batches (last 24 h):") }
        for batch in batches.prefix(20) {
            var line = "  #\(batch.id) \(iso8601(batch.updated)) \(batch.state) \(batch.action) \(batch.targetCount) target(s)"
            if let task = batch.taskID { line += " task \(task)" }
            if let request = batch.requestID { line += " request \(request)" }
            if let code = batch.errorCode { line += " [\(code)]" }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}
