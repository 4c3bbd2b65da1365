import Foundation
import TencentEmulator
import Testing

extension EndToEnd {

    /// Trouble stays where it starts (SPEC §6): a failure about one host or one URL fails only what
    /// it is about; the rest of its batch is purged.
    @Suite(.serialized, .timeLimit(.minutes(3))) struct IsolationTests {
        static let www = "https://www.example.com/"
        static let apex = "https://example.com/"

        static func configure(_ fixture: DaemonFixture, urls: [String]) throws {
            try fixture.writeConfig(urls: urls)
        }

        /// An apex that only redirects is not a CDN domain of the account: its URLs fail with
        /// ResourceNotFound.CdnHostNotExists, and every www URL of the same batches is purged.
        /// EdgeOne (SPEC §10) names the unknown host's targets in `FailedList` and accepts the rest
        /// of the same request: no split, no refused request.
        @Test(arguments: Product.allCases)
        func aHostThatIsNotOnTheAccountFailsAloneAndTheGoodHostIsPurged(product: Product) async throws {
            try await DaemonFixture.with(emulator: EmulatorConfiguration(knownDomains: ["www.example.com"]), product: product) { fixture in
                try Self.configure(fixture, urls: [Self.www, Self.apex])
                let names = (1...10).map { "p\($0).html" }
                for name in names { try fixture.write(name, "v1\n") }
                try await fixture.startDaemon()
                for name in names { try fixture.write(name, "v2\n") }
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 1, "the apex URLs failed: \(flushed.stderr)")
                #expect(flushed.stderr.contains(Self.apex + "p1.html"), "named: \(flushed.stderr)")
                #expect(fixture.purged == Set(names.map { Self.www + $0 }), "\(fixture.daemon?.log ?? "")")

                let purgeRequests = fixture.purgeRequests
                if product == .cdn {
                    let n = 2 * names.count
                    let bound = 1 + Int(ceil(log2(Double(n)))) + 2
                    // Refused requests: the batch, then the apex's part (timeouts retried on a slow machine
                    // can add accepted duplicates, not refusals).
                    let refused = purgeRequests.filter { $0.outcome == "ResourceNotFound.CdnHostNotExists" }.count
                    #expect(refused == 2, "\(refused) refused requests")
                    let extra = purgeRequests.count - 1 - purgeRequests.filter { $0.fault != nil }.count
                    #expect(extra <= bound - 1, "\(purgeRequests.count) requests for one batch of \(n) (bound \(bound))")
                } else {
                    #expect(purgeRequests.filter { $0.fault == nil }.count == 1, "one request, accepted in part: \(purgeRequests)")
                    #expect(purgeRequests.allSatisfy { $0.outcome == "accepted" })
                }
                let status = try await fixture.status()
                let failures = (status["failures"] as? [String: Any])?["urls"] as? [[String: Any]] ?? []
                #expect(Set(failures.compactMap { $0["url"] as? String }) == Set(names.map { Self.apex + $0 }))
                #expect(failures.allSatisfy { $0["error_code"] as? String == product.unknownHostCode })

                // Nothing paused: the next deploy's www URLs go out at once.
                fixture.emulator.resetRecords()
                try fixture.write("p1.html", "v3\n")
                _ = try await fixture.flushWait()
                #expect(fixture.purged == [Self.www + "p1.html"])
            }
        }

        /// `run --once` sends the parts a split produces in the same run (a review found the good
        /// host's URLs left for the next run).
        @Test func runOnceSendsTheGoodHostInTheSameRun() async throws {
            try await DaemonFixture.with(emulator: EmulatorConfiguration(knownDomains: ["www.example.com"])) { fixture in
                try Self.configure(fixture, urls: [Self.www, Self.apex])
                try fixture.write("p.html", "v1\n")
                let first = try await PurgewatchProcess.runAsync(["run", "--config", fixture.configPath, "--once"], environment: fixture.environment)
                #expect(first.status == 0, "\(first.stderr)")
                try fixture.write("p.html", "v2\n")
                let second = try await PurgewatchProcess.runAsync(
                    ["run", "--config", fixture.configPath, "--once"], environment: fixture.environment)
                #expect(second.status == 1, "the apex URL failed: \(second.stderr)")
                #expect(fixture.purged == [Self.www + "p.html"], "\(second.stderr)")
            }
        }

        /// A URL the API refuses without saying which (InvalidParameter.CdnParamError) is found by
        /// bisection: it fails alone, its 15 neighbours are purged.
        @Test func aBadURLTheAPIDoesNotNameIsFoundByBisection() async throws {
            try await DaemonFixture.with { fixture in
                try Self.configure(fixture, urls: [Self.www])
                let names = (1...16).map { "q\($0).html" }
                for name in names { try fixture.write(name, "v1\n") }
                try await fixture.startDaemon()
                fixture.emulator.rejectWithoutNaming([Self.www + "q11.html"])
                for name in names { try fixture.write(name, "v2\n") }
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 1)
                #expect(flushed.stderr.contains(Self.www + "q11.html"), "\(flushed.stderr)")
                #expect(fixture.purged == Set(names.filter { $0 != "q11.html" }.map { Self.www + $0 }))
                // Each halving sends the bad half again: at most 1 + log2(16) refused requests (a slow
                // machine may add retried timeouts of good halves, which this does not count).
                let refused = fixture.emulator.requests.filter { $0.action == "PurgeUrlsCache" && $0.outcome == "InvalidParameter.CdnParamError" }
                    .count
                #expect(refused <= 1 + 4, "bisection: \(refused) refused requests for 16 URLs")
            }
        }
    }
}
