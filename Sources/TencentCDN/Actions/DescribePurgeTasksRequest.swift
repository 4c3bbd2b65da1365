/// DescribePurgeTasks input (tencentcloud.com/document/api/228/33604), by task id with paging.
public struct DescribePurgeTasksRequest: Sendable, Encodable, Equatable {
    /// One task (or, with ``startTime``, every task created since then: either must be given).
    public var taskId: String?
    /// `YYYY-MM-DD HH:MM:SS`, UTC+8 (the API's clock, as `CreateTime` is written).
    public var startTime: String?
    /// A domain, or a full URL starting with http(s)://.
    public var keyword: String?
    /// `url` or `path`.
    public var purgeType: String?
    public var offset: Int
    public var limit: Int

    public init(taskId: String, offset: Int = 0, limit: Int = 100) {
        self.taskId = taskId
        self.offset = offset
        self.limit = limit
    }

    /// The tasks created since `startTime` (UTC+8) that purged `keyword`.
    public init(startTime: String, keyword: String?, purgeType: String?, offset: Int = 0, limit: Int = 100) {
        self.startTime = startTime
        self.keyword = keyword
        self.purgeType = purgeType
        self.offset = offset
        self.limit = limit
    }

    enum CodingKeys: String, CodingKey {
        case taskId = "TaskId"
        case startTime = "StartTime"
        case keyword = "Keyword"
        case purgeType = "PurgeType"
        case offset = "Offset"
        case limit = "Limit"
    }
}

/// DescribePurgeQuota input: no parameters, the body is `{}`.
public struct DescribePurgeQuotaRequest: Sendable, Encodable, Equatable {
    public init() {}
}
