import Glibc
import PurgeCore

/// Thin wrappers over the `*at` system calls, on raw-byte names. Nothing here follows a
/// symbolic link inside the tree.
enum FileSystem {
    enum Kind: Sendable, Equatable {
        case regular, symlink, directory, other
    }

    struct Stat: Sendable, Equatable {
        var kind: Kind
        var size: Int64
        var mtimeNanoseconds: Int64
        var ctimeNanoseconds: Int64
        var inode: UInt64
        var device: UInt64
    }

    static func stat(from st: Glibc.stat) -> Stat {
        let kind: Kind
        switch st.st_mode & 0o170000 {
        case 0o100000: kind = .regular
        case 0o120000: kind = .symlink
        case 0o040000: kind = .directory
        default: kind = .other
        }
        return Stat(
            kind: kind, size: Int64(st.st_size),
            mtimeNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
            ctimeNanoseconds: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec),
            inode: UInt64(st.st_ino), device: UInt64(st.st_dev))
    }

    /// Calls `body` with `bytes` as a NUL-terminated C string.
    static func withCString<T>(_ bytes: some Collection<UInt8>, _ body: (UnsafePointer<CChar>) throws -> T) rethrows
        -> T
    {
        var buffer = [CChar]()
        buffer.reserveCapacity(bytes.count + 1)
        for byte in bytes { buffer.append(CChar(bitPattern: byte)) }
        buffer.append(0)
        return try buffer.withUnsafeBufferPointer { try body($0.baseAddress!) }
    }

    /// `fstatat(dirFD, name, AT_SYMLINK_NOFOLLOW)`; `nil` with `errno` set on failure.
    static func lstat(at dirFD: Int32, _ name: some Collection<UInt8>) -> Stat? {
        var st = Glibc.stat()
        let rc = withCString(name) { fstatat(dirFD, $0, &st, AT_SYMLINK_NOFOLLOW) }
        return rc == 0 ? stat(from: st) : nil
    }

    static func fstat(_ fd: Int32) -> Stat? {
        var st = Glibc.stat()
        return Glibc.fstat(fd, &st) == 0 ? stat(from: st) : nil
    }

    /// Opens the directory `name` under `dirFD` without following a symbolic link; -1 on failure.
    static func openDirectory(at dirFD: Int32, _ name: some Collection<UInt8>) -> Int32 {
        withCString(name) { openat(dirFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
    }

    /// Opens the directory at `path` under `rootFD` one component at a time, following no
    /// symbolic link on the way; `dirFD` itself (duplicated) for the root. -1 on failure.
    static func openDirectory(root rootFD: Int32, path: RelativePath) -> Int32 {
        var current = dup(rootFD)
        guard current >= 0 else { return -1 }
        for component in path.components {
            let next = openDirectory(at: current, component)
            let saved = errno
            close(current)
            guard next >= 0 else {
                errno = saved
                return -1
            }
            current = next
        }
        return current
    }

    /// Reads the target of the symbolic link `name` under `dirFD`.
    static func readLink(at dirFD: Int32, _ name: some Collection<UInt8>) -> [UInt8]? {
        var capacity = 256
        while capacity <= 1 << 16 {
            var buffer = [UInt8](repeating: 0, count: capacity)
            let count = withCString(name) { cName in
                buffer.withUnsafeMutableBytes {
                    readlinkat(dirFD, cName, $0.baseAddress!.assumingMemoryBound(to: CChar.self), capacity)
                }
            }
            if count < 0 { return nil }
            if count < capacity { return Array(buffer[0..<count]) }
            capacity *= 4
        }
        return nil
    }

    /// The names in an open directory (without `.` and `..`), with `d_type` mapped to a kind
    /// (`nil` for `DT_UNKNOWN`). Takes ownership of nothing: `dirFD` stays open.
    /// One directory's entries ("." and ".." left out): every name NUL-terminated in one buffer,
    /// so a walk costs two allocations per directory, not one per entry, and a name goes to
    /// `fstatat`/`openat` without a copy.
    struct Listing: Sendable {
        /// The names, each followed by a NUL.
        var storage: [UInt8] = []
        /// Each entry: where its name starts in ``storage``, its length, and `d_type` (nil: unknown).
        var entries: [(offset: Int32, length: Int32, kind: Kind?)] = []

        /// The entry's name (no NUL).
        func name(_ index: Int) -> ArraySlice<UInt8> {
            let entry = entries[index]
            return storage[Int(entry.offset)..<Int(entry.offset + entry.length)]
        }
    }

    /// Lists `dirFD` from its start (the descriptor itself is left open and unmoved).
    static func listDirectory(_ dirFD: Int32) -> Listing? {
        let copy = dup(dirFD)
        guard copy >= 0, let dir = fdopendir(copy) else { return nil }
        defer { closedir(dir) }
        // The duplicate shares the file offset: start from the top even if this descriptor was
        // listed before (the watcher lists its long-lived root descriptor on every resync).
        rewinddir(dir)
        var listing = Listing()
        while let entry = readdir(dir) {
            let length = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: UInt8.self, capacity: 256) { name -> Int in
                    let length = strlen(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self))
                    if length == 1 && name[0] == 0x2E { return 0 }
                    if length == 2 && name[0] == 0x2E && name[1] == 0x2E { return 0 }
                    listing.storage.append(contentsOf: UnsafeBufferPointer(start: name, count: length + 1))
                    return length
                }
            }
            if length == 0 { continue }
            let kind: Kind?
            switch Int(entry.pointee.d_type) {
            case Int(DT_REG): kind = .regular
            case Int(DT_DIR): kind = .directory
            case Int(DT_LNK): kind = .symlink
            case Int(DT_UNKNOWN): kind = nil
            default: kind = .other
            }
            listing.entries.append((Int32(listing.storage.count - length - 1), Int32(length), kind))
        }
        return listing
    }

    /// `fstatat(dirFD, listing's entry, AT_SYMLINK_NOFOLLOW)` without copying the name.
    static func lstat(at dirFD: Int32, _ listing: Listing, _ index: Int) -> Stat? {
        var st = Glibc.stat()
        let offset = Int(listing.entries[index].offset)
        let rc = listing.storage.withUnsafeBufferPointer { buffer in
            fstatat(dirFD, UnsafeRawPointer(buffer.baseAddress! + offset).assumingMemoryBound(to: CChar.self), &st, AT_SYMLINK_NOFOLLOW)
        }
        return rc == 0 ? stat(from: st) : nil
    }

    /// ``openDirectory(at:_:)`` for a listing's entry, without copying the name.
    static func openDirectory(at dirFD: Int32, _ listing: Listing, _ index: Int) -> Int32 {
        let offset = Int(listing.entries[index].offset)
        return listing.storage.withUnsafeBufferPointer { buffer in
            openat(
                dirFD, UnsafeRawPointer(buffer.baseAddress! + offset).assumingMemoryBound(to: CChar.self),
                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
    }

    /// The canonical absolute path of `path` (following symbolic links), or `nil`.
    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Nanoseconds since the epoch (CLOCK_REALTIME, the clock file timestamps use).
    static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
