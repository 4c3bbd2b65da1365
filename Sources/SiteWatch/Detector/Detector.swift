import Dispatch
import Glibc
import PurgeCore
import StateStore

/// Compares what is on disk with the manifest and reports created / modified / deleted files
/// by content (SPEC §5).
///
/// A file whose size, mtime (ns), ctime (ns), inode and device all match its manifest row is not
/// read (unless it was modified or changed within ``racyWindowNanoseconds`` of the last check,
/// when a same-size rewrite could keep the same coarse timestamp). ctime matters: a rewrite in
/// place that keeps the size and restores the mtime (`rsync -a --checksum --inplace`, `cp -p`)
/// cannot restore the ctime. A row recorded before ctime was (NULL) is compared by content once. Any other file is hashed with SHA-256; identical bytes with
/// new stat data are *unchanged* (only the row's stat data is refreshed). A path that vanished
/// between the event and the check is judged by its end state.
///
/// Usage, when the coalescing window closes:
/// ```swift
/// let detection = try await detector.detect(.paths(touched), in: db)
/// try await detector.commit(detection, in: db) { tx in
///     // write the queue rows for detection.changes with tx; same transaction as the manifest
/// }
/// ```
public struct Detector: Sendable {
    /// The configured root; a symbolic link is resolved at every detection, so a swapped
    /// `current -> releases/N` is compared as the new tree.
    public let root: String
    public let exclude: ExclusionRule
    /// Files modified this close to their last check are re-hashed even when their stat matches.
    public var racyWindowNanoseconds: Int64 = 1_000_000_000
    /// The size of each `read` when hashing: 128 KiB, as coreutils reads (one buffer per
    /// walking thread; 1 MiB buffers were a quarter of the daemon's peak heap, issue 23).
    public var readSize: Int = 128 << 10
    /// Manifest rows read per short read transaction while a walk is merged with them, and
    /// refreshed rows written per write transaction (each walking thread holds one chunk of each:
    /// ≈ 200 B a row with its path and digest; at 1,024 the two chunks of two threads were
    /// ≈ 0.8 MiB of the 50k peak, issue 23).
    var manifestChunk = 512
    /// Threads a walk of the whole tree uses (the root's entries cut into this many parts,
    /// each merged with its own range of the manifest): the cores, at most 2.
    public var walkThreads = max(1, min(2, sysconf(Int32(_SC_NPROCESSORS_ONLN))))

    /// The `meta` key that records that the baseline was taken.
    static let baselineKey = "sitewatch.baseline_ns"

    /// Above this many touched paths, the whole tree is walked instead (same judgments, fewer syscalls).
    static let largeScopeThreshold = 20_000

    private static let queue = DispatchQueue(label: "purgewatch.sitewatch.detector", qos: .utility)
    /// Walks the later parts of a split whole-tree walk while the detector's queue walks the first.
    private static let partQueue = DispatchQueue(
        label: "purgewatch.sitewatch.detector.parts", qos: .utility, attributes: .concurrent)

    public init(root: String, exclude: ExclusionRule = .none) {
        self.root = root
        self.exclude = exclude
    }

    /// Compares `scope` on disk with the manifest in `db`. Writes only rows that acknowledge no
    /// change (an unchanged file's refreshed stat data, a baseline's rows: see ``Merge``); the
    /// changes' rows wait for ``commit(_:in:_:)``. File I/O runs on dedicated dispatch queues,
    /// not on the cooperative pool.
    ///
    /// A `.full` detection of a manifest that never had a baseline is a baseline: no changes,
    /// every file recorded (``Detection/isBaseline``).
    /// - Throws: ``SiteWatchError`` (`rootUnavailable`) when the root cannot be opened — a root
    ///   in the middle of being replaced is retried later, never judged as "everything deleted";
    ///   ``SiteWatchError`` (`transient`) when opening, listing, stat-ing or reading anything
    ///   failed for a reason that passes (`EMFILE`, `ENFILE`, `ENOMEM`, `EINTR`, `EAGAIN`, `EIO`):
    ///   no change and no deletion was written, keep the scope pending and call again later;
    ///   ``DatabaseError`` from the manifest.
    public func detect(_ scope: DetectionScope, in db: StateDatabase) async throws -> Detection {
        try await withCheckedThrowingContinuation { continuation in
            Self.queue.async {
                continuation.resume(with: Result { try self.detectNow(scope, in: db) })
            }
        }
    }

