import Foundation

/// EdgeOne (TEO, API version 2022-09-01): CreatePurgeTask, CreatePrefetchTask, DescribePurgeTasks,
/// DescribePrefetchTasks and DescribeContentQuota, as SPEC §10 and the EdgeOne API pages describe
/// them. Unlike CDN, a bad target does not fail its request: it goes into `FailedList`, grouped by
/// reason, and the rest is accepted.
extension EmulatorState {
    /// One accepted target: EdgeOne reports each target of a job as its own task.
    struct EdgeOneTask {
        var jobID: String
        var target: String
        /// `purge_url`, …, or `prefetch_url`.
        var type: String
        /// `invalidate` or `delete`; empty for a prefetch.
        var method: String
        var created: ContinuousClock.Instant
        /// On the emulator's clock.
        var createDate: Date

        var isPrefetch: Bool { type == "prefetch_url" }
    }

    /// Answers an EdgeOne action; nil when there is no such action.
    mutating func handleEdgeOne(
        _ action: String,
        _ params: [String: Any],
        arrival: ContinuousClock.Instant,
        now: Date
    ) -> Result<[String: Any], APIError>? {
        switch action {
        case "CreatePurgeTask": return createPurgeTask(params, arrival: arrival, now: now)
        case "CreatePrefetchTask": return createPrefetchTask(params, arrival: arrival, now: now)
        case "DescribePurgeTasks": return describeEdgeOneTasks(params, prefetch: false, arrival: arrival)
        case "DescribePrefetchTasks": return describeEdgeOneTasks(params, prefetch: true, arrival: arrival)
        case "DescribeContentQuota": return describeContentQuota(params)
        default: return nil
        }
    }

    private static func parameterError(_ message: String) -> APIError {
        APIError("InvalidParameter.ParameterError", message)
    }

    /// `ZoneId` must be the account's one zone.
    private func checkZone(_ params: [String: Any]) -> APIError? {
        guard let zone = params["ZoneId"] else {
            return APIError("MissingParameter", "The request is missing the required parameter `ZoneId`.")
        }
        guard let zone = zone as? String, zone == config.zoneID else {
            return Self.parameterError("The zone `\(zone)` does not exist in this account.")
        }
        return nil
    }

    /// `Targets` as an array of strings; `[]` when absent.
    private func targets(_ params: [String: Any]) -> Result<[String], APIError> {
        guard let value = params["Targets"] else { return .success([]) }
        guard let targets = value as? [String] else { return .failure(Self.parameterError("Targets must be an array of strings.")) }
        return .success(targets)
    }

    /// CreatePurgeTask: `ZoneId`, `Type`, `Method` (`invalidate`, the default, or `delete`), `Targets`.
    /// `purge_all` takes no targets: it purges the zone (one unit of its quota; its task's target is
    /// the zone id).
    private mutating func createPurgeTask(
        _ params: [String: Any],
        arrival: ContinuousClock.Instant,
        now: Date
    ) -> Result<[String: Any], APIError> {
        if let error = checkKeys(params, allowed: ["ZoneId", "Type", "Method", "Targets", "EncodeUrl", "CacheTag"]) {
            return .failure(error)
        }
        if let error = checkZone(params) { return .failure(error) }
        guard let type = params["Type"] else {
            return .failure(APIError("MissingParameter", "The request is missing the required parameter `Type`."))
        }
        guard let type = type as? String, EdgeOneQuota.purgeTypes.contains(type) else {
            return .failure(Self.parameterError("Type must be one of \(EdgeOneQuota.purgeTypes.joined(separator: ", ")): \(type)."))
        }
        let method = params["Method"].map { $0 as? String } ?? "invalidate"
        guard let method, method == "invalidate" || method == "delete" else {
            return .failure(Self.parameterError("Method must be invalidate or delete."))
        }
        let targets: [String]
        switch self.targets(params) {
        case .failure(let error): return .failure(error)
        case .success(let sent): targets = type == "purge_all" ? [config.zoneID] : sent
        }
        guard !targets.isEmpty else {
            return .failure(APIError("MissingParameter", "The request is missing the required parameter `Targets`."))
        }
        return accept(targets, type: type, method: method, arrival: arrival, now: now)
    }

    /// CreatePrefetchTask: `ZoneId`, `Targets` (URLs), optional `Headers`; within `prefetch_url`.
    private mutating func createPrefetchTask(
        _ params: [String: Any],
        arrival: ContinuousClock.Instant,
        now: Date
    ) -> Result<[String: Any], APIError> {
        if let error = checkKeys(params, allowed: ["ZoneId", "Targets", "Headers", "EncodeUrl"]) { return .failure(error) }
        if let error = checkZone(params) { return .failure(error) }
        switch targets(params) {
        case .failure(let error):
            return .failure(error)
        case .success(let targets) where targets.isEmpty:
            return .failure(APIError("MissingParameter", "The request is missing the required parameter `Targets`."))
        case .success(let targets):
            return accept(targets, type: "prefetch_url", method: "", arrival: arrival, now: now)
        }
    }

