/// What purgewatch last recorded about one file of the site.
///
/// `path` is the raw bytes of the path relative to the site root (`/`-separated, no leading
/// slash); `hash` is the SHA-256 of the content (of the link target for a symbolic link).
public struct ManifestEntry: Sendable, Hashable {
    public var path: [UInt8]
    public var size: Int64
    public var mtimeNanoseconds: Int64
    public var inode: UInt64
    /// The inode change time (ns); nil for a row written before ctime was recorded, which is
    /// compared by content once and then recorded (SPEC §5).
    public var ctimeNanoseconds: Int64?
    /// The file system's device number; nil for a row written before it was recorded.
    public var device: UInt64?
    public var hash: [UInt8]
    /// When the content was last hashed (ns since the epoch). A file modified within the
    /// file system's timestamp granularity of this instant is re-hashed on the next check.
    public var checkedNanoseconds: Int64

    public init(
        path: [UInt8], size: Int64, mtimeNanoseconds: Int64, inode: UInt64, ctimeNanoseconds: Int64? = nil,
        device: UInt64? = nil, hash: [UInt8], checkedNanoseconds: Int64
    ) {
        self.ctimeNanoseconds = ctimeNanoseconds
        self.device = device
        self.path = path
        self.size = size
        self.mtimeNanoseconds = mtimeNanoseconds
        self.inode = inode
        self.hash = hash
        self.checkedNanoseconds = checkedNanoseconds
    }
}

enum ManifestSchema {
    static let createManifest = """
        CREATE TABLE manifest (
            path BLOB PRIMARY KEY NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            hash BLOB NOT NULL,
            checked_ns INTEGER NOT NULL
        ) WITHOUT ROWID
        """
    static let createMeta = """
        CREATE TABLE meta (
            key TEXT PRIMARY KEY NOT NULL,
            value ANY
        ) WITHOUT ROWID
        """
}
