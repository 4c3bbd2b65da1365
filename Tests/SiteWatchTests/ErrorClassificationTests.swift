import Foundation
import Glibc
import PurgeCore
import StateStore
import Testing

@testable import SiteWatch

/// Issue 22: an open or stat that fails is judged by its errno, never guessed. ENOENT/ENOTDIR:
/// gone; EACCES/EPERM and anything unlisted: unreadable, its rows kept; EMFILE, ENFILE, ENOMEM,
/// EINTR, EAGAIN, EIO: on a file, that file is deferred (not judged, its row untouched, compared
/// again later) while the rest stands; on a directory or the root, the whole detection fails
/// (`transient`) and writes no change.
///
/// The failures are injected by name (``FileSystem/Faults``, compiled into debug builds only), so
/// every name here carries a tag no other test uses.
@Suite struct ErrorClassificationTests {
    enum Expected: Sendable, CustomStringConvertible {
        case transient, unreadable, gone
        /// The file alone is not judged (kept for later); the rest of the comparison stands.
        case deferred
        var description: String {
            switch self {
            case .transient: "transient"
            case .deferred: "deferred"
            case .unreadable: "unreadable"
            case .gone: "gone"
            }
        }
    }

    static let table: [(Int32, Expected)] = [
        (ENOENT, .gone), (ENOTDIR, .gone),
        (EACCES, .unreadable), (EPERM, .unreadable), (EOVERFLOW, .unreadable), (ENXIO, .unreadable),
        (EMFILE, .transient), (ENFILE, .transient), (ENOMEM, .transient), (EINTR, .transient),
        (EAGAIN, .transient), (EIO, .transient),
    ]

    final class Site: @unchecked Sendable {
        let scratch = Scratch("errors")
        let tag = "t\(UInt64.random(in: 0...UInt64.max))"
        let root: String
        let db: StateDatabase
        let detector: Detector
        var injected: [String] = []

        init(pages: Int = 3) async throws {
            root = scratch.path + "/site-\(tag)"
            makeDirectories(root + "/dir-\(tag)")
            for index in 0..<pages { writeFile(root, "page\(index)-\(tag).html", "v1 \(index)") }
            writeFile(root, "dir-\(tag)/inner-\(tag).html", "inner")
            db = try StateDatabase.open(path: scratch.path + "/state.sqlite")
            detector = Detector(root: root, exclude: testExclusion)
            try await detector.commit(try await detector.detect(.full, in: db), in: db)
        }

        deinit { for name in injected { FileSystem.Faults.remove(name: name) } }

        func page(_ index: Int) -> RelativePath { RelativePath("page\(index)-\(tag).html") }
        var directory: RelativePath { RelativePath("dir-\(tag)") }
        var inner: RelativePath { RelativePath("dir-\(tag)/inner-\(tag).html") }

        func inject(_ code: Int32, _ name: String, on operations: [FileSystem.Faults.Operation] = [.open, .stat]) {
            injected.append(name)
            FileSystem.Faults.inject(code, forName: name, on: operations)
        }

        func heal() {
            for name in injected { FileSystem.Faults.remove(name: name) }
            injected = []
        }

        func rows() throws -> [RelativePath: ManifestEntry] {
            var rows: [RelativePath: ManifestEntry] = [:]
            try db.read { tx in try tx.forEachManifestEntry(atOrUnder: []) { rows[RelativePath($0.path)] = $0 } }
            return rows
        }

        /// Detects `scope` and commits what it found, or returns the error it threw.
        func detect(_ scope: DetectionScope) async throws -> Result<Detection, SiteWatchError> {
            do {
                let detection = try await detector.detect(scope, in: db)
                try await detector.commit(detection, in: db)
                return .success(detection)
            } catch let error as SiteWatchError {
                return .failure(error)
            }
        }
    }

    /// Checks one judgment: thrown and nothing written; or kept and reported; or deleted.
    func check(
        _ result: Result<Detection, SiteWatchError>, code: Int32, expected: Expected, path: RelativePath,
        rowsBefore: [RelativePath: ManifestEntry], rowsAfter: [RelativePath: ManifestEntry],
        reported: RelativePath? = nil
    ) {
        switch (expected, result) {
        case (.transient, .failure(let error)):
            #expect(error.code == .transient)
            #expect(error.errno == code)
            #expect(rowsAfter == rowsBefore, "a failed detection wrote the manifest")
        case (.deferred, .success(let detection)):
            #expect(detection.deferred == [path], "\(detection.deferred)")
            #expect(detection.deferredError?.code == .transient && detection.deferredError?.errno == code)
            #expect(!detection.changes.contains { $0.path == path }, "\(detection.changes)")
            #expect(rowsAfter[path] == rowsBefore[path], "a deferred file's row changed")
        case (.unreadable, .success(let detection)):
            #expect(detection.changes.isEmpty, "\(detection.changes)")
            let reported = reported ?? path
            #expect(detection.unreadable == [reported])
            #expect(detection.unreadableErrnos[reported] == code)
            #expect(rowsAfter[path] == rowsBefore[path], "an unreadable path's row changed")
        case (.gone, .success(let detection)):
            #expect(detection.changes.contains(Change(path: path, kind: .deleted)), "\(detection.changes)")
            #expect(rowsAfter[path] == nil)
        default:
            Issue.record("errno \(code): expected \(expected), got \(result)")
        }
    }

