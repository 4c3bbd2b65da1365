/// PurgePathCache input (tencentcloud.com/document/api/228/33602).
public struct PurgePathCacheRequest: Sendable, Encodable, Equatable {
    /// Directory URLs with scheme, e.g. `https://www.example.com/blog/`.
    public var paths: [String]
    public var flushType: FlushType
    public var area: String?
    public var urlEncode: Bool?

    public init(paths: [String], flushType: FlushType, area: String? = nil, urlEncode: Bool = false) {
        self.paths = paths
        self.flushType = flushType
        self.area = (area?.isEmpty ?? true) ? nil : area
        self.urlEncode = urlEncode ? true : nil
    }

    enum CodingKeys: String, CodingKey {
        case paths = "Paths"
        case flushType = "FlushType"
        case area = "Area"
        case urlEncode = "UrlEncode"
    }
}
