/// PushUrlsCache input (prefetch; tencentcloud.com/document/api/228/33603): the same `Urls`,
/// `Area` and `UrlEncode` as PurgeUrlsCache, with `Area` one of `mainland` (the API's default),
/// `overseas` or `global` (both areas' quotas), and at most the push quota's `Batch` URLs.
public typealias PushUrlsCacheRequest = PurgeUrlsCacheRequest

/// DescribePushQuota output: the prefetch quota per area.
public struct PushQuota: Sendable, Decodable, Equatable {
    public var urlPush: [PurgeQuota.Quota]
    public var requestId: String

    public init(urlPush: [PurgeQuota.Quota], requestId: String) {
        self.urlPush = urlPush
        self.requestId = requestId
    }

    enum CodingKeys: String, CodingKey {
        case urlPush = "UrlPush"
        case requestId = "RequestId"
    }
}
