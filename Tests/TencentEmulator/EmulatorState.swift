import Foundation

/// Everything the emulator knows, mutated under one lock; `handle` is synchronous.
struct EmulatorState {
    struct TaskRecord {
        var id: String
        var created: ContinuousClock.Instant
        var createTime: String
        var purgeType: String
        var flushType: String?
        var urls: [String]
    }

    var config: EmulatorConfiguration
    var verifier: TC3Verifier
    var quotas: [String: EmulatedQuota]
    var acceptedURLs: [String] = []
    var acceptedPaths: [String] = []
    var requests: [RecordedRequest] = []
    var tasks: [String: TaskRecord] = [:]
    var taskOrder: [String] = []
    var failURLs: Set<String> = []
    /// Every URL accepted by PushUrlsCache (prefetch), in order, with its area.
    var pushedURLs: [(url: String, area: String)] = []
    /// Prefetch quota per area: (batch, total, available). Documented defaults: 500 per request,
    /// 1,000 per day.
    var pushQuotas: [String: (batch: Int, total: Int, available: Int)] = [:]
    /// URLs whose presence fails the whole request with `InvalidParameter.CdnParamError`, with a
    /// message that does not say which URL (the client must bisect).
    var unnamedBadURLs: Set<String> = []
    var queuedFaults: [(fault: Fault, action: String?)] = []
    var randomFaults: (rate: Double, faults: [Fault], actions: Set<String>?)?
    var rng = SplitMix64(seed: 0)
    var clockOffset: TimeInterval = 0
    var taskCounter = 0
    var injectedFaults: [Fault] = []

    // EdgeOne (TEO, 2022-09-01): see EmulatorState+EdgeOne.swift.
    var edgeOneQuotas: [String: EdgeOneQuota]
    var acceptedEdgeOneTargets: [EdgeOneTarget] = []
    var prefetchedURLs: [String] = []
    var edgeOneTasks: [EdgeOneTask] = []
    /// Targets that CreatePurgeTask / CreatePrefetchTask put in `FailedList`, with the reason.
    var failTargetReasons: [String: String] = [:]
    /// Targets whose tasks end in this status (`failed`, `timeout`, `canceled`) instead of `success`.
    var failTaskStatuses: [String: String] = [:]

    /// The day (UTC+8) the quotas belong to, on the emulator's clock: see ``rollOverIfDue(now:)``.
    var quotaDay: Int

    init(config: EmulatorConfiguration) {
        self.config = config
        self.verifier = TC3Verifier(
            keys: [config.secretId: .init(secretKey: config.secretKey, token: nil)],
            window: config.signatureWindow
        )
        var quotas: [String: EmulatedQuota] = [:]
        for area in config.areas {
            quotas[area] = EmulatedQuota(
                urlBatch: config.urlBatch,
                urlTotal: config.urlDailyQuota,
                urlAvailable: config.urlDailyQuota,
                pathBatch: config.pathBatch,
                pathTotal: config.pathDailyQuota,
                pathAvailable: config.pathDailyQuota
            )
        }
        self.quotas = quotas
        self.edgeOneQuotas = Dictionary(config.edgeOneQuotas.map { ($0.type, $0) }) { _, last in last }
        self.quotaDay = Self.beijingDay(Date())
    }

    /// The emulator's wall clock: the real one shifted by `clockOffset`.
    var now: Date { Date().addingTimeInterval(clockOffset) }

    /// Days since 1970-01-01 in UTC+8: the quota day, which turns at 00:00 UTC+8 (16:00 UTC).
    static func beijingDay(_ date: Date) -> Int {
        Int(((date.timeIntervalSince1970 + 8 * 3_600) / 86_400).rounded(.down))
    }

    /// With `dailyRollover`, once the emulator's clock has passed 00:00 UTC+8 since the last call,
    /// every quota returns to its total (CDN URL, directory and prefetch quotas of every area,
    /// EdgeOne's `DailyAvailable` of every type). Called on each request and before each quota read
    /// or change, so a quota set by hand holds until the next 00:00 of the emulator's clock. The
    /// day is followed even with rollover off, so turning it on never rolls over a past midnight.
    mutating func rollOverIfDue(now: Date) {
        let day = Self.beijingDay(now)
        defer { quotaDay = day }
        guard config.dailyRollover, day > quotaDay else { return }
        for area in quotas.keys {
            quotas[area]!.urlAvailable = quotas[area]!.urlTotal
            quotas[area]!.pathAvailable = quotas[area]!.pathTotal
        }
        for area in pushQuotas.keys { pushQuotas[area]!.available = pushQuotas[area]!.total }
        for type in edgeOneQuotas.keys { edgeOneQuotas[type]!.dailyAvailable = edgeOneQuotas[type]!.daily }
    }

