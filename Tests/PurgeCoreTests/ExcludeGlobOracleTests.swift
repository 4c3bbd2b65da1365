import Foundation
import PurgeCore
import Testing

/// A seeded differential test of the exclude matcher against an independent implementation:
/// `git check-ignore --no-index` on a scratch repository.
///
/// gitignore's rules coincide with SPEC §4 where `**` appears only as a whole path segment
/// (`**/` at the start, `/**/`, `/**` at the end, or alone), so the generator writes `**` only
/// there and never two `*` side by side inside a segment (git reads `a**` as `a*`, SPEC as
/// crossing `/`; docs/ARCHITECTURE.md lists the differences). Each pattern gets its own
/// directory `tNNNN/` with a one-line `.gitignore` and a small tree of files and directories;
/// every path of the tree is asked, and git's answer is closed over ancestors (an ignored
/// directory excludes everything beneath it, as SPEC §4 says).
@Suite struct ExcludeGlobOracleTests {
    static let gitPath: String? = {
        for directory in ["/usr/bin", "/usr/local/bin", "/bin"] {
            let path = directory + "/git"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()

    /// SplitMix64: a fixed seed gives the same cases on every machine.
    struct Generator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
        mutating func chance(_ percent: Int) -> Bool { below(100) < percent }
    }

    static func pattern(_ random: inout Generator) -> String {
        let atoms = ["a", "b", ".", "*", "?", "[ab]", "[!a]", "[a-b]", "[]a]", "[b-a]"]
        var segments: [String] = []
        for _ in 0..<(1 + random.below(3)) {
            if random.chance(20) {
                segments.append("**")
                continue
            }
            var segment = ""
            var previousWasStar = false
            for _ in 0..<(1 + random.below(3)) {
                var atom = atoms[random.below(atoms.count)]
                if atom == "*" && previousWasStar { atom = "a" }
                previousWasStar = atom == "*"
                segment += atom
            }
            segments.append(segment)
        }
        var pattern = segments.joined(separator: "/")
        if random.chance(20) { pattern = "/" + pattern }
        if random.chance(15) { pattern += "/" }
        return pattern
    }

    static func name(_ random: inout Generator) -> String {
        while true {
            let letters = ["a", "b", "."]
            let name = (0..<(1 + random.below(3))).map { _ in letters[random.below(3)] }.joined()
            if name != "." && name != ".." { return name }
        }
    }

    struct Case {
        var pattern: String
        /// Every path of the tree, with whether it is a directory.
        var nodes: [(path: String, isDirectory: Bool)]
    }

    static func cases(count: Int, seed: UInt64) -> [Case] {
        var random = Generator(state: seed)
        return (0..<count).map { _ in
            let pattern = pattern(&random)
            var leaves: [String] = []
            for _ in 0..<(3 + random.below(4)) {
                leaves.append((0..<(1 + random.below(4))).map { _ in name(&random) }.joined(separator: "/"))
            }
            var directories = Set<String>()
            var all = Set<String>()
            for leaf in leaves {
                let parts = leaf.split(separator: "/").map(String.init)
                for end in 1...parts.count {
                    let prefix = parts[0..<end].joined(separator: "/")
                    all.insert(prefix)
                    if end < parts.count { directories.insert(prefix) }
                }
            }
            for path in all where !directories.contains(path) && random.chance(20) { directories.insert(path) }
            return Case(pattern: pattern, nodes: all.sorted().map { ($0, directories.contains($0)) })
        }
    }

    @Test(.enabled(if: gitPath != nil, "git is not installed: the gitignore oracle cannot run"))
    func agreesWithGitCheckIgnore() throws {
        let git = try #require(Self.gitPath)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "purgewatch-glob-oracle-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }

        let cases = Self.cases(count: 900, seed: 0x5045_5247_4557_4154)
        var queries: [String] = []
        for (index, testCase) in cases.enumerated() {
            let directory = scratch.appendingPathComponent(String(format: "t%04d", index))
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data((testCase.pattern + "\n").utf8).write(to: directory.appendingPathComponent(".gitignore"))
            for node in testCase.nodes {
                let url = directory.appendingPathComponent(node.path)
                if node.isDirectory {
                    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
                } else {
                    try FileManager.default.createDirectory(
                        at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try Data().write(to: url)
                }
                queries.append(String(format: "t%04d/", index) + node.path)
            }
        }
        #expect(queries.count >= 5_000, "the oracle must compare at least 5,000 pairs")

        let environment = [
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": scratch.path, "PATH": "/usr/bin:/bin",
        ]
        _ = try Self.run(git, ["init", "-q", scratch.path], environment: environment)
        let output = try Self.run(
            git, ["-C", scratch.path, "-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", "--stdin"],
            environment: environment, input: queries.joined(separator: "\n") + "\n", allowedStatuses: [0, 1])
        let ignoredByGit = Set(output.split(separator: "\n").map(String.init))

        var disagreements: [String] = []
        var compared = 0
        for (index, testCase) in cases.enumerated() {
            let glob = try #require(ExcludeGlob(testCase.pattern), "\(testCase.pattern)")
            let prefix = String(format: "t%04d/", index)
            for node in testCase.nodes {
                compared += 1
                let parts = node.path.split(separator: "/")
                let gitSays = (1...parts.count).contains { end in
                    ignoredByGit.contains(prefix + parts[0..<end].joined(separator: "/"))
                }
                let weSay = glob.excludes(RelativePath(node.path), isDirectory: node.isDirectory)
                if gitSays != weSay {
                    disagreements.append(
                        "\(testCase.pattern) vs \(node.path)\(node.isDirectory ? "/" : ""): git \(gitSays), purgewatch \(weSay)")
                }
                // What a walk asks: the parent's cursor, then the entry's name alone (name
                // patterns of a common shape skip the NFA there).
                let set = ExcludeSet([glob])
                let path = RelativePath(node.path)
                let walkSays =
                    set.cursor(at: path.parent ?? .root).map {
                        set.excludes(name: path.name, isDirectory: node.isDirectory, in: $0)
                    } ?? true
                if gitSays != walkSays {
                    disagreements.append(
                        "\(testCase.pattern) vs \(node.path)\(node.isDirectory ? "/" : "") by cursor: git \(gitSays), walk \(walkSays)")
                }
            }
        }
        #expect(compared >= 5_000)
        #expect(disagreements.isEmpty, "\(disagreements.count) of \(compared) differ:\n\(disagreements.prefix(40).joined(separator: "\n"))")
    }

    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String], input: String? = nil,
        allowedStatuses: Set<Int32> = [0]
    ) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let stdout = Pipe()
        let stdin = Pipe()
        process.standardOutput = stdout
        process.standardInput = stdin
        try process.run()
        let reader = Thread.detachNewThreadReading(stdout.fileHandleForReading)
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        let data = reader.wait()
        #expect(allowedStatuses.contains(process.terminationStatus), "\(executable) \(arguments) exited \(process.terminationStatus)")
        return String(decoding: data, as: UTF8.self)
    }
}

extension Thread {
    /// Reads a pipe to its end on a thread of its own (a full pipe would block the writer).
    final class PipeReader: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var data = Data()
        init(_ handle: FileHandle) {
            Thread.detachNewThread { [self] in
                data = handle.readDataToEndOfFile()
                done.signal()
            }
        }
        func wait() -> Data {
            done.wait()
            return data
        }
    }

    static func detachNewThreadReading(_ handle: FileHandle) -> PipeReader { PipeReader(handle) }
}
