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