    /// What the handler decided, and whether to wait before answering.
    enum Decision {
        case reply(status: Int, body: [UInt8], contentType: String, delay: Duration?)
        case drop
    }

    mutating func handle(_ request: ReceivedRequest) -> Decision {
        let arrival = ContinuousClock.now
        let action = request.header("X-TC-Action") ?? ""
        let version = request.header("X-TC-Version") ?? ""
        let product = Product(version: version)
        let requestId = UUID().uuidString.lowercased()
        let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any]
        let urlCount = ((body?["Urls"] ?? body?["Paths"] ?? body?["Targets"]) as? [Any])?.count ?? 0
        rollOverIfDue(now: self.now)
        var record = RecordedRequest(
            action: action,
            version: version,
            arrival: arrival,
            date: Date(),
            urlCount: urlCount,
            outcome: "accepted",
            fault: nil,
            timestamp: request.header("X-TC-Timestamp").flatMap { Int($0) },
            requestId: requestId
        )
        defer { requests.append(record) }

        func fail(_ code: String, _ message: String) -> Decision {
            record.outcome = code
            return .reply(
                status: 200,
                body: Self.errorBody(code, message, requestId),
                contentType: "application/json",
                delay: nil
            )
        }

        // Per-action rate limit (each product's actions apart): requests of the last second that
        // were not themselves refused for it.
        let windowStart = arrival - .seconds(1)
        let rateLimitCodes: Set<String> = ["RequestLimitExceeded", "LimitExceeded.RateLimitExceeded"]
        let recent = requests.lazy.filter {
            $0.action == action && $0.version == version && $0.arrival > windowStart && !rateLimitCodes.contains($0.outcome)
        }.count
        if recent >= config.requestsPerSecondPerAction {
            return fail(
                product == .edgeOne ? "LimitExceeded.RateLimitExceeded" : "RequestLimitExceeded",
                "Your current request times equals to `\(config.requestsPerSecondPerAction)` in a second, which exceeds the frequency limit."
            )
        }

        // Injected faults.
        var delay: Duration?
        if let fault = nextFault(for: action) {
            record.fault = fault
            injectedFaults.append(fault)
            switch fault {
            case .internalError:
                return fail("InternalError", "An internal error has occurred. Retry your request.")
            case .apiError(let code, let message):
                return fail(code, message)
            case .authFailure(let code):
                return fail(code, "Injected authentication failure.")
            case .http(let status):
                record.outcome = "HTTP \(status)"
                return .reply(
                    status: status,
                    body: Array("<html><body>\(status) injected</body></html>".utf8),
                    contentType: "text/html",
                    delay: nil
                )
            case .drop:
                record.outcome = "dropped"
                return .drop
            case .malformedBody:
                record.outcome = "malformed"
                return .reply(
                    status: 200,
                    body: Array("{\"Response\": {\"TaskId\": ".utf8),
                    contentType: "application/json",
                    delay: nil
                )
            case .slow(let seconds):
                delay = .seconds(seconds)
            }
        }

