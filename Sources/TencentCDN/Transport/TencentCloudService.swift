/// One Tencent Cloud API 3.0 service: the name in the TC3 credential scope and the `X-TC-Version`
/// of its actions. Both products speak the same envelope, errors and signing; only these differ.
public struct TencentCloudService: Sendable, Hashable {
    /// The TC3 service name (`cdn`, `teo`).
    public let name: String
    /// `X-TC-Version`.
    public let version: String

    public init(name: String, version: String) {
        self.name = name
        self.version = version
    }

    /// Tencent Cloud CDN, 2018-06-06.
    public static let cdn = TencentCloudService(name: "cdn", version: TencentCDNAction.version)
    /// Tencent Cloud EdgeOne (TEO), 2022-09-01.
    public static let teo = TencentCloudService(name: "teo", version: "2022-09-01")
}
