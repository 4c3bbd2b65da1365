@testable import PurgeCore
import Testing

@Suite struct PlannerTests {
    static func queue(_ urls: [String], from first: Int64 = 1) -> [QueuedURL] {
        urls.enumerated().map { QueuedURL(id: first + Int64($0.offset), url: $0.element) }
    }

    @Test func twentyFiveHundredURLsAreThreeBatchesOfAtMostAThousand() {
        let urls = (0..<2_500).map { "https://www.example.com/p/\($0).html" }
        let plan = Planner.plan(queue: Self.queue(urls), quota: .documentedDefault, directoryFallback: true)
        #expect(plan.urlBatches.map(\.count) == [1_000, 1_000, 500])
        #expect(plan.urlBatches.flatMap { $0 }.map(\.url) == urls)
        #expect(plan.directoryBatches.isEmpty)
        #expect(plan.waiting.isEmpty)
    }

    @Test func batchSizeComesFromTheQuota() {
        let urls = (0..<10).map { "https://a.example/\($0)" }
        let quota = QuotaView(urlBatch: 4, urlAvailable: 100, pathBatch: 20, pathAvailable: 100)
        #expect(Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true).urlBatches.map(\.count) == [4, 4, 2])
    }

    @Test func quotaOverflowBecomesDirectoryPurges() {
        // 300 changes in two directories, 100 URLs left today.
        let urls = (0..<150).map { "https://www.example.com/blog/\($0).html" }
            + (0..<150).map { "https://www.example.com/docs/guide/\($0).html" }
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 100, pathBatch: 20, pathAvailable: 100)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.urlBatches.map(\.count) == [100])
        #expect(plan.directoryBatches.count == 1)
        #expect(plan.directoryBatches[0].directories == [
            "https://www.example.com/blog/", "https://www.example.com/docs/guide/",
        ])
        #expect(plan.directoryBatches[0].covers == Array(101...300))
        #expect(plan.waiting.isEmpty)
        #expect(plan.siteRoots.isEmpty)
    }

    @Test func deepestDirectoriesAreLiftedUntilTheyFitThePathQuota() {
        let urls = [
            "https://h.example/a/b/1.html", "https://h.example/a/c/2.html", "https://h.example/a/c/3.html",
            "https://h.example/x/4.html",
        ]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 0, pathBatch: 20, pathAvailable: 2)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.directoryBatches.map(\.directories) == [["https://h.example/a/", "https://h.example/x/"]])
        #expect(plan.directoryBatches[0].covers == [1, 2, 3, 4])
        #expect(plan.siteRoots.isEmpty)
    }

    @Test func siteRootOnlyWhenNothingNarrowerFits() {
        let urls = ["https://h.example/a/1.html", "https://h.example/b/2.html", "https://h.example/c/3.html"]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 0, pathBatch: 20, pathAvailable: 1)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.directoryBatches.map(\.directories) == [["https://h.example/"]])
        #expect(plan.siteRoots == ["https://h.example/"])
        #expect(plan.waiting.isEmpty)
    }

    @Test func whatFitsNowhereWaits() {
        let urls = ["https://one.example/a.html", "https://two.example/b.html", "https://three.example/c.html"]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 1, pathBatch: 20, pathAvailable: 1)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.urlBatches.flatMap { $0 }.map(\.id) == [1])
        #expect(plan.directoryBatches.count == 1)
        #expect(plan.waiting.count == 1)
        let noFallback = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: false)
        #expect(noFallback.directoryBatches.isEmpty)
        #expect(noFallback.waiting == [2, 3])
    }

    @Test func directoryPurgesAreSplitByTheirBatchLimit() {
        let urls = (0..<5).map { "https://h.example/d\($0)/f.html" }
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 0, pathBatch: 2, pathAvailable: 100)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.directoryBatches.map(\.directories.count) == [2, 2, 1])
    }

    @Test func anyAreaTakesTheTightestLimits() {
        let combined = QuotaView.combining([
            QuotaView(urlBatch: 1_000, urlAvailable: 9_000, pathBatch: 39, pathAvailable: 100),
            QuotaView(urlBatch: 500, urlAvailable: 10_000, pathBatch: 20, pathAvailable: 80),
        ])
        #expect(combined == QuotaView(urlBatch: 500, urlAvailable: 9_000, pathBatch: 20, pathAvailable: 80))
    }

    @Test func directoryOfAnIndexURLIsItself() {
        #expect(DirectoryCover.directory(of: "https://h.example/a/b/")?.url == "https://h.example/a/b/")
        #expect(DirectoryCover.directory(of: "https://h.example/a/b/x.html")?.url == "https://h.example/a/b/")
        #expect(DirectoryCover.directory(of: "https://h.example/")?.url == "https://h.example/")
    }
}
