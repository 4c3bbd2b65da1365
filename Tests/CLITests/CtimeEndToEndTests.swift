import Foundation
import Glibc
import Testing

extension EndToEnd {

    /// SPEC §5 with the real daemon and the real tools: a rewrite that keeps the size and restores
    /// the mtime on the same inode is purged (ctime moved); the same bytes written again are not.
    ///
    /// The site is written, then left alone for more than the detector's racy window (1 s) before
    /// the daemon records its baseline, so only the ctime comparison can notice the rewrite.
    @Suite(.serialized, .timeLimit(.minutes(3))) struct CtimeEndToEndTests {
        static let www = DaemonFixture.www

        @Test func rsyncChecksumInplaceFromABuildWithPinnedMtimes() async throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/rsync") else {
                Issue.record("rsync is not installed (apt-get install rsync)")
                return
            }
            try await DaemonFixture.with { fixture in
                // Pinned mtimes, as reproducible builds (SOURCE_DATE_EPOCH) produce them.
                #expect(
                    try await fixture.shell(
                        "mkdir -p build site && printf AAAA > build/a.html && printf BBBB > build/b.html"
                            + " && touch -d @1700000000 build/a.html build/b.html && rsync -a build/ site/") == 0)
                try await Task.sleep(for: .milliseconds(1_300))
                try await fixture.startDaemon()
                let inodeBefore = try Self.inode(fixture.site + "/a.html")

                // The next build: a.html has other bytes of the same size and the same pinned mtime.
                #expect(
                    try await fixture.shell(
                        "printf ZZZZ > build/a.html && touch -d @1700000000 build/a.html"
                            + " && rsync -a --checksum --inplace build/ site/") == 0)
                #expect(try Self.inode(fixture.site + "/a.html") == inodeBefore, "--inplace keeps the inode")
                #expect(try String(contentsOfFile: fixture.site + "/a.html", encoding: .utf8) == "ZZZZ")
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(fixture.purged == [Self.www + "a.html"], "\(fixture.daemon?.log ?? "")")
            }
        }

        @Test func cpPreserveAndTouchReference() async throws {
            try await DaemonFixture.with { fixture in
                #expect(
                    try await fixture.shell(
                        "mkdir -p site new && printf 1111 > site/c.html && printf 2222 > site/d.html && printf 3333 > site/e.html"
                            + " && touch -d @1700000000 site/c.html site/d.html site/e.html") == 0)
                try await Task.sleep(for: .milliseconds(1_300))
                try await fixture.startDaemon()

                // cp -p over the file: same inode (cp truncates and writes), mtime copied from the source.
                // touch -r after a same-size write: the old mtime put back by hand.
                // And a must-not: the same bytes with the same mtime written again.
                #expect(
                    try await fixture.shell(
                        "printf 9999 > new/c.html && touch -d @1700000000 new/c.html && cp -p new/c.html site/c.html"
                            + " && cp -p site/d.html ref && printf 8888 > site/d.html && touch -r ref site/d.html"
                            + " && printf 3333 > site/e.html && touch -d @1700000000 site/e.html") == 0)
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(fixture.purged == [Self.www + "c.html", Self.www + "d.html"], "\(fixture.daemon?.log ?? "")")
            }
        }

        static func inode(_ path: String) throws -> UInt64 {
            var st = stat()
            guard lstat(path, &st) == 0 else { throw POSIXError(.ENOENT) }
            return UInt64(st.st_ino)
        }
    }
}
