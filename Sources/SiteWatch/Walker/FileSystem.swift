import Glibc
import PurgeCore

#if DEBUG
import Synchronization
#endif

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

    /// Why opening, listing or stat-ing a file or directory failed, judged by `errno` alone
    /// (issue 22: never guessed). A caller that sees ``transient(_:)`` must not judge the path:
    /// a file is deferred (``Detection/deferred``), a directory or the root fails the whole
    /// detection with ``SiteWatchError/Code/transient``; either is retried later.
    enum Failure: Sendable, Equatable {
        /// `ENOENT`, `ENOTDIR`: the path is not there (a caller adds `ELOOP` where it opened
        /// with `O_NOFOLLOW` through a symbolic link).
        case gone
        /// `EACCES`, `EPERM`, and any code not listed elsewhere: present, cannot be read; its
        /// manifest rows are kept as they were and it is reported.
        case unreadable(Int32)
        /// `EMFILE`, `ENFILE`, `ENOMEM`, `EINTR`, `EAGAIN`, `EIO`: try again later.
        case transient(Int32)
    }

    static func classify(_ code: Int32) -> Failure {
        switch code {
        case ENOENT, ENOTDIR: .gone
        case EMFILE, ENFILE, ENOMEM, EINTR, EAGAIN, EIO: .transient(code)
        default: .unreadable(code)
        }
    }

    static func isTransient(_ code: Int32) -> Bool {
        if case .transient = classify(code) { return true }
        return false
    }

    #if DEBUG
    /// Tests only (compiled out of release builds): make opening or stat-ing an entry whose last
    /// path component is a given name fail with a given `errno`. Names are process-wide, so a
    /// test uses names no other test uses.
    enum Faults {
        enum Operation: Sendable { case open, stat }
        private static let byName = Mutex<[[UInt8]: (code: Int32, operations: [Operation])]>([:])

        /// Makes `operations` on an entry named `name` fail with `code` until ``remove(name:)``.
        static func inject(_ code: Int32, forName name: String, on operations: [Operation] = [.open, .stat]) {
            byName.withLock { $0[Array(name.utf8)] = (code, operations) }
        }
        static func remove(name: String) { _ = byName.withLock { $0.removeValue(forKey: Array(name.utf8)) } }

        /// The `errno` injected for `operation` on the last component of `path`, if any.
        static func code(for path: some Collection<UInt8>, _ operation: Operation = .open) -> Int32? {
            let table = byName.withLock { $0 }
            guard !table.isEmpty else { return nil }
            var last: [UInt8] = []
            for byte in path {
                if byte == UInt8(ascii: "/") { last.removeAll(keepingCapacity: true) } else { last.append(byte) }
            }
            guard let fault = table[last], fault.operations.contains(operation) else { return nil }
            return fault.code
        }
    }
    #endif

    /// `-1` with `errno` set when a test injected a fault for `name` (``Faults``); `nil` otherwise.
    /// Nothing in a release build.
    @inline(__always)
    static func injectedFailure(_ name: some Collection<UInt8>, stat: Bool = false) -> Int32? {
        #if DEBUG
        if let code = Faults.code(for: name, stat ? .stat : .open) {
            errno = code
            return -1
        }
        #endif
        return nil
    }

    /// `fstatat(dirFD, name, AT_SYMLINK_NOFOLLOW)`; `nil` with `errno` set on failure.
    static func lstat(at dirFD: Int32, _ name: some Collection<UInt8>) -> Stat? {
        if injectedFailure(name, stat: true) != nil { return nil }
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
        if let failed = injectedFailure(name) { return failed }
        return withCString(name) { openat(dirFD, $0, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
    }

    /// Opens the file `name` (one component or a relative path) under `dirFD` for reading,
    /// not following a symbolic link at its last component; -1 on failure.
    static func openFile(at dirFD: Int32, _ name: some Collection<UInt8>) -> Int32 {
        if let failed = injectedFailure(name) { return failed }
        return withCString(name) { openat(dirFD, $0, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) }
    }

    /// Opens the site root (a path; a symbolic link is followed); -1 on failure.
    static func openRoot(_ path: String) -> Int32 {
        if let failed = injectedFailure(path.utf8) { return failed }
        return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
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

    /// Reads the target of the symbolic link `name` under `dirFD`; `nil` with `errno` set on
    /// failure (`ENAMETOOLONG` for a target over 64 KiB).
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
        errno = ENAMETOOLONG
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

    /// Lists `dirFD` from its start (the descriptor itself is left open and unmoved); `nil`
    /// with `errno` set when it cannot be opened or `readdir` fails part-way (a partial listing
    /// would make the missing entries look deleted).
    static func listDirectory(_ dirFD: Int32) -> Listing? {
        let copy = dup(dirFD)
        guard copy >= 0 else { return nil }
        guard let dir = fdopendir(copy) else {
            let code = errno
            close(copy)
            errno = code
            return nil
        }
        // The duplicate shares the file offset: start from the top even if this descriptor was
        // listed before (the watcher lists its long-lived root descriptor on every resync).
        rewinddir(dir)
        var listing = Listing()
        var failure: Int32 = 0
        while true {
            errno = 0
            guard let entry = readdir(dir) else {
                failure = errno
                break
            }
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
        closedir(dir)
        if failure != 0 {
            errno = failure
            return nil
        }
        return listing
    }

    /// `fstatat(dirFD, listing's entry, AT_SYMLINK_NOFOLLOW)` without copying the name.
    static func lstat(at dirFD: Int32, _ listing: Listing, _ index: Int) -> Stat? {
        #if DEBUG
        if injectedFailure(listing.name(index), stat: true) != nil { return nil }
        #endif
        var st = Glibc.stat()
        let offset = Int(listing.entries[index].offset)
        let rc = listing.storage.withUnsafeBufferPointer { buffer in
            fstatat(dirFD, UnsafeRawPointer(buffer.baseAddress! + offset).assumingMemoryBound(to: CChar.self), &st, AT_SYMLINK_NOFOLLOW)
        }
        return rc == 0 ? stat(from: st) : nil
    }

    /// ``openDirectory(at:_:)`` for a listing's entry, without copying the name.
    static func openDirectory(at dirFD: Int32, _ listing: Listing, _ index: Int) -> Int32 {
        #if DEBUG
        if let failed = injectedFailure(listing.name(index)) { return failed }
        #endif
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
