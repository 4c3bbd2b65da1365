import Testing

@testable import PurgeCore

/// SPEC §4's exclude rules, bullet by bullet: for each, paths that must match and paths that
/// must *not* (the first release matched `**/.*` against every file).
@Suite struct ExcludeGlobTests {
    static func excluded(_ pattern: String, _ path: String, directory: Bool = false) -> Bool {
        ExcludeGlob(pattern)!.excludes(RelativePath(path), isDirectory: directory)
    }

    @Test(arguments: [
        // A pattern without "/" matches the file name at any depth (`*.tmp`)...
        ("*.tmp", "a.tmp", true), ("*.tmp", "x/y/a.tmp", true),
        // ... and only the whole name.
        ("*.tmp", "a.tmpx", false), ("*.tmp", "a.tmp.html", false), ("tmp", "a/xtmp", false),
        ("*.tmp", "a.tmp/x.html", true),  // a directory named *.tmp
        // A pattern with "/" matches the whole relative path (`drafts/**`)...
        ("drafts/**", "drafts/a.html", true), ("drafts/**", "drafts/a/b.html", true),
        // ... not a part of it, and not the directory's name elsewhere.
        ("drafts/**", "x/drafts/a.html", false), ("drafts/**", "drafts.html", false),
        ("drafts/**", "draftsx/a.html", false), ("a/b", "x/a/b", false), ("a/b", "a/bc", false),
        // A leading "/" anchors to the root.
        ("/top.html", "top.html", true), ("/top.html", "a/top.html", false), ("/a*", "b/ab", false),
        // "*" and "?" never cross "/".
        ("a/*/c", "a/b/c", true), ("a/*/c", "a/b/x/c", false), ("a*", "b/a/x", true),
        ("a/*", "a/b/c", true),  // matches a/b, which excludes what is beneath it
        ("?.html", "a.html", true), ("?.html", "ab.html", false), ("a/?", "a/b/c", true),
        ("x/a?b", "x/a/b", false), ("x/a*b", "x/a/b", false),
        // "**" crosses "/".
        ("x/**", "x/a/b/c", true), ("x/a**b", "x/a/q/b", true),
        // "**/" stands for zero or more whole directories.
        ("**/.*", ".env", true), ("**/.*", "a/.env", true), ("**/.*", "a/b/.env", true),
        ("**/.*", "a.html", false), ("**/.*", "sub/index.html", false), ("**/.*", "a/b.c/d.html", false),
        ("**/*.tmp", "a.tmp", true), ("**/*.tmp", "x/y/a.tmp", true), ("**/*.tmp", "a.html", false),
        ("**/*.tmp", "x/a.tmpl", false), ("**/*~", "a~", true), ("**/*~", "d/a~", true),
        ("**/*~", "a.html", false), ("**/*~", "a~b/c.html", false),
        ("**/x.html", "x.html", true), ("**/x.html", "d/x.html", true), ("**/x.html", "ax.html", false),
        ("**/x.html", "d/ax.html", false),
        ("a/**/c", "a/c", true), ("a/**/c", "a/x/c", true), ("a/**/c", "a/x/y/c", true),
        ("a/**/c", "a/bc", false), ("a/**/c", "a/x/bc", false), ("a/**/c", "ab/c", false),
        ("a/**/c", "x/a/c", false),
        ("**/b/**", "b/x", true), ("**/b/**", "a/b/x", true), ("**/b/**", "ab/x", false),
        // "*" matches a leading dot.
        ("*", ".hidden", true), ("*.html", ".html", true), (".*", "a/.b", true), (".*", "a.b", false),
        // A pattern that matches a directory excludes everything beneath it.
        (".*", ".well-known/x/y.html", true), ("node_modules", "a/node_modules/x/y.js", true),
        ("**/.*", ".git/objects/ab", true), ("**/.*", "a/.git/HEAD", true),
        ("node_modules", "a/node_modulesx/y.js", false),
        // Classes match one byte, never "/".
        ("[abc].txt", "b.txt", true), ("[abc].txt", "d.txt", false), ("[!abc].txt", "d.txt", true),
        ("[!abc].txt", "a.txt", false), ("[a-c]x", "bx", true), ("[a-c]x", "dx", false),
        ("x/a[!b]c", "x/a/c", false), ("x/a[/]c", "x/a/c", false),
        // Classes as gitignore reads them: `\` escapes inside, `]` first is a member, a reversed
        // range holds its first byte.
        ("x[\\]a]", "x]", true), ("x[\\]a]", "xa", true), ("x[\\]a]", "x\\", false), ("[]a]", "]", true),
        ("[b-a]", "b", true), ("[b-a]", "a", false), ("[a-]", "-", true),
        // Escapes.
        ("\\*.html", "*.html", true), ("\\*.html", "a.html", false),
    ])
    func specBullets(pattern: String, path: String, expected: Bool) {
        #expect(Self.excluded(pattern, path) == expected, "\(pattern) vs \(path)")
    }

