import Foundation
import Glibc
import PurgeCore
import StateStore
import Testing

@testable import SiteWatch

/// SPEC §5, one bullet at a time, with real inotify in temporary directories. Serialized: one
/// suite owns the machine's inotify queue while the overflow test lowers its limit.
@Suite(.serialized) struct EndToEndTests {
    /// A small site: index.html, about.html, blog/{a,b}.html, assets/css/site.css.
    static func makeSite(_ harness: Harness) {
        harness.write("index.html", "<h1>home</h1>")
        harness.write("about.html", "about")
        makeDirectories(harness.root, "blog")
        harness.write("blog/a.html", "post a")
        harness.write("blog/b.html", "post b")
        makeDirectories(harness.root, "assets/css")
        harness.write("assets/css/site.css", "body{}")
    }

    @Test func baselineRecordsEverythingAndReportsNothing() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        let baseline = try await harness.start()
        #expect(baseline.isEmpty)
        #expect(try harness.manifestPaths().count == 5)
        #expect(try Detector.hasBaseline(in: harness.db))
        // Nothing happened since: nothing to report.
        #expect(try await harness.settle().isEmpty)
        await harness.stop()
    }

    @Test func inPlaceWriteIsModified() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        harness.write("blog/a.html", "post a, edited")
        #expect(try await harness.settle() == changes([("blog/a.html", .modified)]))
        #expect(!harness.lastScopeWasFull)
        await harness.stop()
    }

    @Test func writeToTempThenRenameIsModified() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        // A temp name that the exclusion does not hide: its creation and disappearance cancel out.
        harness.write("about.html.new123", "about v2")
        renamePath(join(harness.root, bytes("about.html.new123")), join(harness.root, bytes("about.html")))
        #expect(try await harness.settle() == changes([("about.html", .modified)]))
        await harness.stop()
    }

    @Test func vimStyleAtomicSaveIsModified() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        // vim with 'writebackup': rename the original to a backup, write a new file, drop the backup.
        renamePath(join(harness.root, bytes("index.html")), join(harness.root, bytes("index.html~")))
        harness.write("index.html", "<h1>home v2</h1>")
        removeFile(join(harness.root, bytes("index.html~")))
        // ... and once more keeping the backup (excluded by `*~`), plus the 4913 probe vim writes.
        harness.write("4913", "")
        removeFile(join(harness.root, bytes("4913")))
        renamePath(join(harness.root, bytes("about.html")), join(harness.root, bytes("about.html~")))
        harness.write("about.html", "about v2")
        #expect(try await harness.settle() == changes([("index.html", .modified), ("about.html", .modified)]))
        await harness.stop()
    }

    @Test func identicalFullRewriteReportsNothing() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        try await Task.sleep(for: .milliseconds(20))  // new mtimes
        // Every file rewritten with the same bytes: in place, by rename, and delete-and-recreate.
        harness.write("index.html", "<h1>home</h1>")
        harness.write("blog/a.html", "post a")
        harness.write("blog/b.html.tmp-x", "post b")
        renamePath(join(harness.root, bytes("blog/b.html.tmp-x")), join(harness.root, bytes("blog/b.html")))
        removeFile(join(harness.root, bytes("about.html")))
        harness.write("about.html", "about")
        shell("touch '\(harness.root)/assets/css/site.css'")
        #expect(try await harness.settle().isEmpty)
        // The manifest's stat data was refreshed: the next full check reads nothing.
        let again = try await harness.detector.detect(.full, in: harness.db)
        #expect(again.changes.isEmpty)
        await harness.stop()
    }

    @Test func deleteAndCreate() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        removeFile(join(harness.root, bytes("blog/b.html")))
        harness.write("blog/c.html", "post c")
        harness.write("new.html", "new")
        #expect(
            try await harness.settle()
                == changes([("blog/b.html", .deleted), ("blog/c.html", .created), ("new.html", .created)]))
        // Delete-and-recreate with other bytes is a modification.
        removeFile(join(harness.root, bytes("new.html")))
        harness.write("new.html", "newer")
        #expect(try await harness.settle() == changes([("new.html", .modified)]))
        await harness.stop()
    }

    @Test func mkdirPAndImmediateWritesFiveLevelsDeep() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        // Created and written before the watcher can have watched any of them.
        let status = shell(
            """
            cd '\(harness.root)' && mkdir -p l1/l2/l3/l4/l5 && echo 1 > l1/f1.html && echo 2 > l1/l2/f2.html \
            && echo 3 > l1/l2/l3/f3.html && echo 4 > l1/l2/l3/l4/f4.html && echo 5 > l1/l2/l3/l4/l5/f5.html
            """)
        #expect(status == 0)
        let expected = changes([
            ("l1/f1.html", .created), ("l1/l2/f2.html", .created), ("l1/l2/l3/f3.html", .created),
            ("l1/l2/l3/l4/f4.html", .created), ("l1/l2/l3/l4/l5/f5.html", .created),
        ])
        #expect(try await harness.settle() == expected)
        #expect(!harness.lastScopeWasFull)
        // Every new level is watched: a later write at the bottom is seen.
        harness.write("l1/l2/l3/l4/l5/f5.html", "5b")
        #expect(try await harness.settle() == changes([("l1/l2/l3/l4/l5/f5.html", .modified)]))
        // root, blog, assets, assets/css, l1…l5
        #expect(try await harness.eventually { harness.monitor?.status.watchCount == 9 })
        await harness.stop()
    }

    @Test func directoryMovedIn() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        try await harness.start()
        let outside = harness.scratch.path + "/incoming"
        makeDirectories(outside + "/sub/deeper")
        writeFile(outside, "x.html", "x")
        writeFile(outside, "sub/y.html", "y")
        writeFile(outside, "sub/deeper/z.html", "z")
        writeFile(outside, "sub/.hidden", "excluded")
        renamePath(Array(outside.utf8), join(harness.root, bytes("blog/incoming")))
        #expect(
            try await harness.settle()
                == changes([
                    ("blog/incoming/x.html", .created), ("blog/incoming/sub/y.html", .created),
                    ("blog/incoming/sub/deeper/z.html", .created),
                ]))
        harness.write("blog/incoming/sub/deeper/z.html", "z2")
        #expect(try await harness.settle() == changes([("blog/incoming/sub/deeper/z.html", .modified)]))
        await harness.stop()
    }

    @Test func directoryMovedOut() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        makeDirectories(harness.root, "blog/2019/old")
        harness.write("blog/2019/old/p.html", "p")
        try await harness.start()
        renamePath(join(harness.root, bytes("blog")), Array((harness.scratch.path + "/gone").utf8))
        #expect(
            try await harness.settle()
                == changes([
                    ("blog/a.html", .deleted), ("blog/b.html", .deleted), ("blog/2019/old/p.html", .deleted),
                ]))
        // Its watches were dropped: writes in the moved-out tree are not reported.
        writeFile(harness.scratch.path + "/gone", "a.html", "outside now")
        #expect(try await harness.settle().isEmpty)
        #expect(try await harness.eventually { harness.monitor?.status.watchCount == 3 })
        await harness.stop()
    }

    @Test func directoryMovedWithin() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        makeDirectories(harness.root, "blog/deep")
        harness.write("blog/deep/d.html", "d")
        try await harness.start()
        renamePath(join(harness.root, bytes("blog")), join(harness.root, bytes("posts")))
        #expect(
            try await harness.settle()
                == changes([
                    ("blog/a.html", .deleted), ("blog/b.html", .deleted), ("blog/deep/d.html", .deleted),
                    ("posts/a.html", .created), ("posts/b.html", .created), ("posts/deep/d.html", .created),
                ]))
        // The watches followed the rename: a write under the new name is reported under it.
        harness.write("posts/deep/d.html", "d2")
        #expect(try await harness.settle() == changes([("posts/deep/d.html", .modified)]))
        #expect(!harness.lastScopeWasFull)
        await harness.stop()
    }

    @Test func symlinkSwapRelease() async throws {
        let scratch = Scratch()
        let releases = scratch.path + "/releases"
        makeDirectories(releases + "/1/blog")
        writeFile(releases + "/1", "index.html", "home v1")
        writeFile(releases + "/1", "blog/a.html", "a")
        writeFile(releases + "/1", "blog/b.html", "b")
        writeFile(releases + "/1", "same.css", "same")
        symlinkPath(target: "releases/1", at: scratch.path + "/current")
        let harness = try Harness(scratch: scratch, root: scratch.path + "/current")
        try await harness.start()
        // Release 2: index changed, b removed, c added, same.css byte-identical (new inode and mtime).
        #expect(shell("cp -a '\(releases)/1' '\(releases)/2'") == 0)
        writeFile(releases + "/2", "index.html", "home v2")
        removeFile(Array((releases + "/2/blog/b.html").utf8))
        writeFile(releases + "/2", "blog/c.html", "c")
        writeFile(releases + "/2", "same.css", "same")
        #expect(shell("cd '\(scratch.path)' && ln -s releases/2 current.new && mv -T current.new current") == 0)
        #expect(
            try await harness.settle()
                == changes([
                    ("index.html", .modified), ("blog/b.html", .deleted), ("blog/c.html", .created),
                ]))
        #expect(harness.monitor?.status.resolvedRoot == releases + "/2")
        // Watches moved: the new tree reports, the old one does not.
        writeFile(releases + "/2", "blog/a.html", "a2")
        writeFile(releases + "/1", "index.html", "old release edited")
        #expect(try await harness.settle() == changes([("blog/a.html", .modified)]))
        #expect(!harness.lastScopeWasFull)
        await harness.stop()
    }

    @Test func oddNames() async throws {
        let harness = try Harness()
        try await harness.start()
        let latin1: [UInt8] = [0x63, 0x61, 0x66, 0xE9, 0x2E, 0x68, 0x74, 0x6D, 0x6C]  // "caf\xE9.html"
        var longPath: [UInt8] = []
        let letters = Array("abcdefghijklmnopqrs")
        for level in 0..<19 { longPath += Array(String(repeating: letters[level], count: 209).utf8) + [0x2F] }
        longPath += Array("end.html".utf8)
        #expect(longPath.count == 3_998)
        harness.write("with space.html", "1")
        harness.write("hash#tag.html", "2")
        harness.write("100%.html", "3")
        makeDirectories(harness.root, "中文")
        harness.write("中文/页面.html", "4")
        writeFile(join(harness.root, latin1), "5")
        makeDirectories(join(harness.root, Array(longPath.dropLast(9))))
        writeFile(join(harness.root, longPath), "6")
        let created = try await harness.settle()
        let expectedPaths: Set<RelativePath> = [
            "with space.html", "hash#tag.html", "100%.html", "中文/页面.html", RelativePath(latin1), RelativePath(longPath),
        ]
        #expect(created == Set(expectedPaths.map { Change(path: $0, kind: .created) }))
        #expect(RelativePath(latin1).description == "caf\\xE9.html")
        // Modify and delete them all.
        for path in expectedPaths { writeFile(join(harness.root, path.bytes), "changed") }
        #expect(try await harness.settle() == Set(expectedPaths.map { Change(path: $0, kind: .modified) }))
        for path in expectedPaths { removeFile(join(harness.root, path.bytes)) }
        #expect(try await harness.settle() == Set(expectedPaths.map { Change(path: $0, kind: .deleted) }))
        await harness.stop()
    }

    @Test func symlinksInsideTheTreeAreFilesWhoseContentIsTheTarget() async throws {
        let harness = try Harness()
        Self.makeSite(harness)
        let outside = harness.scratch.path + "/outside"
        makeDirectories(Array(outside.utf8))
        writeFile(outside, "secret.html", "not part of the site")
        try await harness.start()
        symlinkPath(target: "index.html", at: harness.root + "/latest.html")
        symlinkPath(target: outside, at: harness.root + "/escape")  // a directory link: not followed
        #expect(try await harness.settle() == changes([("latest.html", .created), ("escape", .created)]))
        // Retargeting a link is a modification; the content of what it points to is not looked at.
        #expect(shell("cd '\(harness.root)' && ln -sfn about.html latest.html") == 0)
        writeFile(outside, "secret.html", "still not part of the site")
        #expect(try await harness.settle() == changes([("latest.html", .modified)]))
        #expect(try !harness.manifestPaths().contains("escape/secret.html"))
        await harness.stop()
    }

    @Test func changesMadeWhileNotRunning() async throws {
        let scratch = Scratch()
        do {
            let first = try Harness(scratch: scratch)
            Self.makeSite(first)
            try await first.start()
            await first.stop()
        }
        // Down time: edits, a delete, a create, an identical rewrite, a directory moved away.
        writeFile(scratch.path + "/site", "index.html", "home v2")
        removeFile(Array((scratch.path + "/site/about.html").utf8))
        writeFile(scratch.path + "/site", "contact.html", "contact")
        writeFile(scratch.path + "/site", "blog/a.html", "post a")
        renamePath(Array((scratch.path + "/site/assets").utf8), Array((scratch.path + "/assets-away").utf8))
        let second = try Harness(scratch: scratch)
        let reconciled = try await second.start()
        #expect(
            reconciled
                == changes([
                    ("index.html", .modified), ("about.html", .deleted), ("contact.html", .created),
                    ("assets/css/site.css", .deleted),
                ]))
        #expect(try await second.settle().isEmpty)
        await second.stop()
    }
}
