import PurgeCore

/// Why the whole tree must be walked against the manifest.
public enum RescanReason: Sendable, Hashable, CustomStringConvertible {
    /// `IN_Q_OVERFLOW`: the kernel queue filled and events were lost.
    case overflow
    /// An event arrived for a watch descriptor the watcher does not know.
    case unknownWatch(Int32)
    /// `inotify_add_watch` failed (other than the directory vanishing or the watch limit).
    case watchFailed(path: RelativePath, errno: Int32)
    /// The root now resolves to another directory (a symlink swap, or the directory replaced).
    case rootReplaced(String)
    /// The periodic walk of degraded mode (the watch limit was hit).
    case degradedPeriodic

    public var description: String {
        switch self {
        case .overflow: "inotify queue overflow (IN_Q_OVERFLOW)"
        case .unknownWatch(let wd): "event for unknown watch descriptor \(wd)"
        case .watchFailed(let path, let errno): "inotify_add_watch failed for \(path) (errno \(errno))"
        case .rootReplaced(let target): "site root replaced, now \(target)"
        case .degradedPeriodic: "periodic walk (degraded mode: watch limit reached)"
        }
    }
}

/// What the watcher reports. It never judges content: it says where to look.
public enum SiteEvent: Sendable, Hashable {
    /// These paths may have changed: files, directories (walk the subtree) or paths that are gone.
    case touched(Set<RelativePath>)
    /// Events may have been lost or the tree replaced: walk the whole tree against the manifest.
    case rescanNeeded(RescanReason)
    /// `inotify_add_watch` hit `fs.inotify.max_user_watches`. The error names the `sysctl` line to
    /// run; until the watches fit, the tree is walked periodically (``RescanReason/degradedPeriodic``).
    case degraded(SiteWatchError)
    /// The watches fit again (the limit was raised); degraded mode has ended.
    case watchesRestored
    /// The root cannot be opened (not deployed yet, mid-replacement or removed); the payload is
    /// the configured root. Detection would fail; the nearest existing directory on the way to the
    /// root is watched and a ``rescanNeeded(_:)`` (``RescanReason/rootReplaced(_:)``) follows when
    /// the root is there. Also the first event of a monitor started before the root exists.
    case rootUnavailable(String)
    /// The answer to ``SiteMonitor/barrier(_:)``: every event the kernel had queued when the
    /// barrier was asked for has been read and delivered before this one (a deploy's writes
    /// returned before its `flush`, so their events are among them).
    case barrier(UInt64)
}
