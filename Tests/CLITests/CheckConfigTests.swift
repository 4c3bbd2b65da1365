import Foundation
import Testing

@Suite struct CheckConfigTests {
    static let configDirectory = PurgewatchProcess.repositoryRoot + "/Config"

    static var shippedConfigs: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: configDirectory)) ?? [])
            .filter { $0.hasSuffix(".toml") }.sorted()
    }

    @Test func everyShippedConfigPasses() throws {
        #expect(!Self.shippedConfigs.isEmpty)
        for name in Self.shippedConfigs {
            let result = try PurgewatchProcess.run(["check-config", "--config", "\(Self.configDirectory)/\(name)"])
            #expect(result.status == 0, "\(name): \(result.stderr)")
            #expect(result.stdout.contains("[site]"))
        }
    }

    @Test func demoConfigResolvesRelativePathsAgainstItsDirectory() throws {
        let result = try PurgewatchProcess.run(["check-config", "--config", "\(Self.configDirectory)/demo.toml"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("root = \"\(Self.configDirectory)/demo-site\""))
        #expect(result.stdout.contains("path = \"\(Self.configDirectory)/.purgewatch/demo.sqlite\""))
    }

    /// SPEC §10 through the real binary: EdgeOne without a zone is an error naming file, line and
    /// key (78); settings that do not apply are a warning (exit 0) naming where they are.
    @Test func edgeOneZoneIsRequiredAndInapplicableSettingsAreWarnings() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-teo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("site.toml").path
        let base = """
            [site]
            root = "www"

            [[rule]]
            prefix = ""
            urls = ["https://www.example.com/"]

            [purge]
            area = "overseas"

            """
        try (base + "[tencentcloud]\nproduct = \"edgeone\"\n").write(toFile: file, atomically: true, encoding: .utf8)
        let missing = try PurgewatchProcess.run(["check-config", "--config", file])
        #expect(missing.status == 78, "\(missing.stderr)")
        #expect(missing.stderr.contains("\(file):10: tencentcloud.zone_id: required with product = \"edgeone\""), "\(missing.stderr)")

        try (base + "[tencentcloud]\nproduct = \"edgeone\"\nzone_id = \"zone-2noz78a8ev6k\"\n").write(
            toFile: file, atomically: true, encoding: .utf8)
        let noted = try PurgewatchProcess.run(["check-config", "--config", file])
        #expect(noted.status == 0, "\(noted.stderr)")
        #expect(noted.stderr.contains("warning: \(file):9: purge.area: does not apply to EdgeOne"), "\(noted.stderr)")
        #expect(noted.stdout.contains("product = \"edgeone\"") && noted.stdout.contains("zone_id = \"zone-2noz78a8ev6k\""))
        #expect(noted.stdout.contains("endpoint = \"https://teo.tencentcloudapi.com\""), "EdgeOne's own default endpoint")
        #expect(noted.stdout.contains("area = \"\""), "must not: a zone purged per area")
    }

    @Test func badConfigExits78NamingFileLineAndKey() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-bad-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("site.toml").path
        try """
        [site]
        root = "www"

        [[rule]]
        prefix = ""
        urls = ["https://www.example.com/"]

        [[rule]]
        prefix = "assets/"
        urls = ["static.example.com/assets/"]
        """.write(toFile: file, atomically: true, encoding: .utf8)
        let result = try PurgewatchProcess.run(["check-config", "--config", file])
        #expect(result.status == 78)
        #expect(result.stderr.contains("\(file):10: rule[1].urls[0]: \"static.example.com/assets/\" is not an absolute"))
        #expect(result.stdout.isEmpty)
    }

    @Test func missingConfigExits66() throws {
        let result = try PurgewatchProcess.run(["check-config", "--config", "/nonexistent/purgewatch.toml"])
        #expect(result.status == 66)
        #expect(result.stderr.contains("/nonexistent/purgewatch.toml"))
    }

    @Test func usageErrorsExit64() throws {
        #expect(try PurgewatchProcess.run(["check-config"]).status == 64)
        #expect(try PurgewatchProcess.run(["no-such-command"]).status == 64)
    }

    @Test func helpListsOnlyWorkingCommands() throws {
        let result = try PurgewatchProcess.run(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("check-config"))
        #expect(result.stdout.contains("explain"))
    }
}

@Suite struct CheckConfigCredentialTests {
    static let demo = PurgewatchProcess.repositoryRoot + "/Config/demo.toml"

    static func environment(_ extra: [String: String]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys where key.hasPrefix("TENCENTCLOUD_") || key == "CREDENTIALS_DIRECTORY" {
            environment[key] = nil
        }
        return environment.merging(extra) { $1 }
    }

