/// The `[site] exclude` patterns together (SPEC §4), with a per-directory cursor so a walk
/// decides what it can once per directory instead of once per entry.
///
/// A walk asks ``cursor(at:)`` (or ``Cursor/root``) for a directory that is not excluded, then
/// ``excludes(name:isDirectory:in:)`` for each entry: name patterns read only the entry's name,
/// path patterns continue from the state they reached at the directory (a pattern that can no
/// longer match anything below the directory is dropped from its cursor), and ancestors are never
/// re-read. ``descend(into:from:)`` gives a subdirectory's cursor.
public struct ExcludeSet: Sendable {
    public let globs: [ExcludeGlob]
    private let nameGlobs: [ExcludeGlob]
    private let pathGlobs: [ExcludeGlob]

    public init(_ globs: [ExcludeGlob]) {
        self.globs = globs
        self.nameGlobs = globs.filter(\.matchesNameOnly)
        self.pathGlobs = globs.filter { !$0.matchesNameOnly }
    }

    /// Patterns by text; an invalid one is dropped (the config parser reports those).
    public init(patterns: [String]) {
        self.init(patterns.compactMap(ExcludeGlob.init))
    }

    public var isEmpty: Bool { globs.isEmpty }

    /// Whether an exclude pattern matches the path or a directory above it.
    public func excludes(_ path: RelativePath, isDirectory: Bool) -> Bool {
        globs.contains { $0.excludes(path, isDirectory: isDirectory) }
    }

    /// Where the path patterns stand after a directory's path and its `/`.
    public struct Cursor: Sendable {
        /// (index into the path patterns, states after "directory/"), live patterns only.
        fileprivate var live: [(glob: Int, states: StateSet)]
    }

    /// The cursor of the root directory.
    public var rootCursor: Cursor {
        Cursor(live: pathGlobs.indices.map { ($0, pathGlobs[$0].initialStates) })
    }

    /// The cursor of `directory`, or nil when it (or a directory above it) is excluded.
    public func cursor(at directory: RelativePath) -> Cursor? {
        var cursor = rootCursor
        for component in directory.components {
            if excludes(name: component, isDirectory: true, in: cursor) { return nil }
            cursor = descend(into: component, from: cursor)
        }
        return cursor
    }

    /// Whether the entry `name` of the directory at `cursor` is excluded (the directory itself
    /// is known not to be).
    public func excludes(name: some Collection<UInt8>, isDirectory: Bool, in cursor: Cursor) -> Bool {
        let copy = Array(name)
        return copy.withUnsafeBufferPointer { excludes(name: $0, isDirectory: isDirectory, in: cursor) }
    }

    /// ``excludes(name:isDirectory:in:)`` on bytes in place: what a walk calls per entry.
    public func excludes(name: UnsafeBufferPointer<UInt8>, isDirectory: Bool, in cursor: Cursor) -> Bool {
        for glob in nameGlobs where isDirectory || !glob.directoriesOnly {
            if glob.matchesName(name) { return true }
        }
        for (index, states) in cursor.live {
            let glob = pathGlobs[index]
            guard isDirectory || !glob.directoriesOnly else { continue }
            if glob.accepts(glob.advance(states, over: name)) { return true }
        }
        return false
    }

    /// The cursor of the subdirectory `name` of the directory at `cursor`.
    public func descend(into name: some Collection<UInt8>, from cursor: Cursor) -> Cursor {
        let copy = Array(name)
        return copy.withUnsafeBufferPointer { descend(into: $0, from: cursor) }
    }

    /// ``descend(into:from:)`` on bytes in place.
    public func descend(into name: UnsafeBufferPointer<UInt8>, from cursor: Cursor) -> Cursor {
        if cursor.live.isEmpty { return cursor }
        var live: [(glob: Int, states: StateSet)] = []
        live.reserveCapacity(cursor.live.count)
        for (index, states) in cursor.live {
            let glob = pathGlobs[index]
            let after = glob.step(glob.advance(states, over: name), UInt8(ascii: "/"))
            if !after.isEmpty { live.append((index, after)) }
        }
        return Cursor(live: live)
    }
}
