import PurgeCore
import Testing

/// SPEC §10: `[tencentcloud] product` chooses the provider; EdgeOne needs a `zone_id`, has its own
/// endpoint and `prefix_method`; settings that do not apply are noted (never an error).
@Suite struct ProductConfigTests {
    static let site = """
        [site]
        root = "/srv/www/current"

        [[rule]]
        prefix = ""
        urls = ["https://www.example.com/"]
        """

    static func parse(_ text: String) throws(ConfigError) -> SiteConfig { try ConfigParserTests.parse(site + "\n" + text) }

    static func failure(_ text: String) -> ConfigError? { ConfigParserTests.failure(site + "\n" + text) }

    @Test func cdnIsTheDefaultAndUnchanged() throws {
        let config = try Self.parse("")
        #expect(config.tencentCloud.product == .cdn)
        #expect(config.tencentCloud.zoneID == nil)
        #expect(config.tencentCloud.endpoint == "https://cdn.tencentcloudapi.com")
        #expect(config.notes.isEmpty)
        #expect(config.resolvedSettings.contains("product = \"cdn\""))
        #expect(!config.resolvedSettings.contains("prefix_method"))
    }

    /// SPEC §10's example, literally.
    @Test func theSpecsEdgeOneExample() throws {
        let config = try Self.parse(
            """
            [tencentcloud]
            product = "edgeone"          # "cdn" (default) or "edgeone"
            zone_id = "zone-2noz78a8ev6k" # required with "edgeone"
            # endpoint defaults to https://teo.tencentcloudapi.com (intl: https://teo.intl.tencentcloudapi.com)

            [purge]
            prefix_method = "invalidate"  # EdgeOne directory purges: "invalidate" (revalidate) or "delete"
            """)
        #expect(config.tencentCloud.product == .edgeone)
        #expect(config.tencentCloud.zoneID == "zone-2noz78a8ev6k")
        #expect(config.tencentCloud.endpoint == "https://teo.tencentcloudapi.com")
        #expect(config.purge.prefixMethod == .invalidate)
        #expect(config.notes.isEmpty)
        #expect(config.resolvedSettings.contains("zone_id = \"zone-2noz78a8ev6k\""))
        #expect(config.resolvedSettings.contains("prefix_method = \"invalidate\""))
    }

    @Test func theIntlEndpointAndDeleteMethod() throws {
        let config = try Self.parse(
            """
            [tencentcloud]
            product = "edgeone"
            zone_id = "zone-abc123"
            endpoint = "https://teo.intl.tencentcloudapi.com"

            [purge]
            prefix_method = "delete"
            """)
        #expect(config.tencentCloud.endpoint == "https://teo.intl.tencentcloudapi.com")
        #expect(config.purge.prefixMethod == .delete)
    }

    @Test(
        arguments: [
            ("[tencentcloud]\nproduct = \"edgeone\"", "tencentcloud.zone_id", "required with product = \"edgeone\""),
            ("[tencentcloud]\nproduct = \"teo\"", "tencentcloud.product", "is not one of \"cdn\", \"edgeone\""),
            ("[tencentcloud]\nproduct = \"edgeone\"\nzone_id = \"2noz78a8ev6k\"", "tencentcloud.zone_id", "is not an EdgeOne zone id"),
            ("[tencentcloud]\nproduct = \"edgeone\"\nzone_id = \"zone-ABC\"", "tencentcloud.zone_id", "is not an EdgeOne zone id"),
            ("[tencentcloud]\nproduct = \"edgeone\"\nzone_id = 7", "tencentcloud.zone_id", "expected a string"),
            ("[purge]\nprefix_method = \"flush\"", "purge.prefix_method", "is not one of \"invalidate\", \"delete\""),
            // A CDN endpoint left behind when switching to EdgeOne, and the other way round.
            (
                "[tencentcloud]\nproduct = \"edgeone\"\nzone_id = \"zone-abc\"\nendpoint = \"https://cdn.intl.tencentcloudapi.com\"",
                "tencentcloud.endpoint", "is the cdn API, but product = \"edgeone\" needs https://teo.tencentcloudapi.com"
            ),
            ("[tencentcloud]\nendpoint = \"https://teo.tencentcloudapi.com\"", "tencentcloud.endpoint", "is the teo API"),
        ] as [(String, String, String)])
    func rejected(text: String, keyPath: String, words: String) throws {
        let error = try #require(Self.failure(text))
        #expect(error.keyPath == keyPath)
        #expect(error.message.contains(words), "\(error.message)")
        #expect(error.line != nil, "the line is named")
    }

    /// Settings that do not apply are noted with file, line and key, and do nothing.
    @Test func settingsThatDoNotApplyAreNotedNotFatal() throws {
        let edgeOne = try Self.parse(
            """
            [purge]
            area = "mainland"
            url_encode = true

            [tencentcloud]
            product = "edgeone"
            zone_id = "zone-2noz78a8ev6k"
            """)
        #expect(edgeOne.notes.count == 2)
        #expect(edgeOne.notes.contains { $0.hasPrefix("conf/site.toml:8: purge.area: does not apply to EdgeOne") })
        #expect(edgeOne.notes.contains { $0.hasPrefix("conf/site.toml:9: purge.url_encode: does not apply to EdgeOne") })
        // Must not: a zone purged per area, or URLs sent percent-encoded for EdgeOne.
        #expect(edgeOne.purge.area == .any)
        #expect(edgeOne.purge.urlEncode == false)

        let cdn = try Self.parse(
            """
            [purge]
            prefix_method = "delete"

            [tencentcloud]
            zone_id = "zone-2noz78a8ev6k"
            """)
        #expect(cdn.notes.count == 2)
        #expect(cdn.notes.contains { $0.contains("tencentcloud.zone_id: applies to product = \"edgeone\" only") })
        #expect(cdn.notes.contains { $0.contains("purge.prefix_method: applies to product = \"edgeone\" only") })
        #expect(cdn.tencentCloud.product == .cdn)
    }
}
