/// PurgeUrlsCache / PurgePathCache output: one task id shared by every URL of the request.
public struct PurgeResponse: Sendable, Decodable, Equatable {
    public var taskId: String
    public var requestId: String

    public init(taskId: String, requestId: String) {
        self.taskId = taskId
        self.requestId = requestId
    }

    enum CodingKeys: String, CodingKey {
        case taskId = "TaskId"
        case requestId = "RequestId"
    }
}
