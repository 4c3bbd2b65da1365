/// DescribePurgeQuota output (tencentcloud.com/document/api/228/37474).
public struct PurgeQuota: Sendable, Decodable, Equatable {
    /// One area's purge quota.
    public struct Quota: Sendable, Decodable, Equatable {
        /// `mainland` or `overseas`.
        public var area: String
        /// Most items per request.
        public var batch: Int
        /// Daily limit.
        public var total: Int
        /// What remains today.
        public var available: Int

        public init(area: String, batch: Int, total: Int, available: Int) {
            self.area = area
            self.batch = batch
            self.total = total
            self.available = available
        }

        enum CodingKeys: String, CodingKey {
            case area = "Area"
            case batch = "Batch"
            case total = "Total"
            case available = "Available"
        }
    }

    public var urlPurge: [Quota]
    public var pathPurge: [Quota]
    public var requestId: String

    public init(urlPurge: [Quota], pathPurge: [Quota], requestId: String) {
        self.urlPurge = urlPurge
        self.pathPurge = pathPurge
        self.requestId = requestId
    }

    enum CodingKeys: String, CodingKey {
        case urlPurge = "UrlPurge"
        case pathPurge = "PathPurge"
        case requestId = "RequestId"
    }
}
