import PurgeCore
import Testing

/// SPEC §9: `[state] url` names the fleet's PostgreSQL state (never with a password), `[fleet]`
/// goes only beside it, and its defaults are the host name, the config file's stem, "default",
/// 2 minutes and 30 seconds.
@Suite struct FleetConfigTests {
    static func parse(_ text: String) throws(ConfigError) -> SiteConfig { try ProductConfigTests.parse(text) }
    static func failure(_ text: String) -> ConfigError? { ProductConfigTests.failure(text) }

    /// SPEC §9's example, literally.
    @Test func theSpecsExample() throws {
        let config = try Self.parse(
            """
            [state]
            url = "postgresql://purgewatch@db.internal:5432/purgewatch?sslmode=verify-full"  # instead of `path`
            # password, first found wins: PGPASSWORD; the systemd credential `postgresql-password`;
            # the passfile (PGPASSFILE or ~/.pgpass), as libpq does. Never in the config, never printed.

            [fleet]                     # only with a PostgreSQL `url`
            origin = "web1"             # this origin's name (default: the host name); unique within the site
            site = "example.com"        # the site's name, the same on every origin (default: config file stem)
            account = "default"         # sites sharing one Tencent Cloud account share its quota and rate
            converge = "2m"             # longest wait for every live origin to hold the new bytes
            origin_timeout = "30s"      # an origin silent this long is not live
            """)
        #expect(config.state.url == "postgresql://purgewatch@db.internal:5432/purgewatch?sslmode=verify-full")
        let fleet = try #require(config.fleet)
        #expect(fleet.origin == "web1" && fleet.site == "example.com" && fleet.account == "default")
        #expect(fleet.converge.milliseconds == 120_000 && fleet.originTimeout.milliseconds == 30_000)
        #expect(config.resolvedSettings.contains("[fleet]\norigin = \"web1\"\nsite = \"example.com\""))
        #expect(config.resolvedSettings.contains("url = \"postgresql://purgewatch@db.internal:5432/purgewatch?sslmode=verify-full\""))
    }

    @Test func defaultsFillAnAbsentFleetTable() throws {
        let text = ProductConfigTests.site + "\n[state]\nurl = \"postgresql://app@db/app\"\n"
        let config = try ConfigParser.parse(
            text: text, sourcePath: "/etc/purgewatch/shop.toml", workingDirectory: "/", environment: [:],
            hostName: "web7.dc1.example.net")
        let fleet = try #require(config.fleet)
        #expect(fleet.origin == "web7.dc1.example.net", "the host name, whole: web7 of another data centre is another origin")
        #expect(fleet.site == "shop", "the config file's stem")
        #expect(fleet.account == "default")
        #expect(fleet.converge.milliseconds == 120_000 && fleet.originTimeout.milliseconds == 30_000)
        #expect(config.state.path == "/etc/purgewatch/.purgewatch/shop.sqlite", "this origin's manifest stays local")
    }

    @Test func aDefaultThatIsNoNameSaysItIsTheDefault() throws {
        let text = ProductConfigTests.site + "\n[state]\nurl = \"postgresql://app@db/app\"\n"
        #expect(throws: ConfigError.self) {
            try ConfigParser.parse(text: text, sourcePath: "/etc/purgewatch/shop.toml", workingDirectory: "/", environment: [:], hostName: "web 7")
        }
        do {
            _ = try ConfigParser.parse(
                text: text, sourcePath: "/etc/purgewatch/shop.toml", workingDirectory: "/", environment: [:], hostName: "web 7")
        } catch {
            #expect(error.keyPath == "fleet.origin")
            #expect(error.message.contains("(the default: the host name; set origin = "), "\(error)")
        }
    }

    @Test func aSingleOriginHasNoFleet() throws {
        let config = try Self.parse("")
        #expect(config.fleet == nil && config.state.url == nil)
        #expect(!config.resolvedSettings.contains("[fleet]"))
    }

    @Test(arguments: [
        ("[fleet]\norigin = \"web1\"\n", "fleet", "needs a PostgreSQL [state] url"),
        ("[state]\nurl = \"postgresql://app:hunter2@db/app\"\n", "state.url", "must not carry a password"),
        ("[state]\nurl = \"postgresql://app@db/app?sslmode=require&password=hunter2\"\n", "state.url", "must not carry a password"),
        ("[state]\nurl = \"postgresql://app@db/app?application_name=x\"\n", "state.url", "application_name is not supported"),
        ("[state]\nurl = \"mysql://app@db/app\"\n", "state.url", "must be a PostgreSQL URL"),
        ("[state]\nurl = \"postgresql://db/app\"\n", "state.url", "names no user"),
        ("[state]\nurl = \"postgresql://app@db/app\"\n[fleet]\norigin = \"web 1\"\n", "fleet.origin", "is not a name"),
        ("[state]\nurl = \"postgresql://app@db/app\"\n[fleet]\nsite = \"\"\n", "fleet.site", "is not a name"),
        ("[state]\nurl = \"postgresql://app@db/app\"\n[fleet]\nconverge = \"0s\"\n", "fleet.converge", "greater than 0"),
        ("[state]\nurl = \"postgresql://app@db/app\"\n[fleet]\norigin_timeout = \"500ms\"\n", "fleet.origin_timeout", "at least 1s"),
        ("[state]\nurl = \"postgresql://app@db/app\"\n[fleet]\nregion = \"eu\"\n", "fleet.region", "unknown key"),
    ])
    func mistakesNameTheirKey(_ text: String, _ key: String, _ message: String) throws {
        let error = try #require(Self.failure(text), "must not parse: \(text)")
        #expect(error.keyPath == key, "\(error)")
        #expect(error.line != nil, "\(error)")
        #expect(error.message.contains(message), "\(error)")
        #expect(!"\(error)".contains("hunter2"), "must not: the password printed")
    }
}
