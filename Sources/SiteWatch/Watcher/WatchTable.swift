import PurgeCore

/// The inotify reader's watches: watch descriptor ↔ directory path, plus a tree of the watched
/// directories by path, so that a subtree moved or removed costs the subtree, not the table.
///
/// `rm -rf` of 10,000 directories sends 10,000 `IN_DELETE`s on directories; scanning every watch
/// for each would be 10⁸ path comparisons on the thread that must keep the kernel's queue from
/// overflowing. The tree links each watched path to its parent path (and through parents that
/// are not watched themselves, as in degraded mode, up to the first linked ancestor), so
/// ``removeSubtree(_:)`` and ``renameSubtree(from:to:)`` visit only what lies beneath.
struct WatchTable {
    private var pathOf: [Int32: RelativePath] = [:]
    private var wdOf: [RelativePath: Int32] = [:]
    /// Parent path → the child paths with a watch at or beneath them.
    private var children: [RelativePath: Set<RelativePath>] = [:]

    var count: Int { pathOf.count }
    var descriptors: Dictionary<Int32, RelativePath>.Keys { pathOf.keys }

    func path(of wd: Int32) -> RelativePath? { pathOf[wd] }
    func wd(of path: RelativePath) -> Int32? { wdOf[path] }

    /// Records `wd` as watching `path`.
    /// - Returns: a descriptor that watched `path` before and names another directory now (the
    ///   caller removes it from the kernel), if any.
    @discardableResult
    mutating func set(_ wd: Int32, for path: RelativePath) -> Int32? {
        var replaced: Int32?
        if let old = pathOf[wd], old != path, wdOf[old] == wd {
            wdOf[old] = nil
            unlinkIfBare(old)
        }
        if let previous = wdOf[path], previous != wd, pathOf[previous] == path {
            pathOf[previous] = nil
            replaced = previous
        }
        pathOf[wd] = path
        wdOf[path] = wd
        link(path)
        return replaced
    }

    /// Forgets `wd` (its watch is gone: `IN_IGNORED`).
    /// - Returns: the path it watched, if the table still had it.
    @discardableResult
    mutating func remove(wd: Int32) -> RelativePath? {
        guard let path = pathOf.removeValue(forKey: wd) else { return nil }
        if wdOf[path] == wd {
            wdOf[path] = nil
            unlinkIfBare(path)
        }
        return path
    }

    /// Forgets every watch at or beneath `path`.
    /// - Returns: their descriptors (the caller removes them from the kernel).
    mutating func removeSubtree(_ path: RelativePath) -> [Int32] {
        let nodes = subtree(path)
        var removed: [Int32] = []
        for node in nodes {
            if let wd = wdOf.removeValue(forKey: node) {
                if pathOf[wd] == node { pathOf[wd] = nil }
                removed.append(wd)
            }
            children[node] = nil
        }
        unlink(path)
        return removed
    }

    /// A directory moved within the tree: the watches beneath it stay (same inodes) under new paths.
    /// - Returns: descriptors that watched a path now taken by the moved subtree (an empty
    ///   directory renamed over): the caller retires them, their directory is gone.
    @discardableResult
    mutating func renameSubtree(from old: RelativePath, to new: RelativePath) -> [Int32] {
        guard old != new else { return [] }
        var replaced: [Int32] = []
        let nodes = subtree(old)
        var moved: [(RelativePath, Int32)] = []
        for node in nodes {
            if let wd = wdOf.removeValue(forKey: node) { moved.append((node, wd)) }
            children[node] = nil
        }
        unlink(old)
        for (node, wd) in moved {
            let renamed = RelativePath(new.bytes + node.bytes.dropFirst(old.bytes.count))
            if let previous = wdOf[renamed], previous != wd, pathOf[previous] == renamed {
                pathOf[previous] = nil
                replaced.append(previous)
            }
            pathOf[wd] = renamed
            wdOf[renamed] = wd
            link(renamed)
        }
        return replaced
    }

    /// Forgets everything. - Returns: every descriptor.
    mutating func removeAll() -> [Int32] {
        let all = Array(pathOf.keys)
        pathOf = [:]
        wdOf = [:]
        children = [:]
        return all
    }

    // MARK: - The tree

    /// `path` and every node beneath it.
    private func subtree(_ path: RelativePath) -> [RelativePath] {
        var nodes = [path]
        var index = 0
        while index < nodes.count {
            if let below = children[nodes[index]] { nodes.append(contentsOf: below) }
            index += 1
        }
        return nodes
    }

    /// Links `path` to its parent, and the parent to its own, up to the first existing link.
    private mutating func link(_ path: RelativePath) {
        var child = path
        while let parent = child.parent {
            guard children[parent, default: []].insert(child).inserted else { return }
            child = parent
        }
    }

    /// `path` lost its watch: unlink it when nothing watched lies beneath it either.
    private mutating func unlinkIfBare(_ path: RelativePath) {
        if children[path]?.isEmpty ?? true { unlink(path) }
    }

    /// Removes `path`'s link to its parent, then each ancestor's that is left with no child and
    /// no watch of its own.
    private mutating func unlink(_ path: RelativePath) {
        children[path] = nil
        var child = path
        while let parent = child.parent {
            children[parent]?.remove(child)
            guard children[parent]?.isEmpty ?? true, wdOf[parent] == nil else { return }
            children[parent] = nil
            child = parent
        }
    }
}