    /// SPEC §3's example list, verbatim: dotfiles, dot-directories, temp and backup files are
    /// excluded; ordinary pages are not.
    @Test(arguments: [
        (".env", true), ("a/.env", true), (".git/config", true), ("blog/.drafts/x.html", true),
        ("a.tmp", true), ("x/y/a.tmp", true), ("index.html~", true), ("x/index.html~", true),
        ("a.html", false), ("sub/index.html", false), ("index.html", false), ("assets/app.9f3a.js", false),
        ("a.b/c.html", false), ("tmp/x.html", false), ("x~y/z.html", false),
    ])
    func specExampleList(path: String, expected: Bool) {
        let set = ExcludeSet(patterns: ["**/.*", "**/*.tmp", "**/*~"])
        #expect(set.excludes(RelativePath(path), isDirectory: false) == expected, "\(path)")
    }

    @Test func trailingSlashMatchesDirectoriesOnly() {
        #expect(Self.excluded("build/", "build/out.js"))
        #expect(Self.excluded("build/", "a/build/out.js"))
        #expect(Self.excluded("build/", "build", directory: true))
        #expect(!Self.excluded("build/", "build"))
        #expect(!Self.excluded("a/build/", "a/build"))
        #expect(Self.excluded("a/build/", "a/build", directory: true))
    }

    @Test func rawBytesMatch() {
        let glob = ExcludeGlob("caf*")!
        #expect(glob.excludes(RelativePath(bytes: Array("caf".utf8) + [0xE9, 0x80]), isDirectory: false))
        #expect(!glob.excludes(RelativePath(bytes: Array("ca".utf8) + [0xE9]), isDirectory: false))
    }

    @Test func longPathsMatch() {
        let path = String(repeating: "a/", count: 2_000) + "z.tmp"
        #expect(Self.excluded("**/*.tmp", path))
        #expect(!Self.excluded("**/*.html", path))
        #expect(Self.excluded("a/**/a/**/z.*", path))
    }

    @Test func invalidPatternsAreRejected() {
        #expect(ExcludeGlob("") == nil)
        #expect(ExcludeGlob("/") == nil)
        #expect(ExcludeGlob("[abc") == nil)
        #expect(ExcludeGlob(String(repeating: "a", count: ExcludeGlob.maximumStates + 1)) == nil)
        #expect(ExcludeGlob(String(repeating: "a", count: ExcludeGlob.maximumStates)) != nil)
    }

    /// The walker's per-directory cursor gives the same answers as matching whole paths.
    @Test func cursorAgreesWithWholePathMatching() {
        let patterns = ["**/.*", "*.tmp", "a/**/c", "/x*", "b/", "x/a*b/**", "**/q/*.html", "[ab]/?"]
        let set = ExcludeSet(patterns: patterns)
        let paths = [
            "a/c", "a/b/c", "a/bc", ".env", "x/.env", "x1/y", "y/x1", "b/z", "q/b/z", "z/q/a.html", "q/a.html",
            "x/ab/c/d", "x/axb/c", "a/z", "c/d.tmp", "a/q", "b", "a/b",
        ]
        for path in paths {
            let components = RelativePath(path).components
            var cursor = set.rootCursor
            var viaCursor = false
            for (index, name) in components.enumerated() {
                let isLast = index == components.count - 1
                if set.excludes(name: name, isDirectory: !isLast, in: cursor) {
                    viaCursor = true
                    break
                }
                cursor = set.descend(into: name, from: cursor)
            }
            #expect(viaCursor == set.excludes(RelativePath(path), isDirectory: false), "\(path)")
        }
    }

    /// The name shapes decided without the NFA give the NFA's answer, matches and must-nots alike;
    /// patterns the NFA must decide have no shape.
    @Test(arguments: ["*.t?p", "[ab]*", "a*b", "a\\*", "*a*", "**/x"])
    func patternsBeyondTheShapesHaveNone(pattern: String) {
        let glob = ExcludeGlob(pattern)!
        #expect(glob.nameShape == nil || pattern == "a\\*", "\(pattern)")
    }

    /// The name shapes decided without the NFA give the NFA's answer, matches and must-nots alike.
    @Test(arguments: [
        ("*.tmp", ["a.tmp", ".tmp", "x.y.tmp"], ["a.tmpx", "atmp", "tmp", "a.tm"]),
        (".*", [".env", ".", ".a.b"], ["a.", "env", "a.env"]),
        ("*~", ["page.html~", "~"], ["page.html", "~a"]),
        (".DS_Store", [".DS_Store"], [".DS_Storex", "x.DS_Store", ".ds_store"]),
        ("*", ["a", "anything.at.all"], []),
        ("**", ["a"], []),
        ("a**", ["a", "ab"], ["ba"]),
        ("**b", ["b", "ab"], ["ba"]),
    ])
    func nameShapesAgreeWithTheNFA(pattern: String, matching: [String], notMatching: [String]) {
        #expect(ExcludeGlob(pattern)!.nameShape != nil, "\(pattern) has a shape: the fast path is what is tested")
        let set = ExcludeSet(patterns: [pattern])
        for (names, expected) in [(matching, true), (notMatching, false)] {
            for name in names {
                let byShape = set.excludes(name: Array(name.utf8), isDirectory: false, in: set.rootCursor)
                let byNFA = ExcludeGlob(pattern)!.matches(Array(name.utf8))
                #expect(byShape == expected, "\(pattern) vs \(name)")
                #expect(byNFA == expected, "\(pattern) vs \(name) (NFA)")
            }
        }
    }
}
