import Foundation

/// Tencent Cloud CDN as a ``CDNProvider``: PurgeUrlsCache / PurgePathCache (`flush`),
/// DescribePurgeQuota per area, DescribePurgeTasks by TaskId, PushUrlsCache within
/// DescribePushQuota. A request either is accepted whole or fails whole (CDN has no partial
/// acceptance).
public struct TencentCDNProvider: CDNProvider {
    public let client: TencentCDNClient
    /// `mainland`, `overseas`, or nil for the domain's areas.
    public let area: String?
    /// The API's `UrlEncode` flag.
    public let urlEncode: Bool

    public init(client: TencentCDNClient, area: String?, urlEncode: Bool) {
        self.client = client
        self.area = area?.isEmpty == true ? nil : area
        self.urlEncode = urlEncode
    }

    public var product: String { "cdn" }

    public func purge(_ targets: [String], kind: PurgeKind, deadline: ContinuousClock.Instant) async throws -> PurgeReceipt {
        let response: PurgeResponse
        switch kind {
        case .urls:
            response = try await client.purgeURLs(targets, area: area, urlEncode: urlEncode, deadline: deadline)
        case .directories:
            response = try await client.purgePaths(targets, flushType: .flush, area: area, urlEncode: urlEncode, deadline: deadline)
        }
        return PurgeReceipt(taskID: response.taskId, requestID: response.requestId)
    }

    public func purgeQuota(deadline: ContinuousClock.Instant) async throws -> [PurgeQuotaEntry] {
        let quota = try await client.describePurgeQuota(deadline: deadline)
        return quota.urlPurge.map { PurgeQuotaEntry(area: $0.area, kind: .urls, batch: $0.batch, total: $0.total, available: $0.available) }
            + quota.pathPurge.map {
                PurgeQuotaEntry(area: $0.area, kind: .directories, batch: $0.batch, total: $0.total, available: $0.available)
            }
    }

    /// The largest page DescribePurgeTasks accepts (`Limit`, API maximum 1,000).
    public static let describePageSize = 1_000

    public func purgeProgress(taskID: String, deadline: ContinuousClock.Instant) async throws -> [TargetProgress] {
        try await client.describePurgeTasks(taskId: taskID, pageSize: Self.describePageSize, deadline: deadline).map { task in
            switch task.status {
            case .done: TargetProgress(target: task.url, state: .done)
            case .fail: TargetProgress(target: task.url, state: .failed)
            case .process, .other: TargetProgress(target: task.url, state: .inProgress)
            }
        }
    }

    /// DescribePurgeTasks for the first target (the API answers a record per URL that matches
    /// the keyword) created no earlier than a few seconds before `sentAt` (the batch was marked
    /// sending just before its request: a purge of the same URLs a minute earlier is another
    /// one), each candidate then read whole by its task id: a task whose targets are exactly
    /// these, and not one already recorded for another batch.
    public func acceptedTask(
        for targets: [String], kind: PurgeKind, sentAt: Date, excluding known: Set<String>, deadline: ContinuousClock.Instant
    ) async throws -> String? {
        guard let first = targets.first else { return nil }
        // Whole seconds, UTC+8, as the API writes CreateTime; a little slack for the clocks.
        let since = QuotaClock.beijingTimestamp(sentAt.addingTimeInterval(-5))
        let records = try await client.describePurgeTasks(
            since: since, keyword: first, purgeType: kind == .urls ? "url" : "path", pageSize: Self.describePageSize, deadline: deadline)
        let candidates = Set(records.filter { $0.url == first && ($0.createTime ?? since) >= since }.map(\.taskId)).subtracting(known)
        let wanted = Set(targets)
        for taskID in candidates.sorted() {
            let whole = try await client.describePurgeTasks(taskId: taskID, pageSize: Self.describePageSize, deadline: deadline)
            if Set(whole.map(\.url)) == wanted { return taskID }
        }
        return nil
    }

    /// The push area for the configured purge area: every area pushes `global`.
    var pushArea: String { area ?? "global" }

    public func prefetchRoom(deadline: ContinuousClock.Instant) async throws -> (batch: Int, available: Int) {
        let quota = try await client.describePushQuota(deadline: deadline)
        let relevant = quota.urlPush.filter { pushArea == "global" || $0.area == pushArea }
        return (max(1, relevant.map(\.batch).min() ?? 500), max(0, relevant.map(\.available).min() ?? 0))
    }

    public func prefetch(_ urls: [String], deadline: ContinuousClock.Instant) async throws -> PurgeReceipt {
        let response = try await client.pushURLs(urls, area: pushArea, urlEncode: urlEncode, deadline: deadline)
        return PurgeReceipt(taskID: response.taskId, requestID: response.requestId)
    }

    public func loadCredentials() async throws {
        try await client.loadCredentials()
    }
}
