/// PurgeUrlsCache input (tencentcloud.com/document/api/228/33601).
public struct PurgeUrlsCacheRequest: Sendable, Encodable, Equatable {
    /// Full URLs with scheme; at most `Batch` (1,000 by default) per request.
    public var urls: [String]
    /// `mainland` or `overseas`; `nil` purges the domain's current areas.
    public var area: String?
    /// Sent only when `true` (the API's "encode Chinese characters" flag).
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