    /// The bug of issue 22: under EMFILE, 50 modified files were reported deleted. Now none is
    /// judged: each is deferred (kept for the next comparison), and nothing is written for them.
    @Test func emfileOpeningModifiedFilesDefersThemAndWritesNothing() async throws {
        let site = try await Site(pages: 50)
        for index in 0..<50 { writeFile(site.root, site.page(index).description, "version two \(index)") }
        let before = try site.rows()
        // EMFILE fails what takes a descriptor (open), not a stat.
        for index in 0..<50 { site.inject(EMFILE, site.page(index).description, on: [.open]) }
        let touched = Set((0..<50).map(site.page))
        for scope in [DetectionScope.paths(touched), .full] {
            let result = try await site.detect(scope)
            guard case .success(let detection) = result, let error = detection.deferredError else {
                Issue.record("\(scope): expected the files deferred, got \(result)")
                continue
            }
            #expect(Set(detection.deferred) == touched)
            #expect(detection.changes.isEmpty, "nothing judged: \(detection.changes)")
            #expect(error.code == .transient && error.errno == EMFILE)
            #expect(error.message.contains("EMFILE") && error.message.contains("LimitNOFILE"), "\(error.message)")
            let after = try site.rows()
            #expect(touched.allSatisfy { after[$0] == before[$0] }, "no deferred file deleted or acknowledged")
            #expect(after.count == before.count, "nothing deleted")
        }
        // The descriptors are back: the same detection reports what changed, and only that.
        site.heal()
        let result = try await site.detect(.paths(touched))
        let detection = try result.get()
        #expect(Set(detection.changes) == Set((0..<50).map { Change(path: site.page($0), kind: .modified) }))
        #expect(try site.rows().count == before.count)
    }

    @Test(arguments: table)
    func openingAFileIsJudgedByItsErrno(code: Int32, expected: Expected) async throws {
        let site = try await Site()
        writeFile(site.root, site.page(0).description, "changed")
        let before = try site.rows()
        site.inject(code, site.page(0).description, on: [.open])  // the content hasher's open
        let result = try await site.detect(.paths([site.page(0)]))
        check(
            result, code: code, expected: expected == .transient ? .deferred : expected, path: site.page(0), rowsBefore: before,
            rowsAfter: try site.rows())
    }

    @Test(arguments: table)
    func openingADirectoryInAWalkIsJudgedByItsErrno(code: Int32, expected: Expected) async throws {
        let site = try await Site()
        writeFile(site.root, site.inner.description, "changed")
        let before = try site.rows()
        site.inject(code, site.directory.description, on: [.open])
        let result = try await site.detect(.full)
        check(
            result, code: code, expected: expected, path: site.inner, rowsBefore: before, rowsAfter: try site.rows(),
            reported: site.directory)
    }

    @Test(arguments: table)
    func openingATouchedPathsParentIsJudgedByItsErrno(code: Int32, expected: Expected) async throws {
        let site = try await Site()
        writeFile(site.root, site.inner.description, "changed")
        let before = try site.rows()
        site.inject(code, site.directory.description, on: [.open])
        let result = try await site.detect(.paths([site.inner]))
        check(result, code: code, expected: expected, path: site.inner, rowsBefore: before, rowsAfter: try site.rows())
    }

    @Test(arguments: table)
    func statingAnEntryInAWalkIsJudgedByItsErrno(code: Int32, expected: Expected) async throws {
        let site = try await Site()
        let before = try site.rows()
        site.inject(code, site.page(1).description, on: [.stat])
        let result = try await site.detect(.full)
        // An entry that cannot be stat'ed for a reason that does not pass makes its directory
        // (here the root) unreadable: nothing under it is judged deleted.
        check(
            result, code: code, expected: expected, path: site.page(1), rowsBefore: before, rowsAfter: try site.rows(),
            reported: .root)
    }

    @Test(arguments: [(ENOENT, SiteWatchError.Code.rootUnavailable), (EACCES, .rootUnavailable), (EMFILE, .transient), (EIO, .transient)])
    func openingTheRootIsJudgedByItsErrno(code: Int32, expectedCode: SiteWatchError.Code) async throws {
        let site = try await Site()
        let before = try site.rows()
        site.inject(code, "site-\(site.tag)")
        for scope in [DetectionScope.full, .paths([site.page(0)])] {
            let result = try await site.detect(scope)
            guard case .failure(let error) = result else {
                Issue.record("expected \(expectedCode), got \(result)")
                continue
            }
            #expect(error.code == expectedCode)
            #expect(error.errno == code)
        }
        #expect(try site.rows() == before)
        #expect(throws: SiteWatchError.self) { _ = try Walker(exclude: testExclusion).files(under: site.root) }
    }

    @Test func theWalkersFileListFailsRatherThanLeaveFilesOut() async throws {
        let site = try await Site()
        let walker = Walker(exclude: testExclusion)
        #expect(try walker.files(under: site.root).count == 4)
        site.inject(EMFILE, site.directory.description)
        let error = #expect(throws: SiteWatchError.self) { _ = try walker.files(under: site.root) }
        #expect(error?.code == .transient)
        site.heal()
        site.inject(EACCES, site.directory.description)
        #expect(try walker.files(under: site.root).count == 3)  // unreadable: left out, not fatal
    }

    @Test func theFaultSeamMatchesOnlyTheLastComponent() {
        FileSystem.Faults.inject(EMFILE, forName: "seam-probe-only")
        defer { FileSystem.Faults.remove(name: "seam-probe-only") }
        #expect(FileSystem.Faults.code(for: Array("a/b/seam-probe-only".utf8)) == EMFILE)
        #expect(FileSystem.Faults.code(for: Array("a/b/seam-probe-only".utf8), .stat) == EMFILE)
        #expect(FileSystem.Faults.code(for: Array("seam-probe-only/b".utf8)) == nil)
        #expect(FileSystem.classify(EMFILE) == .transient(EMFILE))
        #expect(FileSystem.classify(ENOENT) == .gone)
        #expect(FileSystem.classify(EACCES) == .unreadable(EACCES))
    }
}
