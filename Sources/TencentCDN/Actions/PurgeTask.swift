/// One entry of DescribePurgeTasks' `PurgeLogs`: the state of one URL (or directory) of a task.
public struct PurgeTask: Sendable, Decodable, Equatable {
    public enum Status: Sendable, Equatable, Decodable {
        case process, done, fail
        /// A value this client does not know; treat as still running.
        case other(String)

        public init(rawValue: String) {
            switch rawValue {
            case "process": self = .process
            case "done": self = .done
            case "fail": self = .fail
            default: self = .other(rawValue)
            }
        }

        public init(from decoder: any Decoder) throws {
            self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
        }
    }

    public var taskId: String
    public var url: String
    public var status: Status
    /// `url` or `path`.
    public var purgeType: String?
    /// `flush` or `delete` (directory purges).
    public var flushType: String?
    /// `YYYY-MM-DD HH:MM:SS` (very likely UTC+8; unconfirmed).
    public var createTime: String?

    public init(
        taskId: String,
        url: String,
        status: Status,
        purgeType: String? = nil,
        flushType: String? = nil,
        createTime: String? = nil
    ) {
        self.taskId = taskId
        self.url = url
        self.status = status
        self.purgeType = purgeType
        self.flushType = flushType
        self.createTime = createTime
    }

    enum CodingKeys: String, CodingKey {
        case taskId = "TaskId"
        case url = "Url"
        case status = "Status"
        case purgeType = "PurgeType"
        case flushType = "FlushType"
        case createTime = "CreateTime"
    }
}

/// One page of DescribePurgeTasks output.
struct DescribePurgeTasksResponse: Sendable, Decodable {
    var purgeLogs: [PurgeTask]?
    var totalCount: Int
    var requestId: String

    enum CodingKeys: String, CodingKey {
        case purgeLogs = "PurgeLogs"
        case totalCount = "TotalCount"
        case requestId = "RequestId"
    }
}
