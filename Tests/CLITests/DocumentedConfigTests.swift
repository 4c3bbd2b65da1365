import Foundation
import TencentEmulator
import Testing

extension EndToEnd {

    /// The configurations users copy: SPEC §3's example and every file in `Config/`, run by the real
    /// daemon against the emulator with only `root`, `[state] path` and `endpoint` replaced. The
    /// first release excluded every file on SPEC §3's own exclude list; this is the test that would
    /// have said so.
    @Suite(.serialized, .timeLimit(.minutes(5))) struct DocumentedConfigTests {
        /// `text` with the lines `root = …`, `path = …` (in `[state]`) and `endpoint = …` replaced,
        /// and `[state]` / `[tencentcloud]` tables added when the file has none. Nothing else changes.
        static func localized(_ text: String, root: String, state: String, endpoint: String) -> String {
            var lines: [String] = []
            var table = ""
            var sawState = false
            var sawCloud = false
            for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.hasPrefix("[") && !trimmed.hasPrefix("[[") {
                    table = String(trimmed.prefix { $0 != "]" }.dropFirst())
                    if table == "state" { sawState = true }
                    if table == "tencentcloud" { sawCloud = true }
                } else if trimmed.hasPrefix("[[") {
                    table = "rule"
                }
                if table == "site" && trimmed.hasPrefix("root =") {
                    lines.append("root = \"\(root)\"")
                } else if table == "state" && trimmed.hasPrefix("path =") {
                    lines.append("path = \"\(state)\"")
                } else if table == "tencentcloud" && trimmed.hasPrefix("endpoint =") {
                    lines.append("endpoint = \"\(endpoint)\"")
                } else {
                    lines.append(line)
                }
            }
            if !sawState { lines += ["", "[state]", "path = \"\(state)\""] }
            if !sawCloud { lines += ["", "[tencentcloud]", "endpoint = \"\(endpoint)\""] }
            return lines.joined(separator: "\n")
        }

        @Test func specSectionThreeExampleNamesExactlyTheDocumentedFiles() async throws {
            try await DaemonFixture.with { fixture in
                let config = Self.localized(
                    SpecExampleConfig.text, root: fixture.site, state: fixture.statePath,
                    endpoint: fixture.emulator.endpoint)
                #expect(config.contains(#"exclude = ["**/.*", "**/*.tmp", "**/*~"]"#), "the exclude list is SPEC's own")
                try config.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
                let check = try PurgewatchProcess.run(["check-config", "--config", fixture.configPath])
                #expect(check.status == 0, "SPEC §3's example must pass check-config: \(check.stderr)")

                let files = [
                    "index.html", "a.html", "sub/index.html", "assets/app.js", ".env", "a/.env", ".well/x.html",
                    "x.tmp", "sub/y.tmp", "page.html~", "sub/page.html~",
                ]
                for file in files { try fixture.write(file, "v1 \(file)\n") }
                try await fixture.startDaemon()
                let tracked = try await fixture.status()["files_tracked"] as? Int
                #expect(tracked == 4, "the baseline tracks index.html, a.html, sub/index.html, assets/app.js: \(String(describing: tracked))")

                for file in files { try fixture.write(file, "v2 \(file)\n") }
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(
                    fixture.purged == [
                        "https://www.example.com/", "https://example.com/",
                        "https://www.example.com/a.html", "https://example.com/a.html",
                        "https://www.example.com/index.html", "https://example.com/index.html",
                        "https://www.example.com/sub/index.html", "https://example.com/sub/index.html",
                        "https://www.example.com/sub/", "https://example.com/sub/",
                        "https://static.example.com/assets/app.js",
                    ], "\(fixture.purged.sorted())\n\(fixture.daemon?.log ?? "")")
            }
        }

        /// The table below covers every file in `Config/`: a new example config needs its row.
        @Test func everyShippedConfigHasARow() throws {
            let shipped = try FileManager.default.contentsOfDirectory(atPath: PurgewatchProcess.repositoryRoot + "/Config")
                .filter { $0.hasSuffix(".toml") }
            #expect(Set(shipped) == Set(Self.shippedConfigs.map(\.0)), "add a row to shippedConfigs for each Config/*.toml")
        }

        static let shippedConfigs: [(String, [String], String)] = [
            ("demo.toml", ["https://www.example.com/page.html", "https://example.com/page.html"], "notes.tmp"),
            ("rsync.toml", ["https://www.example.com/page.html", "https://example.com/page.html"], ".~tmp~/page.html"),
            ("git-pull.toml", ["https://docs.example.com/page.html"], ".git/HEAD"),
            ("symlink-releases.toml", ["https://shop.example.com/page.html"], "app.js.map"),
            ("edgeone.toml", ["https://www.example.com/page.html", "https://example.com/page.html"], "app.js.map"),
        ]

        /// Each file in `Config/`: a page the first rule serves is purged when modified; a file the
        /// config excludes is not.
        @Test(arguments: shippedConfigs)
        func shippedConfigPurgesAModifiedPage(file: String, expected: [String], excluded: String) async throws {
            let hosts: Set<String> = [
                "www.example.com", "example.com", "static.example.com", "dl.example.com", "docs.example.com",
                "v1.docs.example.com", "shop.example.com",
            ]
            try await DaemonFixture.with(emulator: EmulatorConfiguration(knownDomains: hosts)) { fixture in
                let original = try String(
                    contentsOfFile: PurgewatchProcess.repositoryRoot + "/Config/" + file, encoding: .utf8)
                let config = Self.localized(
                    original, root: fixture.site, state: fixture.statePath, endpoint: fixture.emulator.endpoint)
                try config.write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
                let check = try PurgewatchProcess.run(["check-config", "--config", fixture.configPath])
                #expect(check.status == 0, "\(file): \(check.stderr)")

                for name in ["page.html", "other.html", excluded] { try fixture.write(name, "v1\n") }
                try await fixture.startDaemon()
                try fixture.write("page.html", "v2\n")
                try fixture.write(excluded, "v2\n")
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(file): \(flushed.stderr)")
                #expect(fixture.purged == Set(expected), "\(file): \(fixture.purged.sorted())\n\(fixture.daemon?.log ?? "")")
            }
        }
    }
}
