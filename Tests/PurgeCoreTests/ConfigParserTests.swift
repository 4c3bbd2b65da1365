import PurgeCore
import Testing

@Suite struct ConfigParserTests {
    static let valid = """
        [site]
        root = "/srv/www/current"

        [[rule]]
        prefix = ""
        urls = ["https://www.example.com/", "https://example.com/"]

        [[rule]]
        prefix = "assets/"
        urls = ["https://static.example.com/assets/"]
        """

    static func parse(_ text: String, environment: [String: String] = [:]) throws(ConfigError) -> SiteConfig {
        try ConfigParser.parse(
            text: text, sourcePath: "conf/site.toml", workingDirectory: "/etc/purgewatch", environment: environment)
    }

    static func failure(_ text: String) -> ConfigError? {
        do {
            _ = try parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func defaultsAreTheDocumentedOnes() throws {
        let config = try Self.parse(Self.valid)
        #expect(config.site.root == "/srv/www/current")
        #expect(config.site.exclude.map(\.pattern) == [".*", "*.tmp", "*.swp", "*~"])
        #expect(config.state.path == "/etc/purgewatch/conf/.purgewatch/site.sqlite")
        #expect(config.rules[0].index == ["index.html"])
        #expect(config.rules[0].indexBare == false)
        #expect(config.coalesce.quiet == ConfigDuration(milliseconds: 2_000))
        #expect(config.coalesce.maxDelay == ConfigDuration(milliseconds: 30_000))
        #expect(config.purge.on == [.modified, .deleted])
        #expect(config.purge.area == .any)
        #expect(config.purge.urlEncode == false)
        #expect(config.purge.requestsPerSecond == 10)
        #expect(config.purge.directoryFallback == true)
        #expect(config.tencentCloud.endpoint == "https://cdn.tencentcloudapi.com")
        #expect(config.tencentCloud.credentialsFile == nil)
        #expect(config.tencentCloud.cvmRole == false)
        #expect(config.tencentCloud.metadataEndpoint == "http://metadata.tencentyun.com")
    }

    @Test func stateDirectoryFromSystemd() throws {
        let config = try Self.parse(Self.valid, environment: ["STATE_DIRECTORY": "/var/lib/purgewatch:/other"])
        #expect(config.state.path == "/var/lib/purgewatch/site.sqlite")
    }

    @Test func everyKeyIsAccepted() throws {
        let config = try Self.parse(
            """
            [site]
            root = "../www"
            exclude = ["**/.*", "drafts/**"]
            [state]
            path = "state/site.sqlite"
            [[rule]]
            prefix = ""
            urls = ["https://www.example.com/"]
            index = ["index.html", "index.htm"]
            index_bare = true
            [coalesce]
            quiet = "500ms"
            max_delay = "1h"
            [purge]
            on = ["created", "modified", "deleted"]
            area = "overseas"
            url_encode = true
            requests_per_second = 2.5
            directory_fallback = false
            [tencentcloud]
            endpoint = "http://127.0.0.1:8080"
            credentials_file = "creds.ini"
            cvm_role = true
            metadata_endpoint = "http://127.0.0.1:9090"
            """)
        // Relative paths resolve against the config file's directory.
        #expect(config.site.root == "/etc/purgewatch/www")
        #expect(config.state.path == "/etc/purgewatch/conf/state/site.sqlite")
        #expect(config.tencentCloud.credentialsFile == "/etc/purgewatch/conf/creds.ini")
        #expect(config.rules[0].indexBare)
        #expect(config.coalesce.quiet.milliseconds == 500)
        #expect(config.coalesce.maxDelay.milliseconds == 3_600_000)
        #expect(config.purge.on == [.created, .modified, .deleted])
        #expect(config.purge.area == .overseas)
        #expect(config.purge.urlEncode)
        #expect(config.purge.requestsPerSecond == 2.5)
        #expect(!config.purge.directoryFallback)
        #expect(config.tencentCloud.cvmRole)
    }

    /// Each bad case names the file, the line and the key path.
    @Test(
        arguments: [
            // (text, key path, line, words the message must contain)
            ("[site]\nroot = \"/x\"\ntypo = 1\n[[rule]]\nurls = [\"https://a/\"]", "site.typo", 3, "unknown key"),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[extra]\n", "extra", 5, "unknown key"),
            ("[site]\nroot = 5\n[[rule]]\nurls = [\"https://a/\"]", "site.root", 2, "expected a string, found an integer"),
            ("[site]\nexclude = []\n[[rule]]\nurls = [\"https://a/\"]", "site.root", 1, "missing"),
            ("[[rule]]\nurls = [\"https://a/\"]", "site", nil, "required"),
            ("[site]\nroot = \"/x\"\n[[rule]]\nprefix = \"assets\"\nurls = [\"https://a/\"]", "rule[0].prefix", 4, "end in \"/\""),
            ("[site]\nroot = \"/x\"\n[[rule]]\nprefix = \"/assets/\"\nurls = [\"https://a/\"]", "rule[0].prefix", 4, "leading"),
            (
                "[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[[rule]]\nprefix = \"b/\"\nurls = [\"https://a/\",\n  \"ftp://b/\"]",
                "rule[1].urls[1]", 7, "http"
            ),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/x\"]", "rule[0].urls[0]", 4, "end in \"/\""),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"/relative/\"]", "rule[0].urls[0]", 4, "absolute"),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/?q=1/\"]", "rule[0].urls[0]", 4, "query"),
            (
                "[site]\nroot = \"/x\"\n[[rule]]\nprefix = \"a/\"\nurls = [\"https://a/\"]\n[[rule]]\nprefix = \"a/\"\nurls = [\"https://b/\"]",
                "rule[1].prefix", 7, "duplicate prefix"
            ),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\nindex_bare = \"yes\"", "rule[0].index_bare", 5, "true or false"),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[coalesce]\nquiet = \"2 seconds\"", "coalesce.quiet", 6, "not a duration"),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[coalesce]\nquiet = \"2\"", "coalesce.quiet", 6, "not a duration"),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[coalesce]\nmax_delay = 30", "coalesce.max_delay", 6, "expected a string"),
            (
                "[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[coalesce]\nquiet = \"1m\"\nmax_delay = \"30s\"", "coalesce.quiet", 6,
                "must not be longer than max_delay"
            ),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[purge]\narea = \"global\"", "purge.area", 6, "mainland"),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[purge]\non = [\"changed\"]", "purge.on[0]", 6, "not one of"),
            ("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[purge]\nrequests_per_second = 50", "purge.requests_per_second", 6, "20"),
            (
                "[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[tencentcloud]\nendpoint = \"http://cdn.tencentcloudapi.com\"",
                "tencentcloud.endpoint", 6, "https://"
            ),
            (
                "[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[tencentcloud]\nsecret_key = \"s3cr3t-value\"", "tencentcloud.secret_key",
                6, "unknown key"
            ),
            ("[site]\nroot = \"/x\"\n[rule]\nurls = [\"https://a/\"]", "rule", 3, "[[rule]]"),
            ("[site]\nroot = \"/x\"\n", "rule", nil, "at least one"),
        ] as [(String, String, Int?, String)])
    func rejected(text: String, keyPath: String, line: Int?, words: String) throws {
        let error = try #require(Self.failure(text))
        #expect(error.file == "conf/site.toml")
        #expect(error.keyPath == keyPath)
        #expect(error.line == line)
        #expect(error.message.contains(words), "\(error)")
        #expect(error.description.hasPrefix("conf/site.toml\(line.map { ":\($0)" } ?? ""): \(keyPath): "))
    }

    @Test func syntaxErrorsCarryTheLibrarysLine() throws {
        let error = try #require(Self.failure("[site]\nroot = \"/x\"\n\n[[rule]\nurls = 1\n"))
        #expect(error.line == 4)
        #expect(error.keyPath == "")
    }

    @Test func aSecretInAnUnknownKeyIsNotEchoed() throws {
        let error = try #require(
            Self.failure("[site]\nroot = \"/x\"\n[[rule]]\nurls = [\"https://a/\"]\n[tencentcloud]\nsecret_key = \"s3cr3t-value\""))
        #expect(!error.description.contains("s3cr3t-value"))
    }

    @Test(arguments: [("500ms", 500), ("2s", 2_000), ("5m", 300_000), ("1h", 3_600_000), ("0s", 0)] as [(String, Int64)])
    func durations(text: String, milliseconds: Int64) {
        #expect(ConfigDuration(parsing: text)?.milliseconds == milliseconds)
        #expect(ConfigDuration(parsing: text)?.description == (milliseconds == 0 ? "0s" : text))
    }

    @Test(arguments: ["", "2", "s", "-2s", "2.5s", "2 s", "2d", "2sec", "ms"])
    func badDurations(text: String) {
        #expect(ConfigDuration(parsing: text) == nil)
    }
}