    @Test func reportsTheSourceButNeverTheSecret() throws {
        let secret = "s3cr3t-key-that-must-not-print"
        let result = try PurgewatchProcess.run(
            ["check-config", "--config", Self.demo, "--require-credentials"],
            environment: Self.environment(["TENCENTCLOUD_SECRET_ID": "AKIDcheckconfig", "TENCENTCLOUD_SECRET_KEY": secret]))
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("# credentials: environment (TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY)"))
        #expect(!(result.stdout + result.stderr).contains(secret))
    }

    @Test func missingCredentialsWarnOrFailOnRequest() throws {
        let warned = try PurgewatchProcess.run(["check-config", "--config", Self.demo], environment: Self.environment([:]))
        #expect(warned.status == 0)
        #expect(warned.stderr.contains("warning: no Tencent Cloud credentials"))
        let failed = try PurgewatchProcess.run(
            ["check-config", "--config", Self.demo, "--require-credentials"], environment: Self.environment([:]))
        #expect(failed.status == 78)
    }

    @Test func systemdCredentialsDirectoryIsChecked() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-creds-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "AKIDsystemd".write(toFile: directory + "/tencentcloud-secret-id", atomically: true, encoding: .utf8)
        let missingKey = try PurgewatchProcess.run(
            ["check-config", "--config", Self.demo, "--require-credentials"],
            environment: Self.environment(["CREDENTIALS_DIRECTORY": directory]))
        #expect(missingKey.status == 78)
        #expect(missingKey.stderr.contains("no Tencent Cloud credentials"), "a half-present pair is not a source")
        try "the-key".write(toFile: directory + "/tencentcloud-secret-key", atomically: true, encoding: .utf8)
        let found = try PurgewatchProcess.run(
            ["check-config", "--config", Self.demo, "--require-credentials"],
            environment: Self.environment(["CREDENTIALS_DIRECTORY": directory]))
        #expect(found.status == 0, "\(found.stderr)")
        #expect(found.stdout.contains("# credentials: systemdCredentials"))
        #expect(!found.stdout.contains("the-key"))
    }
}

@Suite struct VersionTests {
    @Test func versionIsOneStringKeptInOnePlace() throws {
        let result = try PurgewatchProcess.run(["--version"])
        #expect(result.status == 0)
        let version = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(version.split(separator: ".").count == 3 && version.allSatisfy { $0.isNumber || $0 == "." }, "\(version)")
    }
}

/// SPEC §9 through the real binary: a fleet config is checked and its database named without the
/// password; an unreachable database is 69 with `--require-database`; `run` refuses the fleet's
/// state while the daemon cannot use it, rather than purging on its own.
@Suite struct FleetCheckConfigTests {
    static func config(port: Int) throws -> (directory: URL, file: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("pw-fleet-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("www"), withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("shop.toml").path
        try """
        [site]
        root = "www"

        [state]
        url = "postgresql://purgewatch@127.0.0.1:\(port)/fleet?sslmode=disable"

        [fleet]
        origin = "web1"

        [[rule]]
        prefix = ""
        urls = ["https://www.example.com/"]
        """.write(toFile: file, atomically: true, encoding: .utf8)
        return (directory, file)
    }

    @Test func theDatabaseIsNamedNeverItsPasswordAndAnUnreachableOneIs69() throws {
        // Port 9 (discard) on loopback: nothing listens there.
        let (directory, file) = try Self.config(port: 9)
        defer { try? FileManager.default.removeItem(at: directory) }
        let secret = "s3cret-\(UUID().uuidString.prefix(6))"
        var environment = ProcessInfo.processInfo.environment
        environment["PGPASSWORD"] = secret
        let checked = try PurgewatchProcess.run(["check-config", "--config", file], environment: environment)
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(
            checked.stdout.contains("# database: postgresql://purgewatch@127.0.0.1:9/fleet?sslmode=disable; password: PGPASSWORD"),
            "\(checked.stdout)")
        #expect(checked.stdout.contains("[fleet]\norigin = \"web1\"\nsite = \"shop\""), "\(checked.stdout)")

        let unreachable = try PurgewatchProcess.run(["check-config", "--require-database", "--config", file], environment: environment)
        #expect(unreachable.status == 69, "\(unreachable.stderr)")
        #expect(unreachable.stderr.contains("cannot use the database"), "\(unreachable.stderr)")
        for output in [checked.stdout, checked.stderr, unreachable.stdout, unreachable.stderr] {
            #expect(!output.contains(secret), "must not: the password printed")
        }

        // `--dry-run` and `--once` are refused with a fleet (64). (`run` on a database it cannot
        // reach starts degraded and retries: FleetEndToEndTests.theDatabaseAwayAtStart.)
        for flag in ["--dry-run", "--once"] {
            let refused = try PurgewatchProcess.run(["run", flag, "--config", file], environment: environment)
            #expect(refused.status == 64, "\(refused.stderr)")
            #expect(refused.stderr.contains("\(flag) is not available with a fleet's PostgreSQL state yet"), "\(refused.stderr)")
        }
    }
}