    /// The checks every CreatePurgeTask / CreatePrefetchTask goes through once its parameters are
    /// well-formed: more targets than `Batch` fail the request (`LimitExceeded.BatchQuota`); each
    /// bad target goes into `FailedList`; more accepted targets than `DailyAvailable` fail the
    /// request (`LimitExceeded.DailyQuota`), nothing consumed. A request whose targets all failed
    /// still gets a `JobId` (with no task behind it) and its `FailedList`: the request itself was
    /// well-formed, and the caller learns every target's reason at once.
    private mutating func accept(
        _ targets: [String],
        type: String,
        method: String,
        arrival: ContinuousClock.Instant,
        now: Date
    ) -> Result<[String: Any], APIError> {
        let quota = edgeOneQuotas[type] ?? EdgeOneQuota(type: type, batch: 0, daily: 0)
        if targets.count > quota.batch {
            return .failure(
                APIError(
                    "LimitExceeded.BatchQuota",
                    "\(targets.count) targets exceed the limit of \(quota.batch) per request for \(type)."
                )
            )
        }
        var accepted: [String] = []
        var failed: [(reason: String, targets: [String])] = []
        for target in targets {
            guard let reason = failureReason(target, type: type) else {
                accepted.append(target)
                continue
            }
            if let index = failed.firstIndex(where: { $0.reason == reason }) {
                failed[index].targets.append(target)
            } else {
                failed.append((reason, [target]))
            }
        }
        if accepted.count > quota.dailyAvailable {
            return .failure(
                APIError(
                    "LimitExceeded.DailyQuota",
                    "\(accepted.count) targets exceed what is left of today's \(type) quota (\(quota.dailyAvailable))."
                )
            )
        }
        edgeOneQuotas[type]?.dailyAvailable -= accepted.count
        taskCounter += 1
        let jobID = "\(Int(now.timeIntervalSince1970))-teo\(String(taskCounter, radix: 36))"
        for target in accepted {
            edgeOneTasks.append(
                EdgeOneTask(jobID: jobID, target: target, type: type, method: method, created: arrival, createDate: now)
            )
        }
        switch type {
        case "prefetch_url":
            prefetchedURLs += accepted
        default:
            acceptedEdgeOneTargets += accepted.map { EdgeOneTarget(jobID: jobID, type: type, method: method, target: $0) }
            if type == "purge_url" { acceptedURLs += accepted }
            if type == "purge_prefix" { acceptedPaths += accepted }
        }
        let failedList = failed.map { ["Reason": $0.reason, "Targets": $0.targets] as [String: Any] }
        return .success(["JobId": jobID, "FailedList": failedList])
    }

    /// Why `target` fails alone, or nil: not a target of its type (`InvalidParameter.Target`),
    /// a host outside `knownDomains` (`InvalidParameter.DomainNotFound`), or a reason injected
    /// with ``TencentEmulator/failTargets(_:reason:)``, checked in that order.
    private func failureReason(_ target: String, type: String) -> String? {
        let host: String?
        switch type {
        case "purge_url", "purge_prefix", "prefetch_url":
            guard let urlHost = Self.host(of: target), !urlHost.isEmpty, target.utf8.count <= config.maxURLLength else {
                return "InvalidParameter.Target"
            }
            host = urlHost
        case "purge_host":
            guard !target.isEmpty, !target.contains(where: { "/:?# ".contains($0) }) else { return "InvalidParameter.Target" }
            host = target.lowercased()
        case "purge_cache_tag":
            guard !target.isEmpty else { return "InvalidParameter.Target" }
            host = nil
        default:  // purge_all: the zone itself
            host = nil
        }
        if let host, !config.knownDomains.isEmpty, !config.knownDomains.contains(host) {
            return "InvalidParameter.DomainNotFound"
        }
        return failTargetReasons[target]
    }

    /// A task's `Status`: `processing` until `taskCompletionDelay` has passed, then `success`, or the
    /// status chosen with ``TencentEmulator/failTasks(for:status:)`` (`failed` for a target in
    /// ``TencentEmulator/failURLs(_:)``, as CDN's `fail`).
    private func status(of task: EdgeOneTask, at arrival: ContinuousClock.Instant) -> String {
        guard arrival - task.created >= config.taskCompletionDelay else { return "processing" }
        return failTaskStatuses[task.target] ?? (failURLs.contains(task.target) ? "failed" : "success")
    }

