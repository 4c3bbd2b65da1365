import Foundation
import Testing

/// `explain --json` on the shipped demo config: the exact URLs SPEC §4 prescribes.
@Suite struct ExplainTests {
    static let config = PurgewatchProcess.repositoryRoot + "/Config/demo.toml"
    static let www = "https://www.example.com/"
    static let apex = "https://example.com/"

    static func explain(_ paths: [[UInt8]]) throws -> [[String: Any]] {
        let result = try PurgewatchProcess.run(
            raw: [Array("explain".utf8), Array("--json".utf8), Array("--config".utf8), Array(config.utf8)] + paths)
        #expect(result.status == 0, "\(result.stderr)")
        let parsed = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
        return try #require(parsed as? [[String: Any]])
    }

    @Test(arguments: [
        ("blog/2026/hello world.html", "blog/2026/hello%20world.html"),
        ("a#b.html", "a%23b.html"),
        ("what?.html", "what%3F.html"),
        ("100%.html", "100%25.html"),
        ("c++.html", "c++.html"),
        ("blog/2026/中文.html", "blog/2026/%E4%B8%AD%E6%96%87.html"),
    ])
    func specialCharacters(path: String, encoded: String) throws {
        let objects = try Self.explain([Array(path.utf8)])
        #expect(objects.count == 1)
        #expect(objects[0]["path"] as? String == path)
        #expect(objects[0]["excluded"] as? Bool == false)
        #expect(objects[0]["rule"] as? String == "")
        #expect(objects[0]["urls"] as? [String] == [Self.www + encoded, Self.apex + encoded])
    }

    @Test func latin1BytePassedRawOnTheCommandLine() throws {
        let objects = try Self.explain([Array("caf".utf8) + [0xE9] + Array(".html".utf8)])
        #expect(objects[0]["path"] as? String == "caf\\xE9.html")
        #expect(objects[0]["urls"] as? [String] == [Self.www + "caf%E9.html", Self.apex + "caf%E9.html"])
    }

    @Test func indexFilesRuleMatchingAndExcludes() throws {
        let objects = try Self.explain([
            Array("index.html".utf8), Array("about/index.html".utf8), Array("assets/css/site.css".utf8),
            Array(".~tmp~/index.html".utf8), Array("upload.tmp".utf8), Array("about/.index.html.swp".utf8),
        ])
        #expect(objects.count == 6)
        #expect(objects[0]["urls"] as? [String] == [Self.www + "index.html", Self.www, Self.apex + "index.html", Self.apex])
        #expect(
            objects[1]["urls"] as? [String] == [
                Self.www + "about/index.html", Self.www + "about/", Self.apex + "about/index.html", Self.apex + "about/",
            ])
        #expect(objects[2]["rule"] as? String == "assets/")
        #expect(objects[2]["urls"] as? [String] == ["https://static.example.com/assets/css/site.css"])
        for excluded in objects[3...] {
            #expect(excluded["excluded"] as? Bool == true)
            #expect((excluded["urls"] as? [String])?.isEmpty == true)
        }
    }

    @Test func fourThousandBytePath() throws {
        let path = String(repeating: "d/", count: 1_995) + "f.html"
        #expect(path.utf8.count == 3_996)
        let objects = try Self.explain([Array(path.utf8)])
        #expect(objects[0]["urls"] as? [String] == [Self.www + path, Self.apex + path])
    }

    @Test func absolutePathUnderTheRoot() throws {
        let root = PurgewatchProcess.repositoryRoot + "/Config/demo-site"
        let objects = try Self.explain([Array("\(root)/about/index.html".utf8)])
        #expect(objects[0]["path"] as? String == "about/index.html")
        let outside = try PurgewatchProcess.run(["explain", "--config", Self.config, "/etc/passwd"])
        #expect(outside.status == 65)
        #expect(outside.stderr.contains("not under the site root"))
    }

    @Test func textFormSaysWhy() throws {
        let result = try PurgewatchProcess.run(["explain", "--config", Self.config, "index.html", "x.tmp"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("rule: prefix \"\""))
        #expect(result.stdout.contains("excluded"))
    }
}
