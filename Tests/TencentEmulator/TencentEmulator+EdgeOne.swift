import Foundation

/// What EdgeOne (TEO, 2022-09-01) requests did, and the knobs for them.
extension TencentEmulator {
    // MARK: What reached EdgeOne

    /// Every target an EdgeOne CreatePurgeTask accepted, in order, duplicates kept (`purge_url`
    /// targets are in ``acceptedURLs`` too, `purge_prefix` ones in ``acceptedPaths``).
    public var acceptedEdgeOneTargets: [EdgeOneTarget] { state.withLock { $0.acceptedEdgeOneTargets } }

    /// Every URL an EdgeOne CreatePrefetchTask accepted, in order, duplicates kept.
    public var prefetchedURLs: [String] { state.withLock { $0.prefetchedURLs } }

    // MARK: Quota

    /// The current EdgeOne quota of `type` (`purge_url`, …, `prefetch_url`), after a due daily
    /// rollover; nil for a type the configuration does not hold.
    public func edgeOneQuota(type: String) -> EdgeOneQuota? {
        state.withLock {
            $0.rollOverIfDue(now: $0.now)
            return $0.edgeOneQuotas[type]
        }
    }

    /// Sets the EdgeOne quota of `type`: `available` is today's `DailyAvailable` (raising `Daily`
    /// to it if needed), `batch` the most targets per request, `daily` the day's total (lowering
    /// `DailyAvailable` to it if needed). A type the configuration did not hold starts from
    /// `Batch` 0, `Daily` 0.
    public func setEdgeOneQuota(type: String, available: Int? = nil, batch: Int? = nil, daily: Int? = nil) {
        state.withLock { s in
            s.rollOverIfDue(now: s.now)
            var quota = s.edgeOneQuotas[type] ?? EdgeOneQuota(type: type, batch: 0, daily: 0)
            if let batch { quota.batch = batch }
            if let daily {
                quota.daily = daily
                quota.dailyAvailable = min(quota.dailyAvailable, daily)
            }
            if let available {
                quota.dailyAvailable = available
                quota.daily = max(quota.daily, available)
            }
            s.edgeOneQuotas[type] = quota
        }
    }

    // MARK: Per-target outcomes

    /// CreatePurgeTask and CreatePrefetchTask put these targets into `FailedList` with `reason`
    /// (for instance `InternalError.BackendError`) instead of accepting them, while the rest of the
    /// request is accepted. Adds to earlier calls (a target named again takes the new reason); an
    /// empty set clears `reason`'s targets.
    public func failTargets(_ urls: Set<String>, reason: String) {
        state.withLock { s in
            if urls.isEmpty { s.failTargetReasons = s.failTargetReasons.filter { $0.value != reason } }
            for url in urls { s.failTargetReasons[url] = reason }
        }
    }

    /// DescribePurgeTasks (and DescribePrefetchTasks) report these targets' tasks as `status`
    /// (`failed`, `timeout` or `canceled`) instead of `success` once `taskCompletionDelay` has
    /// passed, for tasks already created and new ones alike (as ``failURLs(_:)`` does for CDN).
    /// Adds to earlier calls (a target named again takes the new status); an empty set clears
    /// `status`'s targets.
    public func failTasks(for urls: Set<String>, status: String) {
        state.withLock { s in
            if urls.isEmpty { s.failTaskStatuses = s.failTaskStatuses.filter { $0.value != status } }
            for url in urls { s.failTaskStatuses[url] = status }
        }
    }
}
