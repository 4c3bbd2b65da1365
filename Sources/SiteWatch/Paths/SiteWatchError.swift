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

    public var description: String {
        var text = message
        if let errno { text += " (\(String(cString: strerror(errno))), errno \(errno))" }
        return text
    }
}
