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

        /// CDN pushes in the purge's area; EdgeOne (no areas) prefetches with CreatePrefetchTask.
        @Test(arguments: [(Product.cdn, "", "global"), (.cdn, "overseas", "overseas"), (.edgeone, "", "")])
        func createdAndModifiedURLsArePrefetchedAfterTheirPurgeIsDone(product: Product, area: String, pushArea: String) async throws {
            try await DaemonFixture.with(product: product) { fixture in
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
                    await fixture.eventually(timeout: .seconds(20)) { fixture.prefetched.count >= 2 },
                    "\(fixture.daemon?.log ?? "")")
                try await Task.sleep(for: .milliseconds(500))
                let pushed = fixture.prefetched
                #expect(Set(pushed) == [Self.www + "changed.html", Self.www + "new.html"], "never the deleted URL")
                #expect(pushed.count == 2, "each once")
                if product == .cdn { #expect(fixture.emulator.pushedURLs.allSatisfy { $0.area == pushArea }) }
                // The push came after the purge task was done (DescribePurgeTasks said so).
                let actions = fixture.emulator.requests.map(\.action)
                let firstPush = try #require(actions.firstIndex(of: product.prefetchAction))
                #expect(actions[..<firstPush].contains("DescribePurgeTasks"))
            }
        }

        @Test(arguments: Product.allCases)
        func aFailingPushNeverFailsTheFlushAndDirectoriesAreNeverPushed(product: Product) async throws {
            try await DaemonFixture.with(product: product) { fixture in
                try Self.configure(fixture, area: "")
                fixture.setPurgeQuota(urls: 1)
                try fixture.write("a.html", "v1\n")
                try fixture.write("d/b.html", "v1\n")
                try fixture.write("d/c.html", "v1\n")
                try await fixture.startDaemon()
                let quotaCode = product == .cdn ? "LimitExceeded.CdnPushExceedDayLimit" : "LimitExceeded.DailyQuota"
                fixture.emulator.failNext(10, with: .apiError(code: quotaCode, message: "prefetch quota"), action: product.prefetchAction)
                for name in ["a.html", "d/b.html", "d/c.html"] { try fixture.write(name, "v2\n") }
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "a prefetch problem is never a purge failure: \(flushed.stderr)")
                #expect(fixture.emulator.acceptedPaths == [Self.www + "d/"], "the quota overflow became a directory purge")
                #expect(await fixture.eventually(timeout: .seconds(20)) { fixture.daemon?.log.contains("prefetch of") == true })
                #expect(fixture.prefetched.isEmpty)
                #expect(
                    !fixture.emulator.requests.contains { $0.action == product.prefetchAction && $0.urlCount > 1 }, "d/ and its files were not pushed"
                )
                let check = try await PurgewatchProcess.runAsync(
                    ["status", "--config", fixture.configPath, "--check"], environment: fixture.environment)
                #expect(check.status == 0, "no failure counted: \(check.stdout)")
            }
        }
    }
}
