import Foundation
import TencentEmulator
import Testing

extension EndToEnd {

    /// `prefetch = true` (SPEC §3, §6): once a PurgeUrlsCache task is done, its created and modified
    /// URLs — never deleted ones, never directories — are pushed in the same area, within
    /// DescribePushQuota; a push that fails is logged and dropped, and never fails a purge or flush.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct PrefetchTests {
        static let www = DaemonFixture.www

        static func configure(_ fixture: DaemonFixture, area: String) throws {
            try fixture.writeConfig(
                urls: [Self.www], index: [], purge: "on = [\"created\", \"modified\", \"deleted\"]\narea = \"\(area)\"\nprefetch = true")
        }

        @Test(arguments: [("", "global"), ("overseas", "overseas")])
        func createdAndModifiedURLsArePrefetchedAfterTheirPurgeIsDone(area: String, pushArea: String) async throws {
            try await DaemonFixture.with { fixture in
                try Self.configure(fixture, area: area)
                for name in ["kept.html", "changed.html", "gone.html"] { try fixture.write(name, "v1\n") }
                try await fixture.startDaemon()
                try fixture.write("changed.html", "v2\n")
                try fixture.write("new.html", "v1\n")
                try fixture.remove("gone.html")
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(fixture.purged == [Self.www + "changed.html", Self.www + "new.html", Self.www + "gone.html"])
                #expect(
                    await fixture.eventually(timeout: .seconds(20)) { fixture.emulator.pushedURLs.count >= 2 },
                    "\(fixture.daemon?.log ?? "")")
                try await Task.sleep(for: .milliseconds(500))
                let pushed = fixture.emulator.pushedURLs
                #expect(Set(pushed.map(\.url)) == [Self.www + "changed.html", Self.www + "new.html"], "never the deleted URL")
                #expect(pushed.count == 2, "each once")
                #expect(pushed.allSatisfy { $0.area == pushArea })
                // The push came after the purge task was done (DescribePurgeTasks said so).
                let actions = fixture.emulator.requests.map(\.action)
                let firstPush = try #require(actions.firstIndex(of: "PushUrlsCache"))
                #expect(actions[..<firstPush].contains("DescribePurgeTasks"))
            }
        }

        @Test func aFailingPushNeverFailsTheFlushAndDirectoriesAreNeverPushed() async throws {
            try await DaemonFixture.with { fixture in
                try Self.configure(fixture, area: "")
                for area in ["mainland", "overseas"] { fixture.emulator.setQuota(area: area, urls: 1) }
                try fixture.write("a.html", "v1\n")
                try fixture.write("d/b.html", "v1\n")
                try fixture.write("d/c.html", "v1\n")
                try await fixture.startDaemon()
                fixture.emulator.failNext(
                    10, with: .apiError(code: "LimitExceeded.CdnPushExceedDayLimit", message: "push quota"), action: "PushUrlsCache")
                for name in ["a.html", "d/b.html", "d/c.html"] { try fixture.write(name, "v2\n") }
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "a prefetch problem is never a purge failure: \(flushed.stderr)")
                #expect(fixture.emulator.acceptedPaths == [Self.www + "d/"], "the quota overflow became a directory purge")
                #expect(await fixture.eventually(timeout: .seconds(20)) { fixture.daemon?.log.contains("prefetch of") == true })
                #expect(fixture.emulator.pushedURLs.isEmpty)
                #expect(!fixture.emulator.requests.contains { $0.action == "PushUrlsCache" && $0.urlCount > 1 }, "d/ and its files were not pushed")
                let check = try await PurgewatchProcess.runAsync(
                    ["status", "--config", fixture.configPath, "--check"], environment: fixture.environment)
                #expect(check.status == 0, "no failure counted: \(check.stdout)")
            }
        }
    }
}
