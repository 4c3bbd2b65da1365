import PurgeCore

/// The caller's exclusion rule: which paths (relative to the root, raw bytes) are never hashed,
/// descended into or watched.
///
/// Built from the config's ``ExcludeSet``; the walker uses its per-directory cursor so an entry
/// costs only its own name. `callAsFunction` answers for any path (ancestors included), for
/// single paths from inotify events.
public struct ExclusionRule: Sendable {
    public let set: ExcludeSet

    public init(_ set: ExcludeSet) { self.set = set }

    /// Patterns by text (tests and tools).
    public init(patterns: [String]) { self.init(ExcludeSet(patterns: patterns)) }

    /// Nothing is excluded.
    public static let none = ExclusionRule(ExcludeSet([]))

    /// `true` when the path or a directory above it is excluded.
    public func callAsFunction(_ relativePath: [UInt8], _ isDirectory: Bool) -> Bool {
        set.excludes(RelativePath(relativePath), isDirectory: isDirectory)
    }
}
