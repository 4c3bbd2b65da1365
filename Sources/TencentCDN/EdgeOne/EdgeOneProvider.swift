import Foundation

/// Tencent Cloud EdgeOne as a ``CDNProvider`` (SPEC §10): CreatePurgeTask on one zone
/// (`purge_url`, or `purge_prefix` with the configured method), DescribeContentQuota per type,
/// DescribePurgeTasks by `job-id` with each target's own status, CreatePrefetchTask.
///
/// Unlike CDN, a request may be accepted in part: the targets of its `FailedList` come back in
/// ``PurgeReceipt/rejected``, classified by their reason.
public struct EdgeOneProvider: CDNProvider {
    /// A client for service ``TencentCloudService/teo``.
    public let client: TencentCDNClient
    public let zoneID: String
    /// `invalidate` or `delete`, for directory (prefix) purges.
    public let prefixMethod: String

    public init(client: TencentCDNClient, zoneID: String, prefixMethod: String = "invalidate") {
        self.client = client
        self.zoneID = zoneID
        self.prefixMethod = prefixMethod
    }

    public var product: String { "edgeone" }

    public func purge(_ targets: [String], kind: PurgeKind, deadline: ContinuousClock.Instant) async throws -> PurgeReceipt {
        let request =
            switch kind {
            case .urls: CreatePurgeTaskRequest(zoneId: zoneID, type: "purge_url", method: nil, targets: targets)
            case .directories: CreatePurgeTaskRequest(zoneId: zoneID, type: "purge_prefix", method: prefixMethod, targets: targets)
            }
        let response = try await client.perform(
            action: EdgeOneAction.createPurgeTask.rawValue, request, as: CreateTaskResponse.self, urls: targets, deadline: deadline)
        return Self.receipt(response, sent: targets)
    }

    /// The zone's `purge_url` and `purge_prefix` quotas. A kind the answer does not list (a plan
    /// without prefix purges) has none: it is reported as 0, never left to a default.
    public func purgeQuota(deadline: ContinuousClock.Instant) async throws -> [PurgeQuotaEntry] {
        let listed = try await contentQuota(deadline: deadline).purgeQuota ?? []
        var entries = listed.compactMap { quota -> PurgeQuotaEntry? in
            let kind: PurgeKind
            switch quota.type {
            case "purge_url": kind = .urls
            case "purge_prefix": kind = .directories
            default: return nil
            }
            return PurgeQuotaEntry(area: "", kind: kind, batch: quota.batch, total: quota.daily, available: quota.dailyAvailable)
        }
        guard !listed.isEmpty else { return [] }
        for kind in PurgeKind.allCases where !entries.contains(where: { $0.kind == kind }) {
            entries.append(PurgeQuotaEntry(area: "", kind: kind, batch: 1, total: 0, available: 0))
        }
        return entries
    }

    /// The largest page DescribePurgeTasks accepts (`Limit`, API maximum 1,000).
    public static let describePageSize = 1_000

    public func purgeProgress(taskID: String, deadline: ContinuousClock.Instant) async throws -> [TargetProgress] {
        try await purgeProgress(taskID: taskID, pageSize: Self.describePageSize, deadline: deadline)
    }

    /// DescribePurgeTasks for one job, `pageSize` tasks a request, through `TotalCount`.
    func purgeProgress(taskID: String, pageSize: Int, deadline: ContinuousClock.Instant) async throws -> [TargetProgress] {
        var progress: [TargetProgress] = []
        var offset = 0
        while true {
            let page = try await client.perform(
                action: EdgeOneAction.describePurgeTasks.rawValue,
                DescribeEdgeOneTasksRequest(
                    zoneId: zoneID, offset: offset, limit: max(1, pageSize), filters: [.init(name: "job-id", values: [taskID])]),
                as: DescribeEdgeOneTasksResponse.self, deadline: deadline)
            let tasks = page.tasks ?? []
            progress += tasks.map { TargetProgress(target: $0.target, state: Self.state(of: $0.status)) }
            offset += tasks.count
            if tasks.isEmpty || offset >= page.totalCount { return progress }
        }
    }