        if request.method != "POST" {
            return fail("UnsupportedProtocol", "Only POST is emulated.")
        }
        let now = self.now
        // An unknown version is checked as CDN's, then refused for its version.
        switch verifier.verify(request, service: (product ?? .cdn).service, now: now) {
        case .invalid(let code, let message):
            return fail(code, message)
        case .valid:
            break
        }
        guard let product else {
            return fail("NoSuchVersion", "The API version `\(version)` does not exist.")
        }
        let contentType = (request.header("Content-Type") ?? "").lowercased()
        guard contentType.hasPrefix("application/json") else {
            return fail("InvalidParameter", "Content-Type must be application/json.")
        }
        guard let params = body else {
            return fail("InvalidParameter", "The request body is not a JSON object.")
        }
        guard !action.isEmpty else { return fail("MissingParameter", "The request is missing X-TC-Action.") }
        let result: Result<[String: Any], APIError>
        switch product {
        case .edgeOne:
            guard let edgeOneResult = handleEdgeOne(action, params, arrival: arrival, now: now) else {
                return fail("InvalidAction", "The action `\(action)` does not exist.")
            }
            result = edgeOneResult
        case .cdn:
            switch action {
            case "PurgeUrlsCache": result = purgeURLs(params, arrival: arrival, now: now)
            case "PurgePathCache": result = purgePaths(params, arrival: arrival, now: now)
            case "DescribePurgeTasks": result = describeTasks(params, arrival: arrival)
            case "DescribePurgeQuota": result = describeQuota(params)
            case "PushUrlsCache": result = pushURLs(params)
            case "DescribePushQuota": result = describePushQuota(params)
            default: return fail("InvalidAction", "The action `\(action)` does not exist.")
            }
        }
        switch result {
        case .failure(let error):
            return fail(error.code, error.message)
        case .success(var response):
            response["RequestId"] = requestId
            let data =
                (try? JSONSerialization.data(withJSONObject: ["Response": response], options: [.sortedKeys])) ?? Data()
            return .reply(status: 200, body: Array(data), contentType: "application/json", delay: delay)
        }
    }

    private mutating func nextFault(for action: String) -> Fault? {
        if let index = queuedFaults.firstIndex(where: { $0.action == nil || $0.action == action }) {
            return queuedFaults.remove(at: index).fault
        }
        if let random = randomFaults, !random.faults.isEmpty, random.actions?.contains(action) ?? true {
            let draw = Double(rng.next() >> 11) / Double(1 << 53)
            let pick = Int(rng.next() % UInt64(random.faults.count))
            if draw < random.rate { return random.faults[pick] }
        }
        return nil
    }

    /// The product a request speaks, by its `X-TC-Version`.
    enum Product {
        case cdn
        case edgeOne

        init?(version: String) {
            switch version {
            case "2018-06-06": self = .cdn
            case "2022-09-01": self = .edgeOne
            default: return nil
            }
        }

        /// The TC3 credential scope's service.
        var service: String { self == .cdn ? "cdn" : "teo" }
    }

    struct APIError: Error {
        var code: String
        var message: String
        init(_ code: String, _ message: String) {
            self.code = code
            self.message = message
        }
    }

    func checkKeys(_ params: [String: Any], allowed: Set<String>) -> APIError? {
        for key in params.keys where !allowed.contains(key) {
            return APIError("UnknownParameter", "The parameter `\(key)` is not recognized.")
        }
        return nil
    }

    private func affectedAreas(_ params: [String: Any]) -> Result<[String], APIError> {
        guard let area = params["Area"] else { return .success(config.areas) }
        guard let area = area as? String, config.areas.contains(area) else {
            return .failure(
                APIError(
                    "InvalidParameter.CdnParamError",
                    "Area must be one of \(config.areas.joined(separator: ", "))."
                )
            )
        }
        return .success([area])
    }

    private func validate(_ items: [String]) -> APIError? {
        if items.contains(where: unnamedBadURLs.contains) {
            return APIError("InvalidParameter.CdnParamError", "A parameter is invalid.")
        }
        for item in items {
            let lower = item.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else {
                return APIError(
                    "InvalidParameter.CdnParamError",
                    "URL must include the scheme (http:// or https://): \(item)"
                )
            }
            if item.utf8.count > config.maxURLLength {
                return APIError("InvalidParameter.CdnUrlExceedLength", "The URL exceeds the length limit: \(item)")
            }
            let host = Self.host(of: item) ?? ""
            if !config.knownDomains.isEmpty && !config.knownDomains.contains(host) {
                return APIError(
                    "ResourceNotFound.CdnHostNotExists",
                    "The domain `\(host)` does not exist in this account."
                )
            }
        }
        return nil
    }

    /// The lower-cased host of an `http://` or `https://` URL (nil for anything else).
    static func host(of url: String) -> String? {
        let lower = url.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return nil }
        let rest = url[url.index(url.firstIndex(of: ":")!, offsetBy: 3)...]
        return rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }.split(separator: ":").first.map {
            String($0).lowercased()
        } ?? ""
    }

    private mutating func purgeURLs(_ params: [String: Any], arrival: ContinuousClock.Instant, now: Date) -> Result<
        [String: Any], APIError
    > {
        if let error = checkKeys(params, allowed: ["Urls", "Area", "UrlEncode"]) { return .failure(error) }
        guard let urls = params["Urls"] as? [String] else {
            return .failure(APIError("MissingParameter", "The request is missing the required parameter `Urls`."))
        }
        if params["UrlEncode"] != nil && (params["UrlEncode"] as? Bool) == nil {
            return .failure(APIError("InvalidParameter.CdnParamError", "UrlEncode must be a boolean."))
        }
        guard !urls.isEmpty else { return .failure(APIError("InvalidParameter.CdnParamError", "Urls is empty.")) }
        let areas: [String]
        switch affectedAreas(params) {
        case .failure(let e): return .failure(e)
        case .success(let a): areas = a
        }
        let batch = areas.compactMap { quotas[$0]?.urlBatch }.min() ?? config.urlBatch
        if urls.count > batch {
            return .failure(
                APIError(
                    "LimitExceeded.CdnPurgeUrlExceedBatchLimit",
                    "The number of URLs to be purged exceeds the limit of \(batch) per request."
                )
            )
        }
        if let error = validate(urls) { return .failure(error) }
        for area in areas where (quotas[area]?.urlAvailable ?? 0) < urls.count {
            return .failure(
                APIError(
                    "LimitExceeded.CdnPurgeUrlExceedDayLimit",
                    "The number of URLs to be purged exceeds the daily limit (\(area))."
                )
            )
        }
        for area in areas { quotas[area]?.urlAvailable -= urls.count }
        acceptedURLs.append(contentsOf: urls)
        let id = makeTask(type: "url", flushType: nil, urls: urls, arrival: arrival, now: now)
        return .success(["TaskId": id])
    }

    private mutating func purgePaths(_ params: [String: Any], arrival: ContinuousClock.Instant, now: Date) -> Result<
        [String: Any], APIError
    > {
        if let error = checkKeys(params, allowed: ["Paths", "FlushType", "Area", "UrlEncode"]) {
            return .failure(error)
        }
        guard let paths = params["Paths"] as? [String] else {
            return .failure(APIError("MissingParameter", "The request is missing the required parameter `Paths`."))
        }
        guard let flushType = params["FlushType"] as? String else {
            return .failure(APIError("MissingParameter", "The request is missing the required parameter `FlushType`."))
        }
        guard flushType == "flush" || flushType == "delete" else {
            return .failure(APIError("InvalidParameter.CdnParamError", "FlushType must be flush or delete."))
        }
        guard !paths.isEmpty else { return .failure(APIError("InvalidParameter.CdnParamError", "Paths is empty.")) }
        let areas: [String]
        switch affectedAreas(params) {
        case .failure(let e): return .failure(e)
        case .success(let a): areas = a
        }
        let batch = areas.compactMap { quotas[$0]?.pathBatch }.min() ?? config.pathBatch
        if paths.count > batch {
            return .failure(
                APIError(
                    "LimitExceeded.CdnPurgePathExceedBatchLimit",
                    "The number of directories to be purged exceeds the limit of \(batch) per request."
                )
            )
        }
        if let error = validate(paths) { return .failure(error) }
        for area in areas where (quotas[area]?.pathAvailable ?? 0) < paths.count {
            return .failure(
                APIError(
                    "LimitExceeded.CdnPurgePathExceedDayLimit",
                    "The number of directories to be purged exceeds the daily limit (\(area))."
                )
            )
        }
        for area in areas { quotas[area]?.pathAvailable -= paths.count }
        acceptedPaths.append(contentsOf: paths)
        let id = makeTask(type: "path", flushType: flushType, urls: paths, arrival: arrival, now: now)
        return .success(["TaskId": id])
    }

    private mutating func makeTask(
        type: String,
        flushType: String?,
        urls: [String],
        arrival: ContinuousClock.Instant,
        now: Date
    ) -> String {
        taskCounter += 1
        let id = "\(Int(now.timeIntervalSince1970))-emu\(String(taskCounter, radix: 36))"
        tasks[id] = TaskRecord(
            id: id,
            created: arrival,
            createTime: Self.beijingTime(now),
            purgeType: type,
            flushType: flushType,
            urls: urls
        )
        taskOrder.append(id)
        return id
    }

    private func describeTasks(_ params: [String: Any], arrival: ContinuousClock.Instant) -> Result<
        [String: Any], APIError
    > {
        let allowed: Set<String> = [
            "PurgeType", "StartTime", "EndTime", "TaskId", "Offset", "Limit", "Keyword", "Status", "Area",
        ]
        if let error = checkKeys(params, allowed: allowed) { return .failure(error) }
        let taskId = params["TaskId"] as? String
        let startTime = params["StartTime"] as? String
        guard taskId != nil || startTime != nil else {
            return .failure(APIError("MissingParameter", "Either TaskId or StartTime is required."))
        }
        let offset = (params["Offset"] as? Int) ?? 0
        let limit = (params["Limit"] as? Int) ?? 20
        guard offset >= 0, limit >= 1, limit <= config.maxDescribeLimit else {
            return .failure(
                APIError(
                    "InvalidParameter.CdnParamError",
                    "Offset must be ≥ 0 and Limit in 1...\(config.maxDescribeLimit)."
                )
            )
        }
        // `Keyword`: a full URL, or a domain; `PurgeType`: `url` or `path`.
        let keyword = params["Keyword"] as? String
        let purgeType = params["PurgeType"] as? String
        let ids = (taskId.map { [$0] } ?? taskOrder.filter { tasks[$0]!.createTime >= startTime! }).filter { id in
            guard let task = tasks[id] else { return false }
            return purgeType == nil || task.purgeType == purgeType
        }
        // A record per URL; `Keyword` keeps the records of that URL (or of that domain's URLs).
        func matches(_ url: String) -> Bool { keyword == nil || url == keyword || URL(string: url)?.host == keyword }
        var logs: [[String: Any]] = []
        for id in ids {
            guard let task = tasks[id] else { continue }
            let finished = arrival - task.created >= config.taskCompletionDelay
            for url in task.urls where matches(url) {
                var entry: [String: Any] = [
                    "TaskId": task.id, "Url": url, "PurgeType": task.purgeType, "CreateTime": task.createTime,
                    "Status": finished ? (failURLs.contains(url) ? "fail" : "done") : "process",
                ]
                entry["FlushType"] = task.flushType ?? "delete"
                logs.append(entry)
            }
        }
        let page = offset < logs.count ? Array(logs[offset..<min(logs.count, offset + limit)]) : []
        return .success(["PurgeLogs": page, "TotalCount": logs.count])
    }

    private func pushQuota(_ area: String) -> (batch: Int, total: Int, available: Int) {
        pushQuotas[area] ?? (500, 1_000, 1_000)
    }

    /// PushUrlsCache: `Area` is `mainland` (the default), `overseas` or `global` (both quotas).
    private mutating func pushURLs(_ params: [String: Any]) -> Result<[String: Any], APIError> {
        if let error = checkKeys(params, allowed: ["Urls", "Area", "UrlEncode", "UserAgent", "Layer"]) {
            return .failure(error)
        }
        guard let urls = params["Urls"] as? [String], !urls.isEmpty else {
            return .failure(APIError("MissingParameter", "The request is missing the required parameter `Urls`."))
        }
        let area = (params["Area"] as? String) ?? "mainland"
        let areas: [String]
        switch area {
        case "global": areas = config.areas
        case let one where config.areas.contains(one): areas = [one]
        default: return .failure(APIError("InvalidParameter.CdnParamError", "Area must be mainland, overseas or global."))
        }
        let batch = areas.map { pushQuota($0).batch }.min() ?? 500
        if urls.count > batch {
            return .failure(APIError("LimitExceeded.CdnPushExceedBatchLimit", "At most \(batch) URLs per push."))
        }
        if let error = validate(urls) { return .failure(error) }
        for one in areas where pushQuota(one).available < urls.count {
            return .failure(APIError("LimitExceeded.CdnPushExceedDayLimit", "The daily prefetch limit is reached (\(one))."))
        }
        for one in areas {
            var quota = pushQuota(one)
            quota.available -= urls.count
            pushQuotas[one] = quota
        }
        pushedURLs += urls.map { ($0, area) }
        return .success(["TaskId": "push-\(UUID().uuidString.prefix(8).lowercased())"])
    }

    private func describePushQuota(_ params: [String: Any]) -> Result<[String: Any], APIError> {
        if let error = checkKeys(params, allowed: []) { return .failure(error) }
        let urlPush = config.areas.map { area -> [String: Any] in
            let quota = pushQuota(area)
            return ["Area": area, "Batch": quota.batch, "Total": quota.total, "Available": quota.available]
        }
        return .success(["UrlPush": urlPush])
    }

    private func describeQuota(_ params: [String: Any]) -> Result<[String: Any], APIError> {
        if let error = checkKeys(params, allowed: []) { return .failure(error) }
        let urlPurge = config.areas.compactMap { area in
            quotas[area].map {
                ["Area": area, "Batch": $0.urlBatch, "Total": $0.urlTotal, "Available": $0.urlAvailable]
                    as [String: Any]
            }
        }
        let pathPurge = config.areas.compactMap { area in
            quotas[area].map {
                ["Area": area, "Batch": $0.pathBatch, "Total": $0.pathTotal, "Available": $0.pathAvailable]
                    as [String: Any]
            }
        }
        return .success(["UrlPurge": urlPurge, "PathPurge": pathPurge])
    }

    static func errorBody(_ code: String, _ message: String, _ requestId: String) -> [UInt8] {
        let object: [String: Any] = [
            "Response": ["Error": ["Code": code, "Message": message], "RequestId": requestId]
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// `YYYY-MM-DD HH:MM:SS` in UTC+8, as the API reports times.
    static func beijingTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }
}
