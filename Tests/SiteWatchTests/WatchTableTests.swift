import PurgeCore
import Testing

@testable import SiteWatch

/// The watch table against the obvious model — two dictionaries, a scan of every watch for each
/// subtree operation (what the reader did before) — over seeded random operations.
@Suite struct WatchTableTests {
    /// The old table: correct by inspection, O(watches) per subtree operation.
    struct Model {
        var pathOf: [Int32: RelativePath] = [:]
        var wdOf: [RelativePath: Int32] = [:]

        mutating func set(_ wd: Int32, _ path: RelativePath) -> Int32? {
            var replaced: Int32?
            if let old = pathOf[wd], old != path, wdOf[old] == wd { wdOf[old] = nil }
            if let previous = wdOf[path], previous != wd, pathOf[previous] == path {
                pathOf[previous] = nil
                replaced = previous
            }
            pathOf[wd] = path
            wdOf[path] = wd
            return replaced
        }
        mutating func remove(wd: Int32) -> RelativePath? {
            let path = pathOf.removeValue(forKey: wd)
            if let path, wdOf[path] == wd { wdOf[path] = nil }
            return path
        }
        mutating func removeSubtree(_ path: RelativePath) -> Set<Int32> {
            var removed: Set<Int32> = []
            for (candidate, wd) in wdOf where path.contains(candidate) {
                removed.insert(wd)
                pathOf[wd] = nil
                wdOf[candidate] = nil
            }
            return removed
        }
        mutating func rename(from old: RelativePath, to new: RelativePath) -> Set<Int32> {
            var replaced: Set<Int32> = []
            let moved = wdOf.filter { old.contains($0.key) }
            for (candidate, _) in moved { wdOf[candidate] = nil }
            for (candidate, wd) in moved {
                let renamed = RelativePath(new.bytes + candidate.bytes.dropFirst(old.bytes.count))
                if let previous = wdOf[renamed], previous != wd, pathOf[previous] == renamed {
                    pathOf[previous] = nil
                    replaced.insert(previous)
                }
                wdOf[renamed] = wd
                pathOf[wd] = renamed
            }
            return replaced
        }
    }

    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    static func randomPath(_ random: inout Random) -> RelativePath {
        let depth = random.next(4)
        var path = RelativePath.root
        for _ in 0..<depth { path = path.appending(Array("d\(random.next(3))".utf8)) }
        return path
    }

    @Test(arguments: 0..<40)
    func agreesWithTheScanningModel(seed: Int) {
        var random = Random(state: UInt64(seed) &+ 0x9E37_79B9)
        var table = WatchTable()
        var model = Model()
        var nextWD: Int32 = 1
        for step in 0..<400 {
            switch random.next(10) {
            case 0..<5:
                // A new watch, or the kernel's same descriptor for a directory seen again.
                let wd = random.next(4) == 0 && nextWD > 1 ? Int32(1 + random.next(Int(nextWD - 1))) : nextWD
                if wd == nextWD { nextWD += 1 }
                let path = Self.randomPath(&random)
                #expect(table.set(wd, for: path) == model.set(wd, path), "step \(step)")
            case 5:
                let wd = Int32(1 + random.next(Int(nextWD)))
                #expect(table.remove(wd: wd) == model.remove(wd: wd), "step \(step)")
            case 6, 7:
                let path = Self.randomPath(&random)
                #expect(Set(table.removeSubtree(path)) == model.removeSubtree(path), "step \(step): rm \(path)")
            default:
                let from = Self.randomPath(&random)
                let to = Self.randomPath(&random)
                // A rename never moves a directory into itself. Half the time its target is
                // not watched; otherwise the subtree lands on watched paths (an empty directory
                // renamed over), whose descriptors come back to be retired.
                guard !from.isRoot, !from.contains(to), !to.contains(from) else { continue }
                if random.next(2) == 0 {
                    _ = table.removeSubtree(to)
                    _ = model.removeSubtree(to)
                }
                #expect(Set(table.renameSubtree(from: from, to: to)) == model.rename(from: from, to: to), "step \(step)")
            }
            #expect(table.count == model.pathOf.count, "step \(step)")
            for (wd, path) in model.pathOf {
                #expect(table.path(of: wd) == path, "step \(step): wd \(wd)")
            }
            for (path, wd) in model.wdOf {
                #expect(table.wd(of: path) == wd, "step \(step): \(path)")
            }
        }
    }

    /// rm -rf of a wide tree: removing one subtree visits the subtree only (checked by count).
    @Test func removingASubtreeLeavesTheRest() {
        var table = WatchTable()
        var wd: Int32 = 0
        for top in 0..<100 {
            for leaf in 0..<100 {
                wd += 1
                table.set(wd, for: RelativePath("t\(top)/l\(leaf)"))
            }
        }
        #expect(table.count == 10_000)
        #expect(table.removeSubtree("t7").count == 100)
        #expect(table.count == 9_900)
        #expect(table.wd(of: "t70/l0") != nil, "a sibling whose name starts the same stays")
        table.renameSubtree(from: "t8", to: "moved/t8")
        #expect(table.wd(of: "moved/t8/l5") != nil && table.wd(of: "t8/l5") == nil)
        #expect(table.removeSubtree("moved").count == 100)
    }
}
