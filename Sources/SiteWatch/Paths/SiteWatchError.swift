import Glibc

/// An error that leaves SiteWatch: a code to switch on, the path concerned, `errno` when a
/// system call failed, and a message that says what to do next.
public struct SiteWatchError: Error, CustomStringConvertible, Sendable, Hashable {
    public enum Code: String, Sendable {
        /// The site root cannot be opened as a directory (missing, not a directory, no permission).
        case rootUnavailable
        /// `inotify_add_watch` failed with `ENOSPC`: `fs.inotify.max_user_watches` is too low.
        case watchLimitReached
        /// `inotify_init1` failed with `EMFILE`: `fs.inotify.max_user_instances` is too low.
        case instanceLimitReached
        /// Any other failed system call.
        case systemCallFailed
        /// Opening, listing, stat-ing or reading a file or directory failed for a reason that
        /// passes — `EMFILE`, `ENFILE`, `ENOMEM`, `EINTR`, `EAGAIN`, `EIO` — so nothing was
        /// judged: keep the scope pending and compare it again later. The manifest holds no
        /// change or deletion from the failed comparison. ``SiteWatchError/errno`` and
        /// ``SiteWatchError/path`` say which call failed where.
        case transient
    }

    public let code: Code
    public let message: String
    public let path: String?
    public let errno: Int32?
    /// For ``Code/watchLimitReached``: the `max_user_watches` value that would fit the tree.
    public let requiredWatchLimit: Int?

    public init(code: Code, message: String, path: String? = nil, errno: Int32? = nil, requiredWatchLimit: Int? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.errno = errno
        self.requiredWatchLimit = requiredWatchLimit
    }

    /// A ``Code/transient`` error for `errno` at `path` (relative to the root, or the root itself),
    /// whose message says what to do.
    public static func transient(errno code: Int32, path: String) -> SiteWatchError {
        let what: String
        switch code {
        case EMFILE:
            what = "too many open files (EMFILE) while reading \(path): raise LimitNOFILE= in the unit, or wait"
        case ENFILE:
            what = "the system's open-file table is full (ENFILE) while reading \(path): raise fs.file-max, or wait"
        case ENOMEM:
            what = "out of memory (ENOMEM) while reading \(path): free memory or raise MemoryMax=, or wait"
        case EIO:
            what = "I/O error (EIO) while reading \(path): check the disk or the network file system (dmesg)"
        case EINTR:
            what = "interrupted (EINTR) while reading \(path)"
        case EAGAIN:
            what = "temporarily unavailable (EAGAIN) while reading \(path)"
        default:
            what = "temporary failure while reading \(path)"
        }
        return SiteWatchError(
            code: .transient,
            message: "\(what); nothing was judged, the comparison is retried with the same paths",
            path: path, errno: code)
    }

    public var description: String {
        var text = message
        if let errno { text += " (\(String(cString: strerror(errno))), errno \(errno))" }
        return text
    }
}
