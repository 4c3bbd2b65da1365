/// What the API allows right now for one area (SPEC §6), from DescribePurgeQuota and the
/// batches accepted since.
public struct QuotaView: Sendable, Equatable {
    /// Most URLs in one PurgeUrlsCache request (`Batch`).
    public var urlBatch: Int
    /// URLs left today.
    public var urlAvailable: Int
    /// Most directories in one PurgePathCache request.
    public var pathBatch: Int
    /// Directories left today.
    public var pathAvailable: Int

    public init(urlBatch: Int, urlAvailable: Int, pathBatch: Int, pathAvailable: Int) {
        self.urlBatch = urlBatch
        self.urlAvailable = urlAvailable
        self.pathBatch = pathBatch
        self.pathAvailable = pathAvailable
    }

    /// The documented defaults, used until DescribePurgeQuota has answered.
    public static let documentedDefault = QuotaView(urlBatch: 1_000, urlAvailable: 10_000, pathBatch: 20, pathAvailable: 100)

    /// With `area = ""` a batch counts against every area (SPEC §6): the tightest limits win.
    public static func combining(_ views: [QuotaView]) -> QuotaView? {
        guard let first = views.first else { return nil }
        return views.dropFirst().reduce(first) { result, view in
            QuotaView(
                urlBatch: min(result.urlBatch, view.urlBatch), urlAvailable: min(result.urlAvailable, view.urlAvailable),
                pathBatch: min(result.pathBatch, view.pathBatch), pathAvailable: min(result.pathAvailable, view.pathAvailable))
        }
    }
}

/// A queued URL, as the planner sees it.
public struct QueuedURL: Sendable, Hashable {
    public var id: Int64
    public var url: String

    public init(id: Int64, url: String) {
        self.id = id
        self.url = url
    }
}

/// The requests that purge a queue within the limits (SPEC §6).
public struct PurgePlan: Sendable, Equatable {
    /// A PurgePathCache request and the queued URLs it covers.
    public struct DirectoryBatch: Sendable, Equatable {
        public var directories: [String]
        public var covers: [Int64]
    }

    /// PurgeUrlsCache requests, each at most `urlBatch` URLs, oldest first.
    public var urlBatches: [[QueuedURL]] = []
    /// PurgePathCache requests (FlushType=flush) for what the URL quota cannot cover.
    public var directoryBatches: [DirectoryBatch] = []
    /// Queued URLs that fit nowhere today: they wait for the quota reset.
    public var waiting: [Int64] = []
    /// Site roots chosen as directories (a purge of a whole host: worth a warning).
    public var siteRoots: [String] = []

    public init() {}
}

/// Splits a queue into requests: URL batches while the URL quota lasts, then (with
/// `directory_fallback`) directory purges for the rest — deepest directories first, each
/// covering as many queued URLs as possible, a site root only when nothing narrower fits the
/// path quota — and what still does not fit waits.
///
/// When the URL quota cannot cover the queue, it is spent first on the URLs whose only directory
/// cover would be their site root (`/sitemap.xml`, `/robots.txt`, the bare `https://host/`), so
/// that one top-level file never turns a narrow fallback into a whole-host purge; the rest of the
/// URL quota goes to the oldest of the other URLs.
public enum Planner {
    public static func plan(queue: [QueuedURL], quota: QuotaView, directoryFallback: Bool) -> PurgePlan {
        var plan = PurgePlan()
        let ordered = queue.sorted { $0.id < $1.id }
        let urlBatch = max(1, quota.urlBatch)
        let urlSlots = max(0, quota.urlAvailable)
        var sent: [QueuedURL]
        var rest: [QueuedURL]
        /// Top-level URLs beyond the URL quota: never a reason to purge a whole host.
        var topLevelLeft: [QueuedURL] = []
        if ordered.count <= urlSlots {
            sent = ordered
            rest = []
        } else if directoryFallback && quota.pathAvailable > 0 {
            // Top-level URLs first: a directory purge could only cover them with the site root.
            var topLevel: [QueuedURL] = []
            var deeper: [QueuedURL] = []
            for queued in ordered {
                if DirectoryCover.isTopLevel(queued.url) {
                    topLevel.append(queued)
                } else {
                    deeper.append(queued)
                }
            }
            let topSent = min(topLevel.count, urlSlots)
            let deeperSent = min(deeper.count, urlSlots - topSent)
            sent = Array(topLevel[..<topSent])
            sent += deeper[..<deeperSent]
            if topSent > 0 && deeperSent > 0 { sent.sort { $0.id < $1.id } }
            rest = Array(deeper[deeperSent...])
            topLevelLeft = Array(topLevel[topSent...])
        } else {
            sent = Array(ordered[..<urlSlots])
            rest = Array(ordered[urlSlots...])
        }
        var start = 0
        while start < sent.count {
            let end = min(start + urlBatch, sent.count)
            plan.urlBatches.append(Array(sent[start..<end]))
            start = end
        }
        sent = []
        guard !rest.isEmpty || !topLevelLeft.isEmpty else { return plan }
        guard directoryFallback, quota.pathAvailable > 0 else {
            plan.waiting = rest.map(\.id)
            return plan
        }
        var cover = DirectoryCover.cover(rest, slots: quota.pathAvailable)
        // A top-level URL rides along when its host's root is purged anyway (nothing narrower
        // fitted the deeper URLs); otherwise it waits for the URL quota rather than widen the
        // purge to the whole host.
        var waitingTopLevel: [Int64] = []
        for queued in topLevelLeft {
            let root = DirectoryCover.siteRoot(of: queued.url)
            if let index = cover.directories.firstIndex(where: { $0.isSiteRoot && $0.url == root }) {
                cover.directories[index].covers.append(queued.id)
                cover.directories[index].covers.sort()
            } else {
                waitingTopLevel.append(queued.id)
            }
        }
        cover.uncovered += waitingTopLevel
        let pathBatch = max(1, quota.pathBatch)
        var index = 0
        while index < cover.directories.count {
            let chunk = cover.directories[index..<min(index + pathBatch, cover.directories.count)]
            plan.directoryBatches.append(
                .init(directories: chunk.map(\.url), covers: chunk.flatMap(\.covers).sorted()))
            index += pathBatch
        }
        plan.siteRoots = cover.directories.filter(\.isSiteRoot).map(\.url)
        plan.waiting = cover.uncovered.sorted()
        return plan
    }
}

