import Foundation
import Testing

/// `purgewatch purge` refuses what it cannot purge correctly, before anything is queued (exit 65,
/// the argument named, what was wrong said).
@Suite struct PurgeArgumentTests {
    final class Site {
        let directory: String
        let config: String
        init() throws {
            directory = "/tmp/pw-purge-args-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(atPath: directory + "/site/blog", withIntermediateDirectories: true)
            config = directory + "/site.toml"
            try """
            [site]
            root = "site"
            [state]
            path = "state/site.sqlite"
            [[rule]]
            prefix = ""
            urls = ["https://www.example.com/"]
            [tencentcloud]
            endpoint = "http://127.0.0.1:9"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        deinit { try? FileManager.default.removeItem(atPath: directory) }

        func purge(_ arguments: [[UInt8]]) throws -> PurgewatchProcess.Result {
            try PurgewatchProcess.run(raw: [Array("purge".utf8), Array("--config".utf8), Array(config.utf8)] + arguments)
        }
        var stateExists: Bool { FileManager.default.fileExists(atPath: directory + "/state/site.sqlite") }
    }

    @Test(arguments: [
        ("blog/../../etc/passwd", "\"..\" segment"),
        ("../x.html", "\"..\" segment"),
        ("/etc/passwd", "not under the site root"),
        ("https://evil.example.net/x.html", "under none of the rules' urls"),
        ("https://www.example.com.evil.net/x.html", "under none of the rules' urls"),
        ("https://www.example.com/a b.html", "contains a space"),
        ("https://www.example.com/a\nb.html", "control character (byte 0xA)"),
        ("https://www.example.com/a\u{7F}.html", "control character (byte 0x7F)"),
        ("HTTPS://evil.example.net/x", "under none of the rules' urls"),
        ("ftp://www.example.com/x", "only http:// and https://"),
        ("https://www.example.com/../../x", "\"..\" segment"),
        ("https://www.example.com/a/./b", "\".\" or \"..\" segment"),
        ("https://www.example.com/%zz.html", "not a percent-escape"),
        ("https://www.example.com/100%", "not a percent-escape"),
    ])
    func refusedArgumentsExit65AndQueueNothing(argument: String, reason: String) throws {
        let site = try Site()
        let result = try site.purge([Array("blog/a.html".utf8), Array(argument.utf8)])
        #expect(result.status == 65, "\(result.stdout) \(result.stderr)")
        #expect(result.stderr.contains(reason), "\(result.stderr)")
        #expect(result.stderr.contains(argument.split(separator: "\n").first.map(String.init) ?? argument))
        #expect(!site.stateExists, "nothing is queued when any argument is refused")
    }

    @Test func schemeAndHostCompareCaseInsensitively() throws {
        let site = try Site()
        let result = try site.purge([Array("HTTPS://WWW.Example.COM/Blog/A.html".utf8)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("queued 1 URL(s)"))
    }

    @Test func anyURLAcceptsAnotherHostOfTheAccount() throws {
        let site = try Site()
        let result = try site.purge([Array("--any-url".utf8), Array("https://img.example.net/logo.png".utf8)])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("queued 1 URL(s)"))
    }

    @Test func pathsAndRuleURLsAreAccepted() throws {
        let site = try Site()
        let result = try site.purge([
            Array("blog/a.html".utf8), Array("https://www.example.com/blog/".utf8), Array("./blog//b.html".utf8),
        ])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("queued 3 URL(s)"))
    }
}
