import PurgeCore
import Testing

@Suite struct ExcludeGlobTests {
    static func excluded(_ pattern: String, _ path: String, directory: Bool = false) -> Bool {
        ExcludeGlob(pattern)!.excludes(RelativePath(path), isDirectory: directory)
    }

    @Test(arguments: [
        // A pattern without "/" matches the name at any depth.
        ("*.tmp", "a.tmp", true), ("*.tmp", "x/y/a.tmp", true), ("*.tmp", "a.tmpx", false),
        // "*" matches a leading dot.
        ("*", ".hidden", true), (".*", "a/.b", true), (".*", "a.b", false),
        // A directory that matches excludes everything beneath it.
        (".*", ".~tmp~/deep/index.html", true), ("node_modules", "a/node_modules/x/y.js", true),
        // A pattern with "/" matches the whole relative path.
        ("drafts/**", "drafts/a.html", true), ("drafts/**", "drafts/a/b.html", true),
        ("drafts/**", "x/drafts/a.html", false),
        ("a/*/c", "a/b/c", true), ("a/*/c", "a/b/x/c", false),
        ("a/**/c", "a/c", true), ("a/**/c", "a/b/c", true), ("a/**/c", "a/b/d/c", true),
        ("**/*.map", "a.map", true), ("**/*.map", "x/y/a.map", true), ("**/*.map", "x/y/a.mapx", false),
        ("**/.*", ".env", true), ("**/.*", "a/b/.env", true),
        // A leading "/" anchors to the root.
        ("/top.html", "top.html", true), ("/top.html", "a/top.html", false),
        // "?" and classes match one byte, never "/".
        ("?.html", "a.html", true), ("?.html", "ab.html", false), ("a?b", "a/b", false),
        ("[abc].txt", "b.txt", true), ("[abc].txt", "d.txt", false), ("[!abc].txt", "d.txt", true),
        ("[a-c]x", "bx", true), ("[a-c]x", "dx", false),
        ("*", "a/b", true),  // name pattern: matches "a", which excludes "a/b"
    ])
    func matching(pattern: String, path: String, expected: Bool) {
        #expect(Self.excluded(pattern, path) == expected, "\(pattern) vs \(path)")
    }

    @Test func trailingSlashMatchesDirectoriesOnly() {
        #expect(Self.excluded("build/", "build/out.js"))
        #expect(Self.excluded("build/", "a/build/out.js"))
        #expect(Self.excluded("build/", "build", directory: true))
        #expect(!Self.excluded("build/", "build"))
    }

    @Test func rawBytesMatch() {
        let glob = ExcludeGlob("caf*")!
        #expect(glob.excludes(RelativePath(bytes: Array("caf".utf8) + [0xE9, 0x80]), isDirectory: false))
    }

    @Test func longPathsAreLinear() {
        let path = String(repeating: "a/", count: 2_000) + "z.tmp"
        #expect(Self.excluded("**/*.tmp", path))
        #expect(!Self.excluded("**/*.html", path))
    }

    @Test func invalidPatternsAreRejected() {
        #expect(ExcludeGlob("") == nil)
        #expect(ExcludeGlob("/") == nil)
        #expect(ExcludeGlob("[abc") == nil)
    }
}
