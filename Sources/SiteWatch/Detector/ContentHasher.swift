import Crypto
import Glibc
import PurgeCore

/// Streams a file's bytes through SHA-256 in large reads.
final class ContentHasher {
    enum Outcome {
        /// The content hash and the `fstat` of the file that was read.
        case hashed(hash: [UInt8], stat: FileSystem.Stat)
        /// Gone, replaced by something that is not a file, or reachable only through a symbolic link.
        case gone
        /// Present but unreadable (`errno`).
        case unreadable(Int32)
    }

    private let buffer: UnsafeMutableRawBufferPointer

    init(bufferSize: Int = 1 << 20) {
        buffer = .allocate(byteCount: bufferSize, alignment: 4096)
    }

    deinit { buffer.deallocate() }

    /// Hashes the file or symbolic link at `path` under `rootFD`, expected to be `expected`
    /// (from the walk). A regular file is opened with `O_NOFOLLOW` and must be the same inode
    /// as walked; otherwise it is reopened one component at a time so that no symbolic link
    /// on the way is followed.
    func hash(root rootFD: Int32, entry expected: WalkEntry) -> Outcome {
        if expected.isSymlink { return hashSymlink(root: rootFD, path: expected.path) }
        var fd: Int32 = -1
        if expected.path.bytes.count < Int(PATH_MAX) - 1 {
            fd = FileSystem.withCString(expected.path.bytes) {
                openat(rootFD, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
            }
            if fd >= 0, let stat = FileSystem.fstat(fd), stat.inode != expected.inode || stat.device != expected.device
            {
                close(fd)
                fd = -1
            }
        }
        if fd < 0 {
            fd = openSafely(root: rootFD, path: expected.path)
            if fd < 0 {
                let code = errno
                if code == ELOOP { return hashSymlink(root: rootFD, path: expected.path) }
                return code == EACCES || code == EIO || code == EPERM ? .unreadable(code) : .gone
            }
        }
        defer { close(fd) }
        guard let stat = FileSystem.fstat(fd) else { return .unreadable(errno) }
        guard stat.kind == .regular else { return .gone }
        var hasher = SHA256()
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .unreadable(errno)
            }
            if count == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return .hashed(hash: Self.bytes(of: hasher.finalize()), stat: stat)
    }

    /// The digest's 32 bytes in one exact allocation (`Array(digest)` grows a buffer three times).
    static func bytes(of digest: SHA256Digest) -> [UInt8] {
        digest.withUnsafeBytes { raw in
            [UInt8](unsafeUninitializedCapacity: raw.count) { buffer, count in
                // memcpy: `raw.copyBytes(to:)` resolves to Foundation's generic DataProtocol copy.
                if let base = raw.baseAddress, raw.count > 0 { memcpy(buffer.baseAddress!, base, raw.count) }
                count = raw.count
            }
        }
    }

    private func openSafely(root rootFD: Int32, path: RelativePath) -> Int32 {
        guard let parent = path.parent else {
            errno = EISDIR
            return -1
        }
        let dirFD = FileSystem.openDirectory(root: rootFD, path: parent)
        guard dirFD >= 0 else { return -1 }
        defer { close(dirFD) }
        return FileSystem.withCString(path.name) {
            openat(dirFD, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        }
    }

    /// A link's content is its target path (SPEC §5): hash the `readlink` bytes.
    private func hashSymlink(root rootFD: Int32, path: RelativePath) -> Outcome {
        guard let parent = path.parent else { return .gone }
        let dirFD = FileSystem.openDirectory(root: rootFD, path: parent)
        guard dirFD >= 0 else { return errno == EACCES ? .unreadable(EACCES) : .gone }
        defer { close(dirFD) }
        guard let stat = FileSystem.lstat(at: dirFD, path.name) else { return .gone }
        if stat.kind == .regular {
            // Replaced by a file since the walk: hash that instead.
            let fd = FileSystem.withCString(path.name) {
                openat(dirFD, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
            }
            guard fd >= 0 else { return .gone }
            close(fd)
            let entry = WalkEntry(
                path: path, isSymlink: false, size: stat.size, mtimeNanoseconds: stat.mtimeNanoseconds,
                ctimeNanoseconds: stat.ctimeNanoseconds, inode: stat.inode, device: stat.device)
            return hash(root: rootFD, entry: entry)
        }
        guard stat.kind == .symlink, let target = FileSystem.readLink(at: dirFD, path.name) else { return .gone }
        return .hashed(hash: Self.bytes(of: SHA256.hash(data: target)), stat: stat)
    }
}