    /// DescribePurgeTasks for the first target and the kind's type (one task per target: its
    /// `JobId` is a candidate) created from a few seconds before `sentAt` (the batch was marked
    /// sending just before its request) to a day after, each candidate job then read whole: a job
    /// whose targets are exactly these, and not one already recorded for another batch (SPEC §9:
    /// a request whose answer was lost is looked up before it is sent again).
    public func acceptedTask(
        for targets: [String], kind: PurgeKind, sentAt: Date, excluding known: Set<String>, deadline: ContinuousClock.Instant
    ) async throws -> String? {
        guard let first = targets.first else { return nil }
        let formatter = ISO8601DateFormatter()
        let start = formatter.string(from: sentAt.addingTimeInterval(-5))
        let end = formatter.string(from: sentAt.addingTimeInterval(86_400))
        let type = kind == .urls ? "purge_url" : "purge_prefix"
        var candidates = Set<String>()
        var offset = 0
        while true {
            let page = try await client.perform(
                action: EdgeOneAction.describePurgeTasks.rawValue,
                DescribeEdgeOneTasksRequest(
                    zoneId: zoneID, startTime: start, endTime: end, offset: offset, limit: Self.describePageSize,
                    filters: [.init(name: "target", values: [first]), .init(name: "type", values: [type])]),
                as: DescribeEdgeOneTasksResponse.self, deadline: deadline)
            let tasks = page.tasks ?? []
            candidates.formUnion(tasks.filter { $0.target == first }.compactMap(\.jobId))
            offset += tasks.count
            if tasks.isEmpty || offset >= page.totalCount { break }
        }
        let wanted = Set(targets)
        for job in candidates.subtracting(known).sorted() {
            let whole = try await purgeProgress(taskID: job, pageSize: Self.describePageSize, deadline: deadline)
            if Set(whole.map(\.target)) == wanted { return job }
        }
        return nil
    }

    /// A target's `Status`: `success` is done; `failed`, `timeout` and `canceled` may be sent
    /// again; `processing` (or a status this client does not know) is still running.
    static func state(of status: String) -> TargetProgress.State {
        switch status {
        case "success": .done
        case "failed", "timeout", "canceled": .failed
        default: .inProgress
        }
    }

    public func prefetchRoom(deadline: ContinuousClock.Instant) async throws -> (batch: Int, available: Int) {
        let quota = try await contentQuota(deadline: deadline).prefetchQuota?.first { $0.type == "prefetch_url" }
        return (max(1, quota?.batch ?? 500), max(0, quota?.dailyAvailable ?? 0))
    }

    public func prefetch(_ urls: [String], deadline: ContinuousClock.Instant) async throws -> PurgeReceipt {
        let response = try await client.perform(
            action: EdgeOneAction.createPrefetchTask.rawValue, CreatePrefetchTaskRequest(zoneId: zoneID, targets: urls),
            as: CreateTaskResponse.self, urls: urls, deadline: deadline)
        return Self.receipt(response, sent: urls)
    }

    public func loadCredentials() async throws {
        try await client.loadCredentials()
    }

    private func contentQuota(deadline: ContinuousClock.Instant) async throws -> DescribeContentQuotaResponse {
        try await client.perform(
            action: EdgeOneAction.describeContentQuota.rawValue, DescribeContentQuotaRequest(zoneId: zoneID),
            as: DescribeContentQuotaResponse.self, deadline: deadline)
    }

    /// The receipt for `response`: its `FailedList` targets (only those that were sent), each
    /// group classified by its reason (``classify(reason:)``).
    static func receipt(_ response: CreateTaskResponse, sent: [String]) -> PurgeReceipt {
        let sentSet = Set(sent)
        var unknown: [String] = []
        let rejected = (response.failedList ?? []).compactMap { failure -> RejectedTargets? in
            unknown += (failure.targets ?? []).filter { !sentSet.contains($0) }
            let targets = (failure.targets ?? []).filter { sentSet.contains($0) }
            guard !targets.isEmpty else { return nil }
            return RejectedTargets(reason: failure.reason, targets: targets, errorClass: classify(reason: failure.reason))
        }
        var receipt = PurgeReceipt(taskID: response.jobId, requestID: response.requestId, rejected: rejected)
        receipt.unknownRefused = unknown
        return receipt
    }

    /// What a `FailedList` reason means. The API gives a reason as text; when it names an error
    /// code (`InternalError.BackendError`, `InvalidParameter.DomainNotFound`) that code's class
    /// applies (a quota or batch class sends the targets again, planned within the quota); a
    /// reason that speaks of an internal error, a timeout or a busy system is passing; anything
    /// else fails the targets alone (a human reads the reason in `failures`).
    static func classify(reason: String) -> ErrorClass {
        let code = reason.split(whereSeparator: { $0 == " " || $0 == ":" || $0 == "," }).first.map(String.init) ?? reason
        if code.contains("."), code.first?.isUppercase == true {
            let errorClass = ErrorClass.classify(code: code)
            return errorClass == .reSign ? .transient : errorClass
        }
        let lowered = reason.lowercased()
        if ["internal", "timeout", "timed out", "busy", "try again", "retry"].contains(where: lowered.contains) { return .transient }
        return .permanent
    }
}
