import PurgeCore
import Testing

/// SPEC §4, bullet by bullet, with the exact URL strings a user would check.
@Suite struct PathMapperTests {
    static let www = "https://www.example.com/"
    static let apex = "https://example.com/"

    static func mapper(urlEncode: Bool = false, exclude: [String] = SiteConfig.Site.defaultExclude) -> PathMapper {
        PathMapper(
            rules: [
                .init(prefix: "", urls: [www, apex], index: ["index.html"], indexBare: false),
                .init(prefix: "assets/", urls: ["https://static.example.com/assets/"], index: ["index.html"], indexBare: false),
                .init(prefix: "docs/", urls: ["https://docs.example.com/"], index: ["index.html", "index.htm"], indexBare: true),
            ],
            exclude: exclude.compactMap(ExcludeGlob.init),
            urlEncode: urlEncode
        )
    }

    @Test(arguments: [
        ("a b.html", "a%20b.html"),
        ("a#b.html", "a%23b.html"),
        ("what?.html", "what%3F.html"),
        ("100%.html", "100%25.html"),
        ("c++.html", "c++.html"),
        ("中文.html", "%E4%B8%AD%E6%96%87.html"),
        ("blog/2026/hello world.html", "blog/2026/hello%20world.html"),
        ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~x", "!%22%23$%25&'()*+,-./:;%3C=%3E%3F@%5B%5C%5D%5E_%60%7B%7C%7D~x"),
        ("tab\there", "tab%09here"),
    ])
    func browserEncoding(path: String, encoded: String) {
        let mapping = Self.mapper().map(RelativePath(path))
        #expect(mapping.rule == "")
        #expect(mapping.excluded == false)
        #expect(mapping.urls == [Self.www + encoded, Self.apex + encoded])
    }

    @Test func latin1ByteIsPercentEncodedAndShownAsEscape() {
        let path = RelativePath(bytes: Array("caf".utf8) + [0xE9] + Array(".html".utf8))
        let mapping = Self.mapper().map(path)
        #expect(mapping.urls == [Self.www + "caf%E9.html", Self.apex + "caf%E9.html"])
        #expect(path.description == "caf\\xE9.html")
        #expect(
            mapping.json
                == #"{"path": "caf\\xE9.html", "excluded": false, "rule": "", "urls": ["https://www.example.com/caf%E9.html", "https://example.com/caf%E9.html"]}"#
        )
    }

    @Test func urlEncodeFlagSendsUTF8RawButStillEncodesASCIIAndInvalidBytes() {
        let mapper = Self.mapper(urlEncode: true)
        #expect(mapper.map(RelativePath("中文 x.html")).urls.first == Self.www + "中文%20x.html")
        let latin1 = RelativePath(bytes: Array("caf".utf8) + [0xE9])
        #expect(mapper.map(latin1).urls.first == Self.www + "caf%E9")
    }

    @Test func rootIndexMapsToTheURLEntryItself() {
        #expect(
            Self.mapper().map(RelativePath("index.html")).urls == [
                Self.www + "index.html", Self.www, Self.apex + "index.html", Self.apex,
            ])
    }

    @Test func nestedIndexMapsToItsDirectoryWithSlash() {
        #expect(
            Self.mapper().map(RelativePath("blog/2026/index.html")).urls == [
                Self.www + "blog/2026/index.html", Self.www + "blog/2026/",
                Self.apex + "blog/2026/index.html", Self.apex + "blog/2026/",
            ])
    }

    @Test func indexNameMustMatchTheWholeFileName() {
        #expect(Self.mapper().map(RelativePath("blog/myindex.html")).urls.count == 2)
        #expect(Self.mapper().map(RelativePath("blog/index.html.bak")).urls.count == 2)
    }

    @Test func indexBareAddsTheDirectoryWithoutSlashButNeverForTheBaseURL() {
        #expect(
            Self.mapper().map(RelativePath("docs/index.html")).urls == [
                "https://docs.example.com/index.html", "https://docs.example.com/",
            ])
        #expect(
            Self.mapper().map(RelativePath("docs/guide/setup/index.htm")).urls == [
                "https://docs.example.com/guide/setup/index.htm",
                "https://docs.example.com/guide/setup/",
                "https://docs.example.com/guide/setup",
            ])
    }

    @Test func longestPrefixWins() {
        let mapping = Self.mapper().map(RelativePath("assets/css/site.css"))
        #expect(mapping.rule == "assets/")
        #expect(mapping.urls == ["https://static.example.com/assets/css/site.css"])
        // "assets" without the slash is not under the prefix "assets/".
        #expect(Self.mapper().map(RelativePath("assets.html")).rule == "")
    }

    @Test func noRuleMeansNoURLs() {
        let mapper = PathMapper(
            rules: [.init(prefix: "assets/", urls: ["https://static.example.com/"], index: [], indexBare: false)],
            exclude: [], urlEncode: false)
        let mapping = mapper.map(RelativePath("index.html"))
        #expect(mapping.rule == nil)
        #expect(mapping.excluded == false)
        #expect(mapping.urls.isEmpty)
        #expect(mapping.json == #"{"path": "index.html", "excluded": false, "rule": null, "urls": []}"#)
    }

    @Test(arguments: [
        ".~tmp~/index.html",  // rsync --delay-updates staging directory
        "blog/.~tmp~/post.html",
        "blog/.post.html.Ab12Cd",  // rsync's temporary file
        "blog/post.html.swp",
        ".post.html.swp",  // vim swap file
        "upload.tmp",
        "blog/draft.html~",  // editor backup
        ".well-known/security.txt",  // the default excludes every dot-file; configure exclude to keep it
    ])
    func defaultExcludesDropTemporaryFiles(path: String) {
        let mapping = Self.mapper().map(RelativePath(path))
        #expect(mapping.excluded)
        #expect(mapping.urls.isEmpty)
    }

    @Test func fourThousandBytePath() {
        let segment = "directory-name-with-spaces and more/"  // 36 bytes
        var path = String(repeating: segment, count: 110)
        path += String(repeating: "f", count: 4_000 - path.utf8.count - 5) + ".html"
        #expect(path.utf8.count == 4_000)
        let encoded = path.replacingOccurrences(" ", with: "%20")
        #expect(Self.mapper().map(RelativePath(path)).urls == [Self.www + encoded, Self.apex + encoded])
    }

    @Test func urlsAreDeduplicatedAsExactStrings() {
        let mapper = PathMapper(
            rules: [.init(prefix: "", urls: ["https://a.example/", "https://a.example/"], index: ["index.html"], indexBare: true)],
            exclude: [], urlEncode: false)
        #expect(
            mapper.map(RelativePath("x/index.html")).urls == [
                "https://a.example/x/index.html", "https://a.example/x/", "https://a.example/x",
            ])
    }
}

extension String {
    fileprivate func replacingOccurrences(_ target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
