// bench-planner: the directory fallback's cost (SPEC §6) on a queue far over the URL quota.
//
// Usage: bench-planner [--urls N] [--rounds R]
// Plans N queued URLs (default 50,000) with 1,000 URLs and 100 directories left today, for two
// trees: sparse (one file per directory, 4 levels deep) and dense (50 directories). Prints the
// median of R rounds (default 15) and, as the floor measured in the same run, the time to sort
// the same URLs as strings. Benchmarks/planner.sh runs it in release mode. Goal: < 100 ms.
import Foundation
import PurgeCore

var count = 50_000
var rounds = 15
var arguments = CommandLine.arguments.dropFirst()
while let arg = arguments.popFirst() {
    switch arg {
    case "--urls": count = Int(arguments.popFirst() ?? "") ?? count
    case "--rounds": rounds = Int(arguments.popFirst() ?? "") ?? rounds
    default:
        FileHandle.standardError.write(Data("usage: bench-planner [--urls N] [--rounds R]\n".utf8))
        exit(64)
    }
}

func sparse(_ index: Int) -> String {
    "https://www.example.com/\(index % 10)/\(index / 10 % 10)/\(index / 100 % 10)/d\(index / 1000)x\(index)/page.html"
}
func dense(_ index: Int) -> String { "https://www.example.com/section\(index % 50)/page-\(index).html" }

func median(rounds: Int, _ body: () -> Void) -> Double {
    var samples: [Double] = []
    let clock = ContinuousClock()
    for _ in 0..<rounds {
        let start = clock.now
        body()
        let elapsed = clock.now - start
        samples.append(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3)
    }
    return samples.sorted()[samples.count / 2]
}

let quota = QuotaView(urlBatch: 1_000, urlAvailable: 1_000, pathBatch: 20, pathAvailable: 100)
for (name, make) in [("sparse", sparse as (Int) -> String), ("dense", dense)] {
    // Newest first in id order, as a queue that grew over a deploy.
    let queue = (0..<count).map { QueuedURL(id: Int64(count - $0), url: make($0)) }
    var plan = PurgePlan()
    let planned = median(rounds: rounds) { plan = Planner.plan(queue: queue, quota: quota, directoryFallback: true) }
    var sink = 0
    let floor = median(rounds: rounds) { sink &+= queue.map(\.url).sorted().count }
    let covered = plan.directoryBatches.reduce(0) { $0 + $1.covers.count }
    let directories = plan.directoryBatches.reduce(0) { $0 + $1.directories.count }
    print(
        String(
            format:
                "planner %@ urls=%d: plan %.1f ms (goal < 100 ms), sort floor %.1f ms, ratio %.2f×; %d sent, %d directories covering %d, %d waiting, %d site roots",
            name, count, planned, floor, planned / max(floor, 0.001), plan.urlBatches.reduce(0) { $0 + $1.count },
            directories, covered, plan.waiting.count, plan.siteRoots.count))
    if sink < 0 { print(sink) }
}