    /// DescribePurgeTasks / DescribePrefetchTasks: `ZoneId`; `StartTime` and `EndTime` (ISO 8601),
    /// or a `job-id` filter; `Filters` named `job-id`, `target` (`Fuzzy`: substring), `domains`,
    /// `statuses`, `type`, each with at most 20 values; `Offset`, `Limit` (default 20, at most
    /// `maxDescribeLimit`). One entry per target, oldest first.
    private func describeEdgeOneTasks(
        _ params: [String: Any],
        prefetch: Bool,
        arrival: ContinuousClock.Instant
    ) -> Result<[String: Any], APIError> {
        if let error = checkKeys(params, allowed: ["ZoneId", "StartTime", "EndTime", "Offset", "Limit", "Filters"]) {
            return .failure(error)
        }
        if let error = checkZone(params) { return .failure(error) }
        var conditions: [(EdgeOneTask, String) -> Bool] = []
        var hasJobFilter = false
        if let value = params["Filters"] {
            guard let filters = value as? [[String: Any]] else {
                return .failure(Self.parameterError("Filters must be an array of {Name, Values}."))
            }
            for filter in filters {
                guard let name = filter["Name"] as? String, let values = filter["Values"] as? [String], !values.isEmpty else {
                    return .failure(Self.parameterError("Each filter needs a Name and Values."))
                }
                guard values.count <= 20 else {
                    return .failure(Self.parameterError("The filter \(name) has \(values.count) values; at most 20."))
                }
                let set = Set(values)
                switch name {
                case "job-id":
                    hasJobFilter = true
                    conditions.append { task, _ in set.contains(task.jobID) }
                case "target":
                    if filter["Fuzzy"] as? Bool == true {
                        conditions.append { task, _ in values.contains { task.target.contains($0) } }
                    } else {
                        conditions.append { task, _ in set.contains(task.target) }
                    }
                case "domains":
                    let hosts = Set(values.map { $0.lowercased() })
                    conditions.append { task, _ in hosts.contains(Self.host(of: task.target) ?? task.target.lowercased()) }
                case "statuses":
                    conditions.append { _, status in set.contains(status) }
                case "type":
                    conditions.append { task, _ in set.contains(task.type) }
                default:
                    return .failure(Self.parameterError("Unknown filter name: \(name)."))
                }
            }
        }
        switch (params["StartTime"], params["EndTime"]) {
        case (nil, nil):
            guard hasJobFilter else {
                return .failure(Self.parameterError("StartTime and EndTime, or a job-id filter, are required."))
            }
        case (let start as String, let end as String):
            let parser = ISO8601DateFormatter()
            guard let start = parser.date(from: start), let end = parser.date(from: end), start <= end else {
                return .failure(Self.parameterError("StartTime and EndTime must be ISO 8601 times, in order."))
            }
            conditions.append { task, _ in task.createDate >= start && task.createDate <= end }
        default:
            return .failure(Self.parameterError("StartTime and EndTime go together."))
        }
        let offset = (params["Offset"] as? Int) ?? 0
        let limit = (params["Limit"] as? Int) ?? 20
        guard offset >= 0, limit >= 1, limit <= config.maxDescribeLimit else {
            return .failure(Self.parameterError("Offset must be ≥ 0 and Limit in 1...\(config.maxDescribeLimit)."))
        }
        let matching = edgeOneTasks.lazy.filter { $0.isPrefetch == prefetch }.map { ($0, status(of: $0, at: arrival)) }
            .filter { task, status in conditions.allSatisfy { $0(task, status) } }
        let all = Array(matching)
        let page = offset < all.count ? all[offset..<min(all.count, offset + limit)] : []
        let formatter = ISO8601DateFormatter()
        let delay = config.taskCompletionDelay.components
        let completion = Double(delay.seconds) + Double(delay.attoseconds) / 1e18
        let tasks = page.map { task, status -> [String: Any] in
            var entry: [String: Any] = [
                "JobId": task.jobID, "Target": task.target, "Type": task.type, "Status": status,
                "CreateTime": formatter.string(from: task.createDate),
                "UpdateTime": formatter.string(from: task.createDate.addingTimeInterval(status == "processing" ? 0 : completion)),
            ]
            if !task.isPrefetch { entry["Method"] = task.method }
            switch status {
            case "failed":
                entry["FailType"] = "taskFailed"
                entry["FailMessage"] = "The emulator was told to fail this target."
            case "timeout":
                entry["FailType"] = "taskFailed"
                entry["FailMessage"] = "The task timed out."
            default:
                break
            }
            return entry
        }
        return .success(["TotalCount": all.count, "Tasks": tasks])
    }

    /// DescribeContentQuota: `PurgeQuota` (the five purge types) and `PrefetchQuota` (`prefetch_url`).
    private func describeContentQuota(_ params: [String: Any]) -> Result<[String: Any], APIError> {
        if let error = checkKeys(params, allowed: ["ZoneId"]) { return .failure(error) }
        if let error = checkZone(params) { return .failure(error) }
        func entries(_ types: [String]) -> [[String: Any]] {
            types.compactMap { edgeOneQuotas[$0] }.map {
                ["Type": $0.type, "Batch": $0.batch, "Daily": $0.daily, "DailyAvailable": $0.dailyAvailable]
            }
        }
        return .success(["PurgeQuota": entries(EdgeOneQuota.purgeTypes), "PrefetchQuota": entries(["prefetch_url"])])
    }
}
