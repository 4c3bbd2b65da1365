import Crypto
import Glibc
import PurgeCore

/// Streams a file's bytes through SHA-256 in large reads.
final class ContentHasher {
    enum Outcome {
        /// The content hash and the `fstat` of the file that was read.
        case hashed(hash: [UInt8], stat: FileSystem.Stat)
        /// Gone (`ENOENT`, `ENOTDIR`), replaced by something that is not a file, or reachable
        /// only through a symbolic link (`ELOOP` on the way).
        case gone
        /// Present but unreadable (`EACCES`, `EPERM`, or any `errno` not otherwise classified).
        case unreadable(Int32)
        /// Failed for a reason that passes (`EMFILE`, `ENFILE`, `ENOMEM`, `EINTR`, `EAGAIN`,
        /// `EIO`): nothing may be judged; the detection fails and is retried.
        case transient(Int32)

        /// The outcome of an open, stat or read that failed with `code` (``FileSystem/classify(_:)``).
        init(failure code: Int32) {
            switch FileSystem.classify(code) {
            case .gone: self = .gone
            case .unreadable(let code): self = .unreadable(code)
            case .transient(let code): self = .transient(code)
            }
        }
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
            // A failure here is judged by the component-wise open below, which fails alike.
            fd = FileSystem.openFile(at: rootFD, expected.path.bytes)
            if fd >= 0, let stat = FileSystem.fstat(fd), stat.inode != expected.inode || stat.device != expected.device {
                close(fd)
                fd = -1
            }
        }
        if fd < 0 {
            fd = openSafely(root: rootFD, path: expected.path)
            if fd < 0 {
                let code = errno
                if code == ELOOP { return hashSymlink(root: rootFD, path: expected.path) }
                return Outcome(failure: code)
            }
        }
        defer { close(fd) }
        guard let stat = FileSystem.fstat(fd) else { return Outcome(failure: errno) }
        guard stat.kind == .regular else { return .gone }
        var hasher = SHA256()
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return Outcome(failure: errno)
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
        let fd = FileSystem.openFile(at: dirFD, path.name)
        let code = errno
        close(dirFD)
        errno = code
        return fd
    }

    /// A link's content is its target path (SPEC §5): hash the `readlink` bytes.
    private func hashSymlink(root rootFD: Int32, path: RelativePath) -> Outcome {
        guard let parent = path.parent else { return .gone }
        let dirFD = FileSystem.openDirectory(root: rootFD, path: parent)
        guard dirFD >= 0 else {
            let code = errno
            return code == ELOOP ? .gone : Outcome(failure: code)  // ELOOP: a link on the way
        }
        defer { close(dirFD) }
        guard let stat = FileSystem.lstat(at: dirFD, path.name) else { return Outcome(failure: errno) }
        if stat.kind == .regular {
            // Replaced by a file since the walk: hash that instead.
            let fd = FileSystem.openFile(at: dirFD, path.name)
            guard fd >= 0 else {
                let code = errno
                return code == ELOOP ? .gone : Outcome(failure: code)  // ELOOP: a link again
            }
            close(fd)
            let entry = WalkEntry(
                path: path, isSymlink: false, size: stat.size, mtimeNanoseconds: stat.mtimeNanoseconds,
                ctimeNanoseconds: stat.ctimeNanoseconds, inode: stat.inode, device: stat.device)
            return hash(root: rootFD, entry: entry)
        }
        guard stat.kind == .symlink else { return .gone }
        guard let target = FileSystem.readLink(at: dirFD, path.name) else { return Outcome(failure: errno) }
        return .hashed(hash: Self.bytes(of: SHA256.hash(data: target)), stat: stat)
    }
}
