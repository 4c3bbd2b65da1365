import PurgeCore
import StateStore

/// How a file's content changed, judged by its end state against the manifest.
public enum ChangeKind: String, Sendable, Hashable, CaseIterable {
    /// On disk now, not in the manifest.
    case created
    /// On disk and in the manifest, with other bytes.
    case modified
    /// In the manifest, no longer on disk (or now excluded).
    case deleted

    /// How the queue records it.
    public var queueKind: QueueKind {
        switch self {
        case .created: .created
        case .modified: .modified
        case .deleted: .deleted
        }
    }
}

/// One changed file: its path relative to the root (raw bytes) and how it changed.
public struct Change: Sendable, Hashable, CustomStringConvertible {
    public var path: RelativePath
    public var kind: ChangeKind

    public init(path: RelativePath, kind: ChangeKind) {
        self.path = path
        self.kind = kind
    }

    public var description: String { "\(kind.rawValue) \(path)" }
}

/// What to compare against the manifest.
public enum DetectionScope: Sendable, Hashable {
    /// The whole tree: startup reconcile, recovery from an overflow, a new root, degraded mode.
    case full
    /// These paths: each a file, a directory (its subtree is walked) or a path that is gone
    /// (every manifest entry at or under it is judged).
    case paths(Set<RelativePath>)
}

/// The result of ``Detector/detect(_:in:)``: the changes, and the manifest rows that
/// ``Detector/commit(_:in:_:)`` will write with them.
public struct Detection: Sendable {
    /// The changes, sorted by path. Empty for a baseline.
    public let changes: [Change]
    /// `true` when this was the first full walk of an empty manifest: every file was recorded
    /// and nothing is reported (a new site purges nothing, SPEC §5).
    public let isBaseline: Bool
    /// Files seen on disk in the scope.
    public let filesScanned: Int
    /// Files whose content was read (the rest matched the manifest's size, mtime and inode).
    public let filesHashed: Int
    /// Paths that could not be read (`EACCES`, `EPERM`, or another `errno` that does not pass);
    /// their manifest rows are left as they were. (A reason that passes — `EMFILE`, `EIO`, … —
    /// defers the file instead: ``deferred``.)
    public let unreadable: [RelativePath]
    /// The `errno` that made each of ``unreadable`` unreadable.
    public var unreadableErrnos: [RelativePath: Int32] = [:]
    /// Files that could not be read for a reason that passes (`EMFILE`, `ENFILE`, `ENOMEM`,
    /// `EINTR`, `EAGAIN`, `EIO` on opening or reading the file itself): not judged — neither
    /// changed nor deleted, their rows untouched — and to be compared again later; the rest of the
    /// comparison stands. ``deferredError`` is the first such failure. (A directory or the root
    /// failing so fails the whole detection: ``SiteWatchError/Code/transient``.)
    public var deferred: [RelativePath] = []
    public var deferredError: SiteWatchError?
    /// Manifest rows to write with the changes, created and modified files, in the parts the
    /// comparison found them (one per walking thread: joining them into one array doubled their
    /// memory at the 50k peak, issue 23). (Unchanged files whose stat data was refreshed, and a
    /// baseline's rows, were written while comparing.)
    public let manifestUpsertParts: [[ManifestEntry]]
    /// ``manifestUpsertParts`` as one array (a copy: for reading, not for the daemon's path).
    public var manifestUpserts: [ManifestEntry] { Array(manifestUpsertParts.joined()) }
    /// Manifest rows to delete.
    public let manifestDeletions: [[UInt8]]
    /// How many of ``manifestUpserts`` are new rows (files the manifest did not have): with
    /// ``manifestDeletions`` the change in the manifest's row count, so nobody counts 1,000,000
    /// rows after each commit.
    public var manifestRowsAdded: Int = 0
    /// Rows already written while comparing: files whose bytes did not change (stat data
    /// refreshed) and, in a baseline, every file. They acknowledge no change.
    public var manifestRowsRefreshed: Int = 0

    /// `true` when committing would change nothing.
    public var isEmpty: Bool {
        changes.isEmpty && manifestUpsertParts.allSatisfy(\.isEmpty) && manifestDeletions.isEmpty && !isBaseline
    }
}
