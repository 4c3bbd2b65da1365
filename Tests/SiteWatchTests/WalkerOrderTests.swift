import Foundation
import Glibc
import PurgeCore
import Testing

@testable import SiteWatch

/// The walker reports files in the byte order of their paths — the manifest's (SQLite BLOB)
/// order, which the detector merges against without sorting (issue 12). The oracle is
/// `find -printf '%P\0' | LC_ALL=C sort -z`, which orders whole paths byte by byte.
@Suite struct WalkerOrderTests {
    /// Names chosen where per-directory order and path order could disagree: "blog" (a
    /// directory) against "blog.html", "blog-x" and "blog0" ('-' < '.' < '/' < '0'), upper
    /// case, spaces, non-UTF-8 bytes, and a directory whose name is a prefix of a file's.
    static let tree: [(path: [UInt8], isDirectory: Bool)] = {
        var nodes: [(path: [UInt8], isDirectory: Bool)] = []
        func file(_ path: String) { nodes.append((Array(path.utf8), false)) }
        func directory(_ path: String) { nodes.append((Array(path.utf8), true)) }
        for directoryName in ["blog", "a", "a/b", "a.b", "a-b", "a0", "A", "x y"] { directory(directoryName) }
        for name in [
            "blog.html", "blog-x", "blog0", "blog/index.html", "blog/a.html", "blog/a", "bloga", "a.html", "a/b/c.html",
            "a/b.html", "a/b-c", "a/b0", "a.b/c", "a-b/c", "a0/c", "A/Z", "x y/z z.html", "z", "Z", "~tilde", "ÿ.html",
        ] {
            file(name)
        }
        nodes.append(([0x62, 0x6C, 0x6F, 0x67, 0x2F, 0xFF, 0xFE], false))  // blog/\xFF\xFE
        nodes.append(([0x80, 0x2E, 0x68], false))  // \x80.h at the root
        return nodes
    }()

    func makeTree(in scratch: Scratch) {
        for node in Self.tree {
            let full = join(scratch.path, node.path)
            if node.isDirectory {
                makeDirectories(full)
            } else {
                makeDirectories(Array(full[..<full.lastIndex(of: 0x2F)!]))
                writeFile(full, "x")
            }
        }
    }

    /// The oracle's order: every regular file, sorted by `sort -z` in the C locale.
    func oracleOrder(_ root: String) throws -> [[UInt8]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "cd '\(root)' && find . -type f -printf '%P\\0' | LC_ALL=C sort -z"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return Array(data).split(separator: 0, omittingEmptySubsequences: true).map(Array.init)
    }

    @Test func filesComeInThePathOrderOfSortInTheCLocale() throws {
        let scratch = Scratch("walk-order")
        makeTree(in: scratch)
        let walked = try Walker().files(under: scratch.path).map(\.path.bytes)
        let expected = try oracleOrder(scratch.path)
        #expect(expected.count == Self.tree.filter { !$0.isDirectory }.count)
        #expect(walked == expected, "walk: \(walked.map { RelativePath($0).description })")
        // The oracle is byte order of whole paths ("blog-x" < "blog.html" < "blog/a" < "blog0"),
        // not the order of a directory's names followed by its subdirectories.
        #expect(expected == expected.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(expected.firstIndex(of: Array("blog.html".utf8))! < expected.firstIndex(of: Array("blog/a".utf8))!)
        #expect(expected.firstIndex(of: Array("blog/index.html".utf8))! < expected.firstIndex(of: Array("blog0".utf8))!)
    }

    @Test func orderHoldsOnARandomTreeAndUnderExclusion() throws {
        let scratch = Scratch("walk-order-random")
        var generator = SeededGenerator(seed: 0x5741_4C4B)
        let alphabet: [UInt8] = Array("ab-./0~Z".utf8).filter { $0 != 0x2F }
        var directories: [[UInt8]] = [[]]
        for _ in 0..<400 {
            let parent = directories[Int(generator.next() % UInt64(directories.count))]
            let length = 1 + Int(generator.next() % 4)
            var name = (0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] }
            if name == [0x2E] || name == [0x2E, 0x2E] { name = [0x71] }
            let path = parent.isEmpty ? name : parent + [0x2F] + name
            let full = join(scratch.path, path)
            if generator.next() % 4 == 0 {
                if FileSystem.withCString(full, { mkdir($0, 0o755) }) == 0 { directories.append(path) }
            } else {
                let fd = FileSystem.withCString(full) { open($0, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
                if fd >= 0 { close(fd) }
            }
        }
        let walked = try Walker().files(under: scratch.path).map(\.path.bytes)
        #expect(walked.count > 200)
        #expect(walked == (try oracleOrder(scratch.path)))
        // With exclusions (a name pattern of each fast shape and one the NFA decides), the walk
        // is the oracle's list minus what the path rule excludes, still in order.
        let patterns = [".*", "*~", "a", "b-*", "?0", "[ab]Z"]
        let rule = ExclusionRule(patterns: patterns)
        let excluded = try Walker(exclude: rule).files(under: scratch.path).map(\.path.bytes)
        let expected = try oracleOrder(scratch.path).filter { !rule.set.excludes(RelativePath($0), isDirectory: false) }
        #expect(excluded.count < walked.count)
        #expect(excluded == expected)
    }

    @Test func aDirectoriesOnlyWalkListsTheSameDirectoriesAndStatsNoFile() throws {
        let scratch = Scratch("walk-dirs")
        makeTree(in: scratch)
        let rule = ExclusionRule(patterns: ["x y/", "*.html"])
        let fd = open(scratch.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        var withFiles: Set<RelativePath> = []
        var files = 0
        Walker(exclude: rule).walk(
            directory: fd, path: .root,
            Walker.Visitor(willList: { path, _ in withFiles.insert(path) }, file: { _ in files += 1 }))
        var directoriesOnly: Set<RelativePath> = []
        Walker(exclude: rule).walk(directory: fd, path: .root, Walker.Visitor(willList: { path, _ in directoriesOnly.insert(path) }))
        #expect(files > 0)
        #expect(withFiles == directoriesOnly)
        #expect(directoriesOnly.contains(RelativePath("a/b")))
        #expect(!directoriesOnly.contains(RelativePath("x y")), "an excluded directory is not listed")
    }
}

/// SplitMix64: the same tree on every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
