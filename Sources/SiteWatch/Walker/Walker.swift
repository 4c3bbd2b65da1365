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
        /// Called for each file and symbolic link; nil when only directories matter (files are
        /// then neither `lstat`ed nor matched against the exclusion rule).
        public var file: ((WalkEntry) -> Void)?
        /// Called for a directory that could not be opened or listed, or listed but whose entries
        /// could not be stat'ed (with `errno`, which the caller classifies: ``FileSystem/classify(_:)``
        /// — a reason that passes, `EMFILE` or `EIO`, must not be taken for a permanent state).
        public var unreadable: (RelativePath, Int32) -> Void = { _, _ in }

        public init(
            willList: @escaping (RelativePath, Int32) -> Void = { _, _ in },
            file: ((WalkEntry) -> Void)? = nil,
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
    /// Names stay in the listing's one buffer; an entry allocates only its ``WalkEntry`` path.
    ///
    /// When the visitor takes files, each directory's entries are visited in the order of
    /// `name` (a file) or `name/` (a directory) — so the whole walk reports files in the byte
    /// order of their paths, the manifest's order, and nobody sorts 50,000 paths afterwards.
    private func walk(directory directoryFD: Int32, path: RelativePath, cursor: ExcludeSet.Cursor, _ visitor: Visitor) {
        visitor.willList(path, directoryFD)
        guard let listed = list(directory: directoryFD, cursor: cursor, wantsFiles: visitor.file != nil) else {
            visitor.unreadable(path, errno)
            return
        }
        // Listed but not searchable (`r--`): its entries cannot be stat'ed. Report the directory
        // before its entries, so what the manifest has under it is left alone, not deleted.
        if listed.statError != 0 { visitor.unreadable(path, listed.statError) }
        visit(listed, listed.kept.indices, directory: directoryFD, path: path, cursor: cursor, visitor)
    }

    /// A directory's listing after exclusion, in visiting order.
    struct Listed: Sendable {
        var listing: FileSystem.Listing
        /// (entry index, stat for a file; nil for a directory), in visiting order.
        var kept: [(index: Int, stat: FileSystem.Stat?)]
        /// The `errno` of an entry's `lstat` that failed other than by vanishing (0: none did).
        var statError: Int32 = 0

        /// The sort key of `kept[position]`: its name, with a `/` for a directory.
        func key(_ position: Int) -> [UInt8] {
            var key = Array(listing.name(kept[position].index))
            if kept[position].stat == nil { key.append(UInt8(ascii: "/")) }
            return key
        }
    }

    /// Lists a directory, `lstat`s what must be, drops what is excluded and orders the rest.
    private func list(directory directoryFD: Int32, cursor: ExcludeSet.Cursor, wantsFiles: Bool) -> Listed? {
        guard let listing = FileSystem.listDirectory(directoryFD) else { return nil }
        let excludes = exclude.set
        var kept: [(index: Int, stat: FileSystem.Stat?)] = []
        kept.reserveCapacity(listing.entries.count)
        var statError: Int32 = 0
        listing.storage.withUnsafeBufferPointer { storage in
            for index in listing.entries.indices {
                let entry = listing.entries[index]
                let name = UnsafeBufferPointer(rebasing: storage[Int(entry.offset)..<Int(entry.offset + entry.length)])
                var kind = entry.kind
                var stat: FileSystem.Stat?
                if kind == nil || (wantsFiles && (kind == .regular || kind == .symlink)) {
                    stat = FileSystem.lstat(at: directoryFD, listing, index)
                    guard let stat else {
                        let code = errno
                        // A reason that passes wins: the caller must then fail, not just keep rows.
                        if code != ENOENT && code != ENOTDIR && (statError == 0 || FileSystem.isTransient(code)) {
                            statError = code
                        }
                        continue  // vanished since readdir, or not searchable (reported)
                    }
                    kind = stat.kind
                }
                switch kind {
                case .directory:
                    if !excludes.excludes(name: name, isDirectory: true, in: cursor) { kept.append((index, nil)) }
                case .regular, .symlink:
                    if wantsFiles, let stat, !excludes.excludes(name: name, isDirectory: false, in: cursor) {
                        kept.append((index, stat))
                    }
                default:
                    continue
                }
            }
            if wantsFiles && kept.count > 1 {
                kept.sort { Self.precedes(storage, listing.entries[$0.index], $0.stat == nil, listing.entries[$1.index], $1.stat == nil) }
            }
        }
        return Listed(listing: listing, kept: kept, statError: statError)
    }

    /// Reports the files of `listed.kept[positions]` and walks its directories, in order.
    private func visit(
        _ listed: Listed, _ positions: Range<Int>, directory directoryFD: Int32, path: RelativePath,
        cursor: ExcludeSet.Cursor, _ visitor: Visitor
    ) {
        let listing = listed.listing
        let excludes = exclude.set
        for (index, stat) in listed.kept[positions] {
            let entry = listing.entries[index]
            let child = listing.storage.withUnsafeBufferPointer { storage in
                path.appending(UnsafeBufferPointer(rebasing: storage[Int(entry.offset)..<Int(entry.offset + entry.length)]))
            }
            if let stat {
                visitor.file?(
                    WalkEntry(
                        path: child, isSymlink: stat.kind == .symlink, size: stat.size,
                        mtimeNanoseconds: stat.mtimeNanoseconds, ctimeNanoseconds: stat.ctimeNanoseconds,
                        inode: stat.inode, device: stat.device))
                continue
            }
            let fd = FileSystem.openDirectory(at: directoryFD, listing, index)
            if fd < 0 {
                let code = errno
                if code != ENOENT && code != ENOTDIR && code != ELOOP { visitor.unreadable(child, code) }
                continue
            }
            let childCursor = listing.storage.withUnsafeBufferPointer { storage in
                excludes.descend(
                    into: UnsafeBufferPointer(rebasing: storage[Int(entry.offset)..<Int(entry.offset + entry.length)]),
                    from: cursor)
            }
            walk(directory: fd, path: child, cursor: childCursor, visitor)
            close(fd)
        }
    }

    /// A directory's listing cut into contiguous parts that separate visitors can walk at the
    /// same time (the detector's full walk on two cores). Files still come in path order within
    /// a part, and every path of part *i* sorts before every path of part *i + 1*: part *i*
    /// covers the paths from ``lowerBounds``[i] (inclusive) to ``lowerBounds``[i + 1] (exclusive).
    public struct Split: Sendable {
        let listed: Listed
        let path: RelativePath
        let cursor: ExcludeSet.Cursor
        let ranges: [Range<Int>]
        /// Part *i*'s first sort key (a name, with `/` for a directory); `nil` for the first part.
        public let lowerBounds: [[UInt8]?]

        public var parts: Int { ranges.count }
    }

    /// Lists the open directory `directoryFD` (at `path`, not excluded) once and cuts its
    /// entries into at most `parts` parts of about as many entries each; nil when it cannot be
    /// listed. The directory's own `willList` is not called: a watcher adds its watch before.
    /// With `wantsFiles` false the parts hold directories only (a watcher's walk).
    public func split(directory directoryFD: Int32, path: RelativePath, parts: Int, wantsFiles: Bool = true) -> Split? {
        guard let cursor = exclude.set.cursor(at: path),
            let listed = list(directory: directoryFD, cursor: cursor, wantsFiles: wantsFiles),
            listed.statError == 0  // a caller then walks it whole, which reports the directory
        else { return nil }
        let count = listed.kept.count
        let parts = max(1, min(parts, count))
        var ranges: [Range<Int>] = []
        var start = 0
        for part in 0..<parts {
            let end = count * (part + 1) / parts
            if end > start { ranges.append(start..<end) }
            start = end
        }
        if ranges.isEmpty { ranges = [0..<0] }
        let lowerBounds = ranges.enumerated().map { $0.offset == 0 ? nil : listed.key($0.element.lowerBound) }
        return Split(listed: listed, path: path, cursor: cursor, ranges: ranges, lowerBounds: lowerBounds)
    }

    /// Walks part `part` of `split` (any part on any thread; `directoryFD` is only read).
    public func walk(_ split: Split, part: Int, directory directoryFD: Int32, _ visitor: Visitor) {
        visit(split.listed, split.ranges[part], directory: directoryFD, path: split.path, cursor: split.cursor, visitor)
    }

    /// Byte order of the sort keys `name` (a file) and `name/` (a directory), shorter first on
    /// a common prefix: SQLite's BLOB order of the paths below them.
    static func precedes(
        _ storage: UnsafeBufferPointer<UInt8>, _ lhs: (offset: Int32, length: Int32, kind: FileSystem.Kind?), _ lhsIsDirectory: Bool,
        _ rhs: (offset: Int32, length: Int32, kind: FileSystem.Kind?), _ rhsIsDirectory: Bool
    ) -> Bool {
        let lhsLength = Int(lhs.length) + (lhsIsDirectory ? 1 : 0)
        let rhsLength = Int(rhs.length) + (rhsIsDirectory ? 1 : 0)
        // A key's byte at `position`: the name's, then the directory's "/".
        func byte(_ entry: (offset: Int32, length: Int32, kind: FileSystem.Kind?), _ position: Int) -> UInt8 {
            position < Int(entry.length) ? storage[Int(entry.offset) + position] : UInt8(ascii: "/")
        }
        let common = Int(min(lhs.length, rhs.length))
        if common > 0 {
            let order = memcmp(storage.baseAddress! + Int(lhs.offset), storage.baseAddress! + Int(rhs.offset), common)
            if order != 0 { return order < 0 }
        }
        var position = common
        while position < min(lhsLength, rhsLength) {
            let (left, right) = (byte(lhs, position), byte(rhs, position))
            if left != right { return left < right }
            position += 1
        }
        return lhsLength < rhsLength
    }

    /// Walks the tree under the directory `root` (a path; a symbolic link root is followed)
    /// and returns every file, in the byte order of their paths.
    /// - Throws: ``SiteWatchError`` with ``SiteWatchError/Code/rootUnavailable``, or
    ///   ``SiteWatchError/Code/transient`` when the root or any directory or entry could not be
    ///   opened, listed or stat'ed for a reason that passes (`EMFILE`, `EIO`, …): a partial list
    ///   would make the missing files look deleted.
    public func files(under root: String) throws -> [WalkEntry] {
        let fd = FileSystem.openRoot(root)
        guard fd >= 0 else {
            let code = errno
            if FileSystem.isTransient(code) { throw SiteWatchError.transient(errno: code, path: root) }
            throw SiteWatchError(
                code: .rootUnavailable, message: "cannot open the site root \(root)", path: root, errno: code)
        }
        defer { close(fd) }
        var entries: [WalkEntry] = []
        var failure: (path: RelativePath, errno: Int32)?
        walk(
            directory: fd, path: .root,
            Visitor(
                file: { entries.append($0) },
                unreadable: { path, code in
                    if failure == nil, FileSystem.isTransient(code) { failure = (path, code) }
                }))
        if let failure { throw SiteWatchError.transient(errno: failure.errno, path: failure.path.description) }
        return entries
    }
}
