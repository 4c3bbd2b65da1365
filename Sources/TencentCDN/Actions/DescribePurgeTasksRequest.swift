/// DescribePurgeTasks input (tencentcloud.com/document/api/228/33604), by task id with paging.
public struct DescribePurgeTasksRequest: Sendable, Encodable, Equatable {
    public var taskId: String
    public var offset: Int
    public var limit: Int

    public init(taskId: String, offset: Int = 0, limit: Int = 100) {
        self.taskId = taskId
        self.offset = offset
        self.limit = limit
    }

    enum CodingKeys: String, CodingKey {
        case taskId = "TaskId"
        case offset = "Offset"
        case limit = "Limit"
    }
}

/// DescribePurgeQuota input: no parameters, the body is `{}`.
public struct DescribePurgeQuotaRequest: Sendable, Encodable, Equatable {
    public init() {}
}
