/// Maps a file's path to the public URLs that serve it (SPEC §4).
///
/// Pure and deterministic: the same rules and path always give the same URLs in the same order
/// (for each `urls` entry: the file URL, then the directory URL, then the bare directory URL),
/// deduplicated as exact strings.
public struct PathMapper: Sendable {
    public let rules: [SiteConfig.Rule]
    public let exclude: [ExcludeGlob]
    public let excludeSet: ExcludeSet
    public let urlEncode: Bool
    /// Rules by descending prefix length, so the first match is the longest.
    private let rulesByLength: [SiteConfig.Rule]

    public init(rules: [SiteConfig.Rule], exclude: [ExcludeGlob], urlEncode: Bool) {
        self.rules = rules
        self.exclude = exclude
        self.excludeSet = ExcludeSet(exclude)
        self.urlEncode = urlEncode
        self.rulesByLength = rules.sorted { $0.prefix.utf8.count > $1.prefix.utf8.count }
    }

    /// What a path maps to, and why.
    public struct Mapping: Sendable, Equatable {
        public var path: RelativePath
        public var excluded: Bool
        /// The prefix of the rule that matched, or nil when no rule did.
        public var rule: String?
        public var urls: [String]
    }

    /// Whether an exclude pattern matches the path or a directory above it.
    public func isExcluded(_ path: RelativePath, isDirectory: Bool = false) -> Bool {
        excludeSet.excludes(path, isDirectory: isDirectory)
    }

    /// The rule whose prefix is the longest one the path starts with.
    public func rule(for path: RelativePath) -> SiteConfig.Rule? {
        rulesByLength.first { path.bytes.starts(with: $0.prefix.utf8) }
    }

    /// The URLs of a file (an excluded path maps to none).
    public func map(_ path: RelativePath) -> Mapping {
        let rule = rule(for: path)
        if isExcluded(path) {
            return Mapping(path: path, excluded: true, rule: rule?.prefix, urls: [])
        }
        guard let rule else {
            return Mapping(path: path, excluded: false, rule: nil, urls: [])
        }
        return Mapping(path: path, excluded: false, rule: rule.prefix, urls: urls(for: path, rule: rule))
    }

    private func urls(for path: RelativePath, rule: SiteConfig.Rule) -> [String] {
        let rest = Array(path.bytes.dropFirst(rule.prefix.utf8.count))
        let restEncoded = URLPercentEncoding.encode(rest, keepNonASCII: urlEncode)
        let fileName = String(decoding: path.fileName, as: UTF8.self)
        let isIndex = !rest.isEmpty && rule.index.contains { Array($0.utf8) == Array(path.fileName) && $0 == fileName }
        var directoryEncoded: String?
        if isIndex {
            let directory = Array(rest.dropLast(path.fileName.count))  // "" or "sub/dir/"
            directoryEncoded = URLPercentEncoding.encode(directory, keepNonASCII: urlEncode)
        }
        var seen = Set<String>()
        var out: [String] = []
        func add(_ url: String) {
            if seen.insert(url).inserted { out.append(url) }
        }
        for base in rule.urls {
            if !rest.isEmpty { add(base + restEncoded) }
            if let directoryEncoded {
                add(base + directoryEncoded)
                if rule.indexBare && !directoryEncoded.isEmpty {
                    add(base + String(directoryEncoded.dropLast()))
                }
            }
        }
        return out
    }
}