/// Chooses at most `slots` directory URLs that cover a set of URLs.
///
/// The queued URLs' directories form a trie (one per host). Files directly in a directory can
/// only be covered by it or an ancestor, so the deepest possible cover is, per subtree, the
/// directory itself when it holds files, else the union of its children's covers. When that
/// needs more than `slots` directories, subtrees are collapsed into their top directory, deepest
/// first and the one saving the most slots first at each depth, until the cover fits; a site
/// root is collapsed only when nothing deeper saves enough. Two linear passes over the trie, one
/// sort per depth: no rescans.
public enum DirectoryCover {
    struct Chosen {
        var url: String
        var covers: [Int64]
        var isSiteRoot: Bool
    }

    /// The index of the `/` that ends `scheme://host`, or nil.
    @inline(__always)
    private static func hostSlash(_ url: Substring) -> String.Index? {
        let bytes = url.utf8
        var index = bytes.startIndex
        var colonSlashSlash = 0  // progress through "://"
        while index != bytes.endIndex {
            let byte = bytes[index]
            if colonSlashSlash == 3 {
                if byte == UInt8(ascii: "/") { return index }
            } else if byte == UInt8(ascii: ":") && colonSlashSlash == 0 {
                colonSlashSlash = 1
            } else if byte == UInt8(ascii: "/") && colonSlashSlash > 0 {
                colonSlashSlash += 1
            } else {
                colonSlashSlash = 0
            }
            index = bytes.index(after: index)
        }
        return nil
    }

    /// `scheme://host/` of a URL (its site root's directory URL), or nil.
    public static func siteRoot(of url: String) -> String? {
        guard let slash = hostSlash(url[...]) else { return nil }
        return String(url[...slash])
    }

    /// Whether the only directory that could cover `url` is its site root (`https://h/x`, `https://h/`).
    public static func isTopLevel(_ url: String) -> Bool {
        let text = url[...]
        guard let slash = hostSlash(text) else { return false }
        return text.utf8.lastIndex(of: UInt8(ascii: "/")) == slash
    }

    /// The URL of the directory that holds `url` (`scheme://host/a/b/`; a URL ending in `/` is
    /// its own directory), or nil for a URL that is not `scheme://host/...`.
    static func directoryURL(of url: Substring) -> Substring? {
        guard hostSlash(url) != nil, let lastSlash = url.utf8.lastIndex(of: UInt8(ascii: "/")) else { return nil }
        return url[...lastSlash]
    }

    /// The trie, as arrays indexed by node.
    private struct Trie {
        var url: [Substring] = []
        var parent: [Int] = []
        var depth: [Int] = []
        var direct: [[Int64]] = []
        var index: [Substring: Int] = [:]

