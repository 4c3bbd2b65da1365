import Foundation
import Testing

extension EndToEnd {

    /// SPEC §6 `flush --wait` answers for the URLs queued before the call. A deploy's writes have
    /// returned before its flush, so their inotify events are already queued in the kernel: the
    /// daemon drains the descriptor up to a barrier and compares only what was reported — never the
    /// whole tree — and must never miss a change that way. Quiet is 60 s, so only the flush can
    /// close a window; each round flushes right after the deploy's last write.
    @Suite(.serialized, .timeLimit(.minutes(4))) struct FlushBarrierTests {
        static let www = DaemonFixture.www

        /// One deploy step and the URLs it must purge (exactly those).
        struct Step {
            var command: String
            var purged: Set<String>
        }

        static func steps(round: Int) -> [Step] {
            [
                // rsync writes a temporary dot-file and renames it over the old one.
                Step(
                    command: "printf 'r\(round)' > build/rsynced.html && rsync -a --checksum build/ site/",
                    purged: [www + "rsynced.html"]),
                // An editor's save: a new file beside the old one, renamed over it.
                Step(
                    command: "printf 'e\(round)' > site/.edit.tmp && mv site/.edit.tmp site/edited.html",
                    purged: [www + "edited.html"]),
                // vim's backup dance: the old file renamed away, a new one written in its place.
                Step(
                    command: "mv site/backed.html site/backed.html~ && printf 'b\(round)' > site/backed.html && rm site/backed.html~",
                    purged: [www + "backed.html"]),
                // A new directory tree and a file in it, written before any watch could be set on it.
                Step(
                    command: "mkdir -p site/new/r\(round)/deep && printf 'n' > site/new/r\(round)/deep/page.html",
                    purged: [www + "new/r\(round)/deep/page.html"]),
                // A file removed.
                Step(command: "rm site/gone\(round).html", purged: [www + "gone\(round).html"]),
            ]
        }

        @Test func aFlushRightAfterTheLastWriteNeverMissesAndNeverWalksTheTree() async throws {
            guard FileManager.default.isExecutableFile(atPath: "/usr/bin/rsync") else {
                Issue.record("rsync is not installed (apt-get install rsync)")
                return
            }
            let rounds = 8
            try await DaemonFixture.with(quiet: "60s", maxDelay: "120s") { fixture in
                var setup = "mkdir -p build site && printf x > site/edited.html && printf x > site/backed.html"
                for round in 0..<rounds { setup += " && printf g > site/gone\(round).html" }
                // Some bulk, so that a full walk per flush would show in the log's counts.
                setup += " && mkdir -p site/bulk && for i in $(seq 1 300); do printf b > site/bulk/f$i.html; done"
                #expect(try await fixture.shell(setup) == 0)
                // New files count too: the mkdir step's page is new.
                let config = try String(contentsOfFile: fixture.configPath, encoding: .utf8)
                try config.replacingOccurrences(
                    of: "[purge]\n", with: "[purge]\non = [\"created\", \"modified\", \"deleted\"]\n"
                ).write(toFile: fixture.configPath, atomically: true, encoding: .utf8)
                // Each flush follows its deploy step at once (the barrier's drain of events still in
                // the kernel is checked in-process: SiteWatchTests' aBarrierDrainsWhatALaggingReaderLeftInTheKernel;
                // the 2 s fallback to a full walk would show below).
                try await fixture.startDaemon()
                let fullWalksAtStart = Self.fullWalks(in: fixture.daemon?.log ?? "")

                var misses: [String] = []
                for round in 0..<rounds {
                    for step in Self.steps(round: round) {
                        fixture.emulator.resetRecords()
                        #expect(try await fixture.shell(step.command) == 0, "\(step.command)")
                        let flush = try await fixture.flushWait()
                        #expect(flush.status == 0, "\(flush.stderr)")
                        if fixture.purged != step.purged {
                            misses.append("round \(round): `\(step.command)` purged \(fixture.purged.sorted()), expected \(step.purged.sorted())")
                        }
                    }
                }
                #expect(misses.isEmpty, "\(misses.joined(separator: "\n"))")
                // The flushes compared what inotify reported, not the tree.
                let log = fixture.daemon?.log ?? ""
                #expect(Self.fullWalks(in: log) == fullWalksAtStart, "a flush walked the whole tree")
                #expect(log.contains("compared touched paths with the manifest"))
            }
        }

        /// `flush --full` still compares the whole tree: exactly one walk more than before it.
        @Test func flushFullWalksTheWholeTree() async throws {
            try await DaemonFixture.with(quiet: "60s", maxDelay: "120s") { fixture in
                try fixture.write("a.html", "v1\n")
                try await fixture.startDaemon()
                let before = Self.fullWalks(in: fixture.daemon?.log ?? "")
                let result = try await PurgewatchProcess.runAsync(
                    ["flush", "--config", fixture.configPath, "--wait", "--full", "--timeout", "60s"], environment: fixture.environment)
                #expect(result.status == 0, "\(result.stderr)")
                #expect(Self.fullWalks(in: fixture.daemon?.log ?? "") == before + 1)
            }
        }

        static func fullWalks(in log: String) -> Int {
            log.components(separatedBy: "compared the whole tree with the manifest").count - 1
        }
    }

}
