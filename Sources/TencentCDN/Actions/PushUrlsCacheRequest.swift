/// PushUrlsCache input (prefetch; tencentcloud.com/document/api/228/33603).
public struct PushUrlsCacheRequest: Sendable, Encodable, Equatable {
    /// Full URLs with scheme; at most the push quota's `Batch` (500 by default) per request.
    public var urls: [String]
    /// `mainland` (the API's default), `overseas` or `global` (both areas' quotas).
    public var area: String?
    /// Sent only when `true`.
    public var urlEncode: Bool?

    public init(urls: [String], area: String? = nil, urlEncode: Bool = false) {
        self.urls = urls
        self.area = (area?.isEmpty ?? true) ? nil : area
        self.urlEncode = urlEncode ? true : nil
    }

    enum CodingKeys: String, CodingKey {
        case urls = "Urls"
        case area = "Area"
        case urlEncode = "UrlEncode"
    }
}

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
