import Testing

@testable import PurgeCore

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
        let urls =
            (0..<150).map { "https://www.example.com/blog/\($0).html" }
            + (0..<150).map { "https://www.example.com/docs/guide/\($0).html" }
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 100, pathBatch: 20, pathAvailable: 100)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.urlBatches.map(\.count) == [100])
        #expect(plan.directoryBatches.count == 1)
        #expect(
            plan.directoryBatches[0].directories == [
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
        let urls = ["https://one.example/x/a.html", "https://two.example/y/b.html", "https://three.example/z/c.html"]
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
        #expect(DirectoryCover.directoryURL(of: "https://h.example/a/b/") == "https://h.example/a/b/")
        #expect(DirectoryCover.directoryURL(of: "https://h.example/a/b/x.html") == "https://h.example/a/b/")
        #expect(DirectoryCover.directoryURL(of: "https://h.example/") == "https://h.example/")
        #expect(DirectoryCover.directoryURL(of: "not a url") == nil)
        #expect(DirectoryCover.isTopLevel("https://h.example/sitemap.xml") && DirectoryCover.isTopLevel("https://h.example/"))
        #expect(!DirectoryCover.isTopLevel("https://h.example/a/b.html"))
    }

    // MARK: - A fallback that stays narrow (SPEC §6)

    @Test func topLevelFilesTakeTheURLQuotaSoTheFallbackStaysNarrow() {
        // A deploy: 150 blog posts, the sitemap, robots.txt and the home page; 3 URLs left today.
        let urls =
            (0..<150).map { "https://www.example.com/blog/\($0).html" }
            + ["https://www.example.com/sitemap.xml", "https://www.example.com/robots.txt", "https://www.example.com/"]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 3, pathBatch: 20, pathAvailable: 10)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.urlBatches.flatMap { $0 }.map(\.url) == Array(urls.suffix(3)))
        #expect(plan.directoryBatches.map(\.directories) == [["https://www.example.com/blog/"]])
        #expect(plan.directoryBatches[0].covers == Array(1...150))
        #expect(plan.siteRoots.isEmpty, "one top-level file must not turn the fallback into a whole-host purge")
        #expect(plan.waiting.isEmpty)
    }

    @Test func theRestOfTheURLQuotaGoesToTheOldestDeeperURLs() {
        let urls = [
            "https://h.example/a/1.html", "https://h.example/top.html", "https://h.example/b/2.html",
            "https://h.example/b/3.html",
        ]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 2, pathBatch: 20, pathAvailable: 10)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.urlBatches.flatMap { $0 }.map(\.id) == [1, 2])
        #expect(plan.directoryBatches.map(\.directories) == [["https://h.example/b/"]])
        #expect(plan.siteRoots.isEmpty)
    }

    @Test func topLevelURLsBeyondTheURLQuotaWaitRatherThanPurgeTheWholeHost() {
        // The URL quota is spent: the sitemap would need the site root, which would purge every
        // page of the host for one file. It waits for the URL quota; d/ is purged narrowly.
        let urls = ["https://h.example/a.html", "https://h.example/sitemap.xml", "https://h.example/d/c.html"]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 1, pathBatch: 20, pathAvailable: 5)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.urlBatches.flatMap { $0 }.map(\.id) == [1])
        #expect(plan.directoryBatches.map(\.directories) == [["https://h.example/d/"]])
        #expect(plan.waiting == [2])
        #expect(plan.siteRoots.isEmpty)
    }

    @Test func topLevelURLsRideAlongWhenTheRootIsPurgedAnyway() {
        // Nothing narrower than the root fits the deeper URLs: the root is purged (with a warning)
        // and covers the top-level URL too.
        let urls = ["https://h.example/a/1.html", "https://h.example/b/2.html", "https://h.example/robots.txt"]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 0, pathBatch: 20, pathAvailable: 1)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.directoryBatches.map(\.directories) == [["https://h.example/"]])
        #expect(plan.directoryBatches[0].covers == [1, 2, 3])
        #expect(plan.siteRoots == ["https://h.example/"])
        #expect(plan.waiting.isEmpty)
    }

    @Test func aDirectoryHoldingFilesCoversItsSubtreeWithoutSpendingSlots() {
        // docs/ holds a file, so docs/v/1/ and docs/v/2/ cost nothing extra: collapsing them
        // saves no slot. Three slots: blog/, docs/, shop/ cover everything (a review found the
        // planner leaving shop/y/2.html waiting).
        let urls = [
            "docs/index.html", "docs/v/1/a.html", "docs/v/2/b.html", "blog/p.html", "shop/x/1.html", "shop/y/2.html",
        ].map { "https://www.example.com/" + $0 }
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 0, pathBatch: 20, pathAvailable: 3)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(
            plan.directoryBatches.map(\.directories) == [
                [
                    "https://www.example.com/blog/", "https://www.example.com/docs/", "https://www.example.com/shop/",
                ]
            ])
        #expect(plan.waiting.isEmpty)
    }

    @Test func collapsingStartsDeepestAndWithTheLargestSaving() {
        // Deepest cover: a/b/x/, a/b/y/, a/b/z/, a/c/u/, a/c/v/, e/  (6); 4 slots.
        // Depth 2 first: a/b/ saves 2 (3 → 1), enough; a/c/ stays split; nothing at depth 1 or 0.
        let urls = ["a/b/x/1", "a/b/y/2", "a/b/z/3", "a/c/u/4", "a/c/v/5", "e/6"].map { "https://h.example/" + $0 }
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 0, pathBatch: 20, pathAvailable: 4)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(
            plan.directoryBatches.map(\.directories) == [
                [
                    "https://h.example/a/b/", "https://h.example/a/c/u/", "https://h.example/a/c/v/", "https://h.example/e/",
                ]
            ])
        #expect(plan.directoryBatches[0].covers == [1, 2, 3, 4, 5, 6])
    }

    @Test func filesInADirectoryPinItsCover() {
        // a/1 lives in a/ itself: a/ is chosen, and its subdirectories ride along.
        let urls = ["https://h.example/a/1", "https://h.example/a/b/2", "https://h.example/c/3"]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 0, pathBatch: 20, pathAvailable: 5)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.directoryBatches.map(\.directories) == [["https://h.example/a/", "https://h.example/c/"]])
    }

    @Test func moreHostsThanDirectorySlotsWaitForTheReset() {
        let urls = ["https://one.example/a/1", "https://one.example/a/2", "https://two.example/b/3", "https://three.example/c/4"]
        let quota = QuotaView(urlBatch: 1_000, urlAvailable: 0, pathBatch: 20, pathAvailable: 1)
        let plan = Planner.plan(queue: Self.queue(urls), quota: quota, directoryFallback: true)
        #expect(plan.directoryBatches.map(\.directories) == [["https://one.example/a/"]])
        #expect(plan.waiting == [3, 4])
        #expect(plan.siteRoots.isEmpty)
    }

    /// Seeded random queues: every URL is sent, covered by a chosen directory it lies under, or
    /// waits; never more directories than slots; no chosen directory lies under another.
    @Test(arguments: 0..<400)
    func everyURLIsAccountedForExactlyOnce(seed: Int) {
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        let hosts = ["https://a.example", "https://b.example"]
        let names = ["x", "y", "z", "w"]
        var urls = Set<String>()
        for _ in 0..<(1 + next(60)) {
            let depth = next(4)
            let path = (0..<depth).map { _ in names[next(names.count)] + "/" }.joined()
            urls.insert(hosts[next(2)] + "/" + path + (next(5) == 0 ? "" : "f\(next(9)).html"))
        }
        let queue = Self.queue(urls.sorted())
        let quota = QuotaView(urlBatch: 7, urlAvailable: next(10), pathBatch: 3, pathAvailable: 1 + next(6))
        let plan = Planner.plan(queue: queue, quota: quota, directoryFallback: true)
        let byID = Dictionary(uniqueKeysWithValues: queue.map { ($0.id, $0.url) })
        let sent = plan.urlBatches.flatMap { $0 }.map(\.id)
        let covered = plan.directoryBatches.flatMap(\.covers)
        let all = sent + covered + plan.waiting
        #expect(all.sorted() == queue.map(\.id), "each URL once")
        #expect(sent.count <= quota.urlAvailable)
        #expect(plan.urlBatches.allSatisfy { $0.count <= quota.urlBatch })
        let directories = plan.directoryBatches.flatMap(\.directories)
        #expect(directories.count <= quota.pathAvailable)
        #expect(plan.directoryBatches.allSatisfy { $0.directories.count <= quota.pathBatch })
        for directory in directories {
            #expect(!directories.contains { $0 != directory && directory.hasPrefix($0) }, "\(directory) nested")
        }
        for id in covered {
            #expect(directories.contains { byID[id]!.hasPrefix($0) }, "\(byID[id]!) is under a chosen directory")
        }
        // Only a full path quota leaves deeper URLs waiting; a top-level URL may wait rather than
        // widen the purge to its whole host.
        let waitingDeeper = plan.waiting.filter { !DirectoryCover.isTopLevel(byID[$0]!) }
        if !waitingDeeper.isEmpty {
            #expect(directories.count == quota.pathAvailable, "deeper URLs wait only when every slot is used")
        }
        if plan.waiting.isEmpty == false && directories.count < quota.pathAvailable {
            #expect(waitingDeeper.isEmpty)
        }
        // Collapsing can always reach one directory per host: with no more hosts than slots,
        // no deeper URL waits.
        let sentIDs = Set(sent)
        let deeperHosts = Set(
            queue.filter { !sentIDs.contains($0.id) && !DirectoryCover.isTopLevel($0.url) }.compactMap {
                DirectoryCover.siteRoot(of: $0.url)
            })
        if deeperHosts.count <= quota.pathAvailable {
            #expect(
                waitingDeeper.isEmpty, "\(deeperHosts.count) host(s), \(quota.pathAvailable) slot(s), yet \(waitingDeeper.count) deeper URL(s) wait")
        }
    }
}
