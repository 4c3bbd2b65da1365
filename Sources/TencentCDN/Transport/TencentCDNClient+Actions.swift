extension TencentCDNClient {
    /// PurgeUrlsCache: purges `urls` (at most the quota's `Batch`, 1,000 by default).
    /// - Parameters:
    ///   - area: `mainland`, `overseas`, or `nil`/`""` for the domain's areas.
    ///   - urlEncode: sets the API's `UrlEncode` flag (sent only when `true`).
    ///   - deadline: no attempt starts after it.
    /// - Throws: ``TencentCloudError``; for `InvalidParameter.CdnUrlExceedLength`,
    ///   ``TencentCloudError/rejectedURL`` names the URL when the API's message does.
    public func purgeURLs(
        _ urls: [String],
        area: String?,
        urlEncode: Bool,
        deadline: ContinuousClock.Instant
    ) async throws -> PurgeResponse {
        try await perform(
            .purgeUrlsCache,
            PurgeUrlsCacheRequest(urls: urls, area: area, urlEncode: urlEncode),
            as: PurgeResponse.self,
            urls: urls,
            deadline: deadline
        )
    }

    /// PurgePathCache: purges directories (`https://host/dir/`), `flush` or `delete`.
    public func purgePaths(
        _ paths: [String],
        flushType: FlushType,
        area: String?,
        urlEncode: Bool,
        deadline: ContinuousClock.Instant
    ) async throws -> PurgeResponse {
        try await perform(
            .purgePathCache,
            PurgePathCacheRequest(paths: paths, flushType: flushType, area: area, urlEncode: urlEncode),
            as: PurgeResponse.self,
            urls: paths,
            deadline: deadline
        )
    }

    /// DescribePurgeTasks by task id, paging through `TotalCount` (`pageSize` per request).
    public func describePurgeTasks(
        taskId: String,
        pageSize: Int = 100,
        deadline: ContinuousClock.Instant
    ) async throws -> [PurgeTask] {
        try await describePurgeTasks(pageSize: pageSize, deadline: deadline) { DescribePurgeTasksRequest(taskId: taskId, offset: $0, limit: $1) }
    }

    /// DescribePurgeTasks for the tasks created since `startTime` (`YYYY-MM-DD HH:MM:SS`, UTC+8)
    /// that purged `keyword` (a URL, or a domain), of `purgeType` (`url`, `path`), paging through.
    public func describePurgeTasks(
        since startTime: String, keyword: String?, purgeType: String?, pageSize: Int = 100, deadline: ContinuousClock.Instant
    ) async throws -> [PurgeTask] {
        try await describePurgeTasks(pageSize: pageSize, deadline: deadline) {
            DescribePurgeTasksRequest(startTime: startTime, keyword: keyword, purgeType: purgeType, offset: $0, limit: $1)
        }
    }

    private func describePurgeTasks(
        pageSize: Int, deadline: ContinuousClock.Instant, request: (_ offset: Int, _ limit: Int) -> DescribePurgeTasksRequest
    ) async throws -> [PurgeTask] {
        var tasks: [PurgeTask] = []
        var offset = 0
        let limit = max(1, pageSize)
        while true {
            let page = try await perform(
                .describePurgeTasks,
                request(offset, limit),
                as: DescribePurgeTasksResponse.self,
                deadline: deadline
            )
            let logs = page.purgeLogs ?? []
            tasks.append(contentsOf: logs)
            offset += logs.count
            if logs.isEmpty || offset >= page.totalCount { return tasks }
        }
    }

    /// DescribePurgeQuota: per-area `Batch`, `Total` and `Available` for URL and directory purges.
    public func describePurgeQuota(deadline: ContinuousClock.Instant) async throws -> PurgeQuota {
        try await perform(
            .describePurgeQuota,
            DescribePurgeQuotaRequest(),
            as: PurgeQuota.self,
            deadline: deadline
        )
    }

    /// PushUrlsCache (prefetch): fetches `urls` into the CDN's cache after a purge.
    /// - Parameter area: `mainland`, `overseas` or `global`.
    public func pushURLs(
        _ urls: [String], area: String?, urlEncode: Bool, deadline: ContinuousClock.Instant
    ) async throws -> PurgeResponse {
        try await perform(
            .pushUrlsCache, PushUrlsCacheRequest(urls: urls, area: area, urlEncode: urlEncode), as: PurgeResponse.self,
            urls: urls, deadline: deadline)
    }

    /// DescribePushQuota: per-area `Batch`, `Total` and `Available` for PushUrlsCache.
    public func describePushQuota(deadline: ContinuousClock.Instant) async throws -> PushQuota {
        try await perform(.describePushQuota, DescribePurgeQuotaRequest(), as: PushQuota.self, deadline: deadline)
    }
}
