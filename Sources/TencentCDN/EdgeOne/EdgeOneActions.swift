/// The EdgeOne (TEO, API 2022-09-01) content-management actions the EdgeOne provider calls, with
/// their requests and responses (SPEC §10; reference/edgeone.md).
enum EdgeOneAction: String, Sendable, CaseIterable {
    case createPurgeTask = "CreatePurgeTask"
    case describePurgeTasks = "DescribePurgeTasks"
    case describeContentQuota = "DescribeContentQuota"
    case createPrefetchTask = "CreatePrefetchTask"
}

/// CreatePurgeTask input: `Type` is `purge_url` or `purge_prefix` (with `Method`).
struct CreatePurgeTaskRequest: Encodable, Sendable {
    var zoneId: String
    var type: String
    var method: String?
    var targets: [String]

    enum CodingKeys: String, CodingKey {
        case zoneId = "ZoneId"
        case type = "Type"
        case method = "Method"
        case targets = "Targets"
    }
}

/// CreatePrefetchTask input.
struct CreatePrefetchTaskRequest: Encodable, Sendable {
    var zoneId: String
    var targets: [String]

    enum CodingKeys: String, CodingKey {
        case zoneId = "ZoneId"
        case targets = "Targets"
    }
}

/// CreatePurgeTask / CreatePrefetchTask output: the job, and the targets it did not take.
struct CreateTaskResponse: Decodable, Sendable {
    struct FailReason: Decodable, Sendable {
        var reason: String
        var targets: [String]?

        enum CodingKeys: String, CodingKey {
            case reason = "Reason"
            case targets = "Targets"
        }
    }

    var jobId: String
    var failedList: [FailReason]?
    var requestId: String

    enum CodingKeys: String, CodingKey {
        case jobId = "JobId"
        case failedList = "FailedList"
        case requestId = "RequestId"
    }
}

/// DescribePurgeTasks input: filtered by one job, or by a time range and filters.
struct DescribeEdgeOneTasksRequest: Encodable, Sendable {
    struct Filter: Encodable, Sendable {
        var name: String
        var values: [String]

        enum CodingKeys: String, CodingKey {
            case name = "Name"
            case values = "Values"
        }
    }

    var zoneId: String
    /// ISO 8601; both or neither (a `job-id` filter needs none).
    var startTime: String?
    var endTime: String?
    var offset: Int
    var limit: Int
    var filters: [Filter]

    init(zoneId: String, startTime: String? = nil, endTime: String? = nil, offset: Int, limit: Int, filters: [Filter]) {
        self.zoneId = zoneId
        self.startTime = startTime
        self.endTime = endTime
        self.offset = offset
        self.limit = limit
        self.filters = filters
    }

    enum CodingKeys: String, CodingKey {
        case zoneId = "ZoneId"
        case startTime = "StartTime"
        case endTime = "EndTime"
        case offset = "Offset"
        case limit = "Limit"
        case filters = "Filters"
    }
}

/// One page of DescribePurgeTasks output: one task per target, each with its own status.
struct DescribeEdgeOneTasksResponse: Decodable, Sendable {
    struct Task: Decodable, Sendable {
        var jobId: String?
        var target: String
        var status: String

        enum CodingKeys: String, CodingKey {
            case jobId = "JobId"
            case target = "Target"
            case status = "Status"
        }
    }

    var totalCount: Int
    var tasks: [Task]?
    var requestId: String

    enum CodingKeys: String, CodingKey {
        case totalCount = "TotalCount"
        case tasks = "Tasks"
        case requestId = "RequestId"
    }
}

/// DescribeContentQuota input.
struct DescribeContentQuotaRequest: Encodable, Sendable {
    var zoneId: String

    enum CodingKeys: String, CodingKey {
        case zoneId = "ZoneId"
    }
}

/// DescribeContentQuota output: per type, the batch size, the daily total and what is left.
struct DescribeContentQuotaResponse: Decodable, Sendable {
    struct Quota: Decodable, Sendable {
        var type: String
        var batch: Int
        var daily: Int
        var dailyAvailable: Int

        enum CodingKeys: String, CodingKey {
            case type = "Type"
            case batch = "Batch"
            case daily = "Daily"
            case dailyAvailable = "DailyAvailable"
        }
    }

    var purgeQuota: [Quota]?
    var prefetchQuota: [Quota]?
    var requestId: String

    enum CodingKeys: String, CodingKey {
        case purgeQuota = "PurgeQuota"
        case prefetchQuota = "PrefetchQuota"
        case requestId = "RequestId"
    }
}
