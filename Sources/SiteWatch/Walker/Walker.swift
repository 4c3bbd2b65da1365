import Glibc
import PurgeCore

/// One file found by the ``Walker``: a regular file or a symbolic link (never followed), with
/// the `lstat` data the manifest's fast path compares.
public struct WalkEntry: Sendable, Hashable {
    public var path: RelativePath
    public var isSymlink: Bool
    public var size: Int64
    public var mtimeNanoseconds: Int64
    /// The inode change time: a rewrite that restores size and mtime still moves it (SPEC §5).
    public var ctimeNanoseconds: Int64
    public var inode: UInt64
    public var device: UInt64
}

/// Walks a directory tree with `openat`/`readdir` and `d_type`, one directory descriptor per
/// level, so path length is never limited by `PATH_MAX`.
///
/// It descends only into real directories (opened with `O_NOFOLLOW`), never leaves the tree,
/// asks the exclusion rule before descending into a directory and before reporting a file,
/// and skips sockets, FIFOs and devices. Unreadable directories are reported, not fatal.
public struct Walker: Sendable {
    public let exclude: ExclusionRule

    public init(exclude: ExclusionRule = .none) {
        self.exclude = exclude
    }

    /// What the walk saw besides files.
    public struct Visitor {
        /// Called with each directory (the starting one included) while its descriptor is open,
        /// *before* it is listed — the watcher adds its inotify watch here.
        public var willList: (RelativePath, Int32) -> Void = { _, _ in }
        /// Called for each file and symbolic link.
        public var file: (WalkEntry) -> Void = { _ in }
        /// Called for a directory that could not be opened or listed (with `errno`).
        public var unreadable: (RelativePath, Int32) -> Void = { _, _ in }

        public init(
            willList: @escaping (RelativePath, Int32) -> Void = { _, _ in },
            file: @escaping (WalkEntry) -> Void = { _ in },
            unreadable: @escaping (RelativePath, Int32) -> Void = { _, _ in }
        ) {
            self.willList = willList
            self.file = file
            self.unreadable = unreadable
        }
    }

    /// Walks the open directory `directoryFD`, whose path relative to the root is `path`.
    /// `directoryFD` is not closed. Nothing is listed when `path` itself is excluded.
    public func walk(directory directoryFD: Int32, path: RelativePath, _ visitor: Visitor) {
        guard let cursor = exclude.set.cursor(at: path) else { return }
        walk(directory: directoryFD, path: path, cursor: cursor, visitor)
    }

    /// Exclusion is decided with the directory's cursor: each entry costs its own name only.
    private func walk(directory directoryFD: Int32, path: RelativePath, cursor: ExcludeSet.Cursor, _ visitor: Visitor) {
        visitor.willList(path, directoryFD)
        guard let names = FileSystem.listDirectory(directoryFD) else {
            visitor.unreadable(path, errno)
            return
        }
        let excludes = exclude.set
        var subdirectories: [(name: [UInt8], path: RelativePath)] = []
        for (name, listedKind) in names {
            var kind = listedKind
            var stat: FileSystem.Stat?
            if kind == nil || kind == .regular || kind == .symlink {
                stat = FileSystem.lstat(at: directoryFD, name)
                guard let stat else { continue }  // vanished since readdir
                kind = stat.kind
            }
            switch kind {
            case .directory:
                if !excludes.excludes(name: name, isDirectory: true, in: cursor) {
                    subdirectories.append((name, path.appending(name)))
                }
            case .regular, .symlink:
                guard let stat, !excludes.excludes(name: name, isDirectory: false, in: cursor) else { continue }
                visitor.file(
                    WalkEntry(
                        path: path.appending(name), isSymlink: kind == .symlink, size: stat.size,
                        mtimeNanoseconds: stat.mtimeNanoseconds, ctimeNanoseconds: stat.ctimeNanoseconds,
                        inode: stat.inode, device: stat.device))
            default:
                continue
            }
        }
        for (name, child) in subdirectories {
            let fd = FileSystem.openDirectory(at: directoryFD, name)
            if fd < 0 {
                let code = errno
                if code != ENOENT && code != ENOTDIR && code != ELOOP { visitor.unreadable(child, code) }
                continue
            }
            walk(directory: fd, path: child, cursor: excludes.descend(into: name, from: cursor), visitor)
            close(fd)
        }
    }

    /// Walks the tree under the directory `root` (a path; a symbolic link root is followed)
    /// and returns every file, unsorted.
    /// - Throws: ``SiteWatchError`` with ``SiteWatchError/Code/rootUnavailable``.
    public func files(under root: String) throws -> [WalkEntry] {
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SiteWatchError(
                code: .rootUnavailable, message: "cannot open the site root \(root)", path: root, errno: errno)
        }
        defer { close(fd) }
        var entries: [WalkEntry] = []
        walk(directory: fd, path: .root, Visitor(file: { entries.append($0) }))
        return entries
    }
}
