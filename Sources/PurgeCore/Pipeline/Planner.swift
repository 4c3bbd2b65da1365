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
public enum Planner {
    public static func plan(queue: [QueuedURL], quota: QuotaView, directoryFallback: Bool) -> PurgePlan {
        var plan = PurgePlan()
        let ordered = queue.sorted { $0.id < $1.id }
        let urlBatch = max(1, quota.urlBatch)
        let fitting = min(ordered.count, max(0, quota.urlAvailable))
        var start = 0
        while start < fitting {
            let end = min(start + urlBatch, fitting)
            plan.urlBatches.append(Array(ordered[start..<end]))
            start = end
        }
        let rest = Array(ordered[fitting...])
        guard !rest.isEmpty else { return plan }
        guard directoryFallback, quota.pathAvailable > 0 else {
            plan.waiting = rest.map(\.id)
            return plan
        }
        let cover = DirectoryCover.cover(rest, slots: quota.pathAvailable)
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
enum DirectoryCover {
    struct Directory: Hashable {
        var origin: Substring  // "https://host"
        var segments: [Substring]
        var url: String { String(origin) + "/" + segments.map { $0 + "/" }.joined() }
        var isSiteRoot: Bool { segments.isEmpty }
        var parent: Directory { Directory(origin: origin, segments: Array(segments.dropLast())) }
    }

    struct Chosen {
        var url: String
        var covers: [Int64]
        var isSiteRoot: Bool
    }

    /// The directory a URL lives in (a URL ending in `/` is its own directory); nil for a URL
    /// that is not `scheme://host/...`.
    static func directory(of url: String) -> Directory? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let afterScheme = url[schemeEnd.upperBound...]
        guard let slash = afterScheme.firstIndex(of: "/") else { return nil }
        let origin = url[..<slash]
        var segments = url[url.index(after: slash)...].split(separator: "/", omittingEmptySubsequences: false)
        segments.removeLast()  // the file name, or "" after a trailing slash
        return Directory(origin: origin, segments: segments.filter { !$0.isEmpty })
    }

    static func cover(_ urls: [QueuedURL], slots: Int) -> (directories: [Chosen], uncovered: [Int64]) {
        var nodes: [Directory: [Int64]] = [:]
        var uncovered: [Int64] = []
        for queued in urls {
            if let directory = directory(of: queued.url) {
                nodes[directory, default: []].append(queued.id)
            } else {
                uncovered.append(queued.id)
            }
        }
        // Lift the deepest directories to their parents, the parent that merges the most of
        // them first, until the set fits the slots or only site roots are left.
        while nodes.count > slots {
            guard let depth = nodes.keys.map(\.segments.count).max(), depth > 0 else { break }
            let deepest = nodes.keys.filter { $0.segments.count == depth }
            let groups = Dictionary(grouping: deepest, by: \.parent)
            let (parent, members) = groups.max { lhs, rhs in
                if lhs.value.count != rhs.value.count { return lhs.value.count < rhs.value.count }
                return lhs.key.url > rhs.key.url  // deterministic: the smallest URL wins ties
            }!
            for member in members {
                nodes[parent, default: []].append(contentsOf: nodes.removeValue(forKey: member) ?? [])
            }
        }
        var chosen = nodes.map { Chosen(url: $0.key.url, covers: $0.value.sorted(), isSiteRoot: $0.key.isSiteRoot) }
        chosen.sort { $0.covers.count != $1.covers.count ? $0.covers.count > $1.covers.count : $0.url < $1.url }
        if chosen.count > slots {
            uncovered += chosen[slots...].flatMap(\.covers)
            chosen = Array(chosen[..<slots])
        }
        return (chosen.sorted { $0.url < $1.url }, uncovered)
    }
}