    /// Writes the manifest rows of `detection` and whatever `body` writes in one transaction,
    /// so a change is never acknowledged (dropped from the manifest's view) before the rows
    /// derived from it — the queued URLs — are durable. If `body` throws, nothing is written.
    public func commit<T: Sendable>(
        _ detection: Detection, in db: StateDatabase, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Self.queue.async {
                continuation.resume(with: Result { try self.commitNow(detection, in: db, body) })
            }
        }
    }

    /// ``commit(_:in:_:)`` with nothing else to write (a baseline, or a dry check).
    public func commit(_ detection: Detection, in db: StateDatabase) async throws {
        try await commit(detection, in: db) { _ in () }
    }

    func commitNow<T>(_ detection: Detection, in db: StateDatabase, _ body: (Database) throws -> T) throws -> T {
        try db.transaction { tx in
            let result = try body(tx)
            for path in detection.manifestDeletions { try tx.deleteManifestEntry(path: path) }
            for part in detection.manifestUpsertParts {
                for entry in part { try tx.upsertManifestEntry(entry) }
            }
            if try detection.isBaseline || tx.metaValue(Self.baselineKey) == nil {
                try tx.setMetaValue(Self.baselineKey, .integer(FileSystem.nowNanoseconds()))
            }
            return result
        }
    }

    /// `true` once a baseline has been committed to `db`.
    public static func hasBaseline(in db: StateDatabase) throws -> Bool {
        try db.read { try $0.metaValue(baselineKey) } != nil
    }

    // MARK: - Detection

    /// Pass 1 and 2 for one scope, streamed: the walk's files arrive in path order (``Walker``)
    /// and are merged with the manifest's rows, read in path order ``manifestChunk`` at a time,
    /// each chunk in its own short read transaction (the database lock is never held across
    /// file system I/O). A file whose stat does not match its row is read at once. Nothing of
    /// the walk is kept, and of the files read only the changes: a row whose bytes did not change
    /// (only its stat data is refreshed) and, in a baseline, every row, are written a chunk at a
    /// time in their own short transactions — they acknowledge no change, so they need not wait
    /// for the queue rows of ``commit(_:in:_:)``. A rewrite of 1,000,000 files of which 5,000
    /// changed keeps 5,000 rows, not 1,000,000.
    ///
    /// A merge may cover a range of the root's paths only (one part of a split walk): rows from
    /// `lowerBound` (inclusive) to `upperBound` (exclusive). A merge is used by one thread at a
    /// time: the thread that walks its part, then the one that joins it.
    final class Merge: @unchecked Sendable {
        let db: StateDatabase
        let scope: [UInt8]
        let lowerBound: [UInt8]?
        let upperBound: [UInt8]?
        let racyWindowNanoseconds: Int64
        let chunkSize: Int
        let rootFD: Int32
        let isBaseline: Bool
        /// The check time recorded in the rows written (before any file of this detection was read).
        let now: Int64
        let hasher: ContentHasher
        private(set) var changes: [Change] = []
        /// Rows that go with the changes, written by ``Detector/commit(_:in:_:)``.
        private(set) var upserts: [ManifestEntry] = []
        private(set) var deletions: [[UInt8]] = []
        private(set) var unreadable: [RelativePath] = []
        /// The `errno` that made each of ``unreadable`` unreadable.
        private(set) var unreadableErrnos: [RelativePath: Int32] = [:]
        /// Files that could not be read for a reason that passes (EMFILE, EIO…): not judged, their
        /// rows untouched, to be compared again; and the first such failure.
        private(set) var deferred: [RelativePath] = []
        private(set) var deferredError: SiteWatchError?
        private(set) var scanned = 0
        private(set) var hashed = 0
        private(set) var rowsAdded = 0
        private(set) var rowsRefreshed = 0
        /// ``changes``, moved out: the merge keeps none.
        func takeChanges() -> [Change] {
            defer { changes = [] }
            return changes
        }

        /// ``upserts``, moved out: the merge keeps none.
        func takeUpserts() -> [ManifestEntry] {
            defer { upserts = [] }
            return upserts
        }

        /// Rows acknowledging no change, written every ``chunkSize``.
        private var refreshed: [ManifestEntry] = []
        private var chunk: [ManifestEntry] = []
        private var position = 0
        private var exhausted = false
        private var error: (any Error)?
        #if DEBUG
        private var lastPath: RelativePath?
        #endif

        init(
            db: StateDatabase, scope: [UInt8], lowerBound: [UInt8]?, upperBound: [UInt8]?, racyWindowNanoseconds: Int64,
            chunkSize: Int, rootFD: Int32, isBaseline: Bool, now: Int64, hasher: ContentHasher
        ) {
            self.lowerBound = lowerBound
            self.upperBound = upperBound
            self.chunkSize = chunkSize
            self.db = db
            self.scope = scope
            self.racyWindowNanoseconds = racyWindowNanoseconds
            self.rootFD = rootFD
            self.isBaseline = isBaseline
            self.now = now
            self.hasher = hasher
        }

        /// The next manifest row not yet merged, reading the next chunk when needed.
        private func peek() throws -> ManifestEntry? {
            if position < chunk.count { return chunk[position] }
            if exhausted { return nil }
            let after = chunk.last?.path ?? []
            chunk = try db.read { [scope, lowerBound, upperBound, chunkSize] tx in
                if lowerBound == nil && upperBound == nil {
                    return try tx.manifestEntries(atOrUnder: scope, after: after, limit: chunkSize)
                }
                return try tx.manifestEntries(from: lowerBound ?? [], below: upperBound, after: after, limit: chunkSize)
            }
            position = 0
            if chunk.count < chunkSize { exhausted = true }
            return chunk.first
        }

        /// Reads the file and judges it against its row's hash (nil: the manifest has no row).
        private func read(_ entry: WalkEntry, oldHash: [UInt8]?) throws {
            hashed += 1
            switch hasher.hash(root: rootFD, entry: entry) {
            case .hashed(let hash, let stat):
                let same = oldHash == hash
                let row = ManifestEntry(
                    path: entry.path.bytes, size: stat.size, mtimeNanoseconds: stat.mtimeNanoseconds,
                    inode: stat.inode, ctimeNanoseconds: stat.ctimeNanoseconds, device: stat.device,
                    hash: same ? oldHash! : hash, checkedNanoseconds: now)
                if oldHash == nil {
                    rowsAdded += 1
                    if isBaseline {
                        refreshed.append(row)
                    } else {
                        changes.append(Change(path: entry.path, kind: .created))
                        upserts.append(row)
                    }
                } else if same {
                    refreshed.append(row)  // same bytes: only the stat data is refreshed
                } else {
                    changes.append(Change(path: entry.path, kind: .modified))
                    upserts.append(row)
                }
                if refreshed.count >= chunkSize { try writeRefreshed() }
            case .gone:
                if oldHash != nil { deletions.append(entry.path.bytes) }
            case .unreadable(let code):
                noteUnreadable(entry.path, code)
            case .transient(let code):
                // This file is not judged (its row stays as it was) and is compared again later;
                // the rest of the comparison goes on: one file's trouble stays with it.
                deferred.append(entry.path)
                if deferredError == nil { deferredError = SiteWatchError.transient(errno: code, path: entry.path.description) }
            }
        }

        private func writeRefreshed() throws {
            guard !refreshed.isEmpty else { return }
            try db.transaction { [refreshed] tx in
                for row in refreshed { try tx.upsertManifestEntry(row) }
            }
            rowsRefreshed += refreshed.count
            refreshed.removeAll(keepingCapacity: true)
        }

        /// A row with no file on disk: deleted, unless it lies under a directory that could not be read.
        private func missing(_ row: ManifestEntry) {
            let rowPath = RelativePath(row.path)
            if unreadable.isEmpty || !unreadable.contains(where: { $0.contains(rowPath) }) { deletions.append(row.path) }
        }

        func file(_ entry: WalkEntry) {
            guard error == nil else { return }
            #if DEBUG
            assert(lastPath.map { $0 < entry.path } ?? true, "walk out of order at \(entry.path)")
            lastPath = entry.path
            #endif
            scanned += 1
            do {
                while let row = try peek(), RelativePath(row.path) < entry.path {
                    missing(row)
                    position += 1
                }
                guard let row = try peek(), row.path == entry.path.bytes else {
                    try read(entry, oldHash: nil)
                    return
                }
                position += 1
                let statMatches =
                    entry.size == row.size && entry.mtimeNanoseconds == row.mtimeNanoseconds
                    && entry.ctimeNanoseconds == row.ctimeNanoseconds && entry.inode == row.inode
                    && entry.device == row.device
                let lastChange = max(row.mtimeNanoseconds, row.ctimeNanoseconds ?? row.mtimeNanoseconds)
                let racy = lastChange + racyWindowNanoseconds >= row.checkedNanoseconds
                if !statMatches || racy { try read(entry, oldHash: row.hash) }
            } catch {
                self.error = error
            }
        }

        /// A path that could not be opened, listed or stat'ed: its rows are kept (unreadable), or
        /// — for a reason that passes (``FileSystem/Failure/transient(_:)``) — the whole merge fails.
        func noteUnreadable(_ path: RelativePath, _ code: Int32) {
            if FileSystem.isTransient(code) {
                if error == nil { error = SiteWatchError.transient(errno: code, path: path.description) }
                return
            }
            unreadable.append(path)
            unreadableErrnos[path] = code
        }

        /// A walk's visitor feeding this merge (built on the thread that walks: it is not Sendable).
        var visitor: Walker.Visitor {
            Walker.Visitor(file: { self.file($0) }, unreadable: { path, code in self.noteUnreadable(path, code) })
        }

        /// The rows after the last file are gone from disk; the refreshed rows left are written.
        /// Throws what reading or writing the manifest threw.
        func finish() throws {
            if let error { throw error }
            while let row = try peek() {
                missing(row)
                position += 1
            }
            chunk = []
            try writeRefreshed()
        }
    }

    func detectNow(_ scope: DetectionScope, in db: StateDatabase) throws -> Detection {
        let rootFD = FileSystem.openRoot(root)
        guard rootFD >= 0 else {
            let code = errno
            if FileSystem.isTransient(code) { throw SiteWatchError.transient(errno: code, path: root) }
            throw SiteWatchError(
                code: .rootUnavailable, message: "cannot open the site root \(root); will retry", path: root,
                errno: code)
        }
        defer { close(rootFD) }
        let scopes: [RelativePath]
        switch scope {
        case .full: scopes = [.root]
        case .paths(let paths):
            // A rebuild touches most of the tree: one walk is cheaper than thousands of lookups.
            scopes = paths.count > Self.largeScopeThreshold ? [.root] : Self.outermost(paths)
        }
        let isBaseline = try scope == .full && !Self.hasBaseline(in: db)
        let walker = Walker(exclude: exclude)

        // Walk each scope and merge it with its manifest rows as it goes. (Scopes are merged one
        // by one: "blog.html" sorts between "blog" and "blog/a.html" because '.' < '/'.)
        let now = FileSystem.nowNanoseconds()
        var changes: [Change] = []
        var upsertParts: [[ManifestEntry]] = []
        var deletions: [[UInt8]] = []
        var unreadable: [RelativePath] = []
        var unreadableErrnos: [RelativePath: Int32] = [:]
        var deferred: [RelativePath] = []
        var deferredError: SiteWatchError?
        var filesScanned = 0
        var hashed = 0
        var rowsAdded = 0
        var rowsRefreshed = 0
        // One read buffer per thread, for every scope (a deploy can touch 20,000 scopes).
        let hashers = (0..<max(1, walkThreads)).map { _ in ContentHasher(bufferSize: readSize) }
        for scopePath in scopes {
            let merges = walk(
                scopePath, rootFD: rootFD, walker: walker, db: db, isBaseline: isBaseline, now: now, hashers: hashers)
            for merge in merges { try merge.finish() }
            // Each part's arrays are moved out of it: its rows to write are kept as they are
            // (one part per walking thread, not joined); its changes are joined, the only merge
            // of a scope's taken as it is, the parts of a split walk into an array of the exact
            // size (appending copies grew by doubling while every part was still held: the
            // height of the peak after a 5,000-file deploy, issue 23). Never an exact
            // reservation per scope: a deploy can touch 20,000 of them.
            if merges.count > 1 {
                changes.reserveCapacity(changes.count + merges.reduce(0) { $0 + $1.changes.count + $1.deletions.count })
            }
            for merge in merges {
                if changes.isEmpty && merges.count == 1 { changes = merge.takeChanges() } else { changes += merge.takeChanges() }
                let part = merge.takeUpserts()
                if !part.isEmpty {
                    if merges.count > 1 || upsertParts.isEmpty {
                        upsertParts.append(part)
                    } else {
                        upsertParts[upsertParts.count - 1] += part  // one array for every scope's few rows
                    }
                }
                deletions += merge.deletions
                unreadable += merge.unreadable
                unreadableErrnos.merge(merge.unreadableErrnos) { first, _ in first }
                deferred += merge.deferred
                deferredError = deferredError ?? merge.deferredError
                filesScanned += merge.scanned
                hashed += merge.hashed
                rowsAdded += merge.rowsAdded
                rowsRefreshed += merge.rowsRefreshed
            }
        }
        changes.reserveCapacity(changes.count + deletions.count)
        for path in deletions { changes.append(Change(path: RelativePath(path), kind: .deleted)) }
        changes.sort { $0.path < $1.path || ($0.path == $1.path && $0.kind.rawValue < $1.kind.rawValue) }
        var detection = Detection(
            changes: isBaseline ? [] : changes, isBaseline: isBaseline, filesScanned: filesScanned,
            filesHashed: hashed, unreadable: unreadable, manifestUpsertParts: upsertParts,
            manifestDeletions: deletions)
        detection.manifestRowsAdded = rowsAdded
        detection.manifestRowsRefreshed = rowsRefreshed
        detection.unreadableErrnos = unreadableErrnos
        detection.deferred = deferred
        detection.deferredError = deferredError
        return detection
    }

    /// Walks `scopePath` and merges it with the manifest: the whole tree in ``walkThreads``
    /// parts at once (each part and its range of rows on its own thread), anything else in one.
    /// The merges come back in path order, not yet finished.
    private func walk(
        _ scopePath: RelativePath, rootFD: Int32, walker: Walker, db: StateDatabase, isBaseline: Bool, now: Int64,
        hashers: [ContentHasher]
    ) -> [Merge] {
        func merge(_ part: Int = 0, from lowerBound: [UInt8]? = nil, below upperBound: [UInt8]? = nil) -> Merge {
            Merge(
                db: db, scope: scopePath.bytes, lowerBound: lowerBound, upperBound: upperBound,
                racyWindowNanoseconds: racyWindowNanoseconds, chunkSize: manifestChunk, rootFD: rootFD,
                isBaseline: isBaseline, now: now, hasher: hashers[part])
        }
        // The root is listed once, by the split, even when it gives one part.
        guard scopePath.isRoot, let split = walker.split(directory: rootFD, path: .root, parts: hashers.count) else {
            let only = merge()
            collect(scopePath, rootFD: rootFD, walker: walker, only.visitor)
            return [only]
        }
        let merges = (0..<split.parts).map { part in
            merge(part, from: split.lowerBounds[part], below: part + 1 < split.parts ? split.lowerBounds[part + 1] : nil)
        }
        let group = DispatchGroup()
        for part in 1..<max(1, split.parts) {
            let merge = merges[part]
            Self.partQueue.async(group: group) { walker.walk(split, part: part, directory: rootFD, merge.visitor) }
        }
        walker.walk(split, part: 0, directory: rootFD, merges[0].visitor)
        group.wait()
        return merges
    }

    /// Visits the files at or under `scopePath`, in path order: nothing when it is gone,
    /// excluded, or reachable only through a symbolic link.
    private func collect(_ scopePath: RelativePath, rootFD: Int32, walker: Walker, _ visitor: Walker.Visitor) {
        if scopePath.isRoot {
            walker.walk(directory: rootFD, path: .root, visitor)
            return
        }
        // An excluded ancestor excludes everything beneath it.
        var ancestor = scopePath.parent
        while let directory = ancestor, !directory.isRoot {
            if exclude(directory.bytes, true) { return }
            ancestor = directory.parent
        }
        guard let parent = scopePath.parent else { return }
        // Gone (or behind a symbolic link: ELOOP) → nothing here, its rows are judged deleted;
        // any other failure is reported, so its rows are kept or the detection fails.
        func failed(_ code: Int32) {
            if code != ELOOP, FileSystem.classify(code) != .gone { visitor.unreadable(scopePath, code) }
        }
        let parentFD = FileSystem.openDirectory(root: rootFD, path: parent)
        guard parentFD >= 0 else { return failed(errno) }
        defer { close(parentFD) }
        let name = scopePath.name
        guard let stat = FileSystem.lstat(at: parentFD, name) else { return failed(errno) }
        switch stat.kind {
        case .directory:
            guard !exclude(scopePath.bytes, true) else { return }
            let fd = FileSystem.openDirectory(at: parentFD, name)
            guard fd >= 0 else { return failed(errno) }
            defer { close(fd) }
            walker.walk(directory: fd, path: scopePath, visitor)
        case .regular, .symlink:
            guard !exclude(scopePath.bytes, false) else { return }
            visitor.file?(
                WalkEntry(
                    path: scopePath, isSymlink: stat.kind == .symlink, size: stat.size,
                    mtimeNanoseconds: stat.mtimeNanoseconds, ctimeNanoseconds: stat.ctimeNanoseconds,
                    inode: stat.inode, device: stat.device))
        case .other:
            return
        }
    }

    /// The paths of `paths` not beneath another one of them, sorted. O(n × depth).
    static func outermost(_ paths: Set<RelativePath>) -> [RelativePath] {
        if paths.contains(.root) { return [.root] }
        var result: [RelativePath] = []
        for path in paths {
            var ancestor = path.parent
            var covered = false
            while let candidate = ancestor, !candidate.isRoot {
                if paths.contains(candidate) {
                    covered = true
                    break
                }
                ancestor = candidate.parent
            }
            if !covered { result.append(path) }
        }
        return result.sorted()
    }
}