        /// The node of the directory URL `directory` (ends in `/`; created with its ancestors
        /// as needed). A site root (`scheme://host/`) has no parent.
        mutating func node(_ directory: Substring) -> Int {
            if let existing = index[directory] { return existing }
            var parentNode = -1
            var nodeDepth = 0
            let last = directory.utf8.index(before: directory.utf8.endIndex)
            if let root = DirectoryCover.hostSlash(directory), root != last,
                let slash = directory.utf8[..<last].lastIndex(of: UInt8(ascii: "/"))
            {
                parentNode = node(directory[...slash])
                nodeDepth = depth[parentNode] + 1
            }
            let id = url.count
            url.append(directory)
            parent.append(parentNode)
            depth.append(nodeDepth)
            direct.append([])
            index[directory] = id
            return id
        }
    }

    static func cover(_ urls: [QueuedURL], slots: Int) -> (directories: [Chosen], uncovered: [Int64]) {
        var trie = Trie()
        var uncovered: [Int64] = []
        for queued in urls {
            if let directory = directoryURL(of: queued.url[...]) {
                trie.direct[trie.node(directory)].append(queued.id)
            } else {
                uncovered.append(queued.id)
            }
        }
        let count = trie.url.count
        guard count > 0 else { return ([], uncovered) }
        let maxDepth = trie.depth.max() ?? 0
        var byDepth = [[Int]](repeating: [], count: maxDepth + 1)
        for node in 0..<count { byDepth[trie.depth[node]].append(node) }

        // Pass 1: the deepest cover's size per subtree.
        var need = [Int](repeating: 0, count: count)
        var childSum = [Int](repeating: 0, count: count)
        for depth in stride(from: maxDepth, through: 0, by: -1) {
            for node in byDepth[depth] {
                need[node] = trie.direct[node].isEmpty ? childSum[node] : 1
                if trie.parent[node] >= 0 { childSum[trie.parent[node]] += need[node] }
            }
        }
        var excess = byDepth[0].reduce(0) { $0 + need[$1] } - slots

        // Nodes beneath a directory that holds files are covered by it whatever happens below:
        // collapsing them saves nothing.
        var pinnedAbove = [Bool](repeating: false, count: count)
        for depth in 1..<(maxDepth + 1) {
            for node in byDepth[depth] {
                let parent = trie.parent[node]
                pinnedAbove[node] = pinnedAbove[parent] || !trie.direct[parent].isEmpty
            }
        }

        // Pass 2: collapse subtrees, deepest first, the largest saving first at each depth.
        var collapsed = [Bool](repeating: false, count: count)
        if excess > 0 {
            childSum = [Int](repeating: 0, count: count)
            for depth in stride(from: maxDepth, through: 0, by: -1) {
                var candidates: [Int] = []
                for node in byDepth[depth] {
                    need[node] = trie.direct[node].isEmpty ? childSum[node] : 1
                    if need[node] > 1 && !pinnedAbove[node] { candidates.append(node) }
                }
                if excess > 0 && !candidates.isEmpty {
                    candidates.sort { need[$0] != need[$1] ? need[$0] > need[$1] : trie.url[$0] < trie.url[$1] }
                    for node in candidates where excess > 0 {
                        excess -= need[node] - 1
                        need[node] = 1
                        collapsed[node] = true
                    }
                }
                for node in byDepth[depth] where trie.parent[node] >= 0 { childSum[trie.parent[node]] += need[node] }
            }
        }

        // The chosen directories: top-down, the first node on each path that holds files or was
        // collapsed; it covers every URL beneath it.
        var children = [[Int]](repeating: [], count: count)
        for node in 0..<count where trie.parent[node] >= 0 { children[trie.parent[node]].append(node) }
        var chosen: [Chosen] = []
        func gather(_ node: Int, into ids: inout [Int64]) {
            ids += trie.direct[node]
            for child in children[node] { gather(child, into: &ids) }
        }
        var stack = byDepth[0]
        while let node = stack.popLast() {
            if collapsed[node] || !trie.direct[node].isEmpty {
                var ids: [Int64] = []
                gather(node, into: &ids)
                chosen.append(Chosen(url: String(trie.url[node]), covers: ids.sorted(), isSiteRoot: trie.parent[node] < 0))
            } else {
                stack += children[node]
            }
        }
        // More hosts than slots: the site roots that cover the most go; the rest waits.
        if chosen.count > slots {
            chosen.sort { $0.covers.count != $1.covers.count ? $0.covers.count > $1.covers.count : $0.url < $1.url }
            uncovered += chosen[slots...].flatMap(\.covers)
            chosen = Array(chosen[..<max(0, slots)])
        }
        return (chosen.sorted { $0.url < $1.url }, uncovered)
    }
}
