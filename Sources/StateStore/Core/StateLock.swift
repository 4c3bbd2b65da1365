import Glibc

/// The single-writer lock of a state file (SPEC §6): `<state>.lock`, held with `flock(2)` for
/// the life of the process that writes the state (`run`, `run --once`, a `purge` with no daemon).
///
/// The holder's PID is written into the file so that a refused writer can name it. The kernel
/// releases the lock when the holder exits, however it exits: no stale lock survives a crash.
public final class StateLock: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private var released = false

    /// Why the lock could not be taken.
    public struct Error: Swift.Error, CustomStringConvertible, Sendable {
        /// The PID of the process holding it, when it could be read.
        public var holder: Int32?
        public var path: String
        /// errno when the lock file itself could not be opened (nil: held by another process).
        public var errno: Int32?

        public var description: String {
            if let errno {
                return "cannot open the state lock \(path): \(String(cString: strerror(errno)))"
            }
            let who = holder.map { "process \($0)" } ?? "another process"
            return "\(who) is writing this state (\(path) is locked); only one purgewatch writes a state file"
        }
    }

    /// The lock file of a state file.
    public static func path(forState statePath: String) -> String { statePath + ".lock" }

    /// Takes the lock at once or throws ``Error`` naming the holder; never waits.
    public static func acquire(forState statePath: String) throws(StateLock.Error) -> StateLock {
        let path = Self.path(forState: statePath)
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o660)
        guard fd >= 0 else { throw Error(holder: nil, path: path, errno: Glibc.errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = readPID(fd)
            close(fd)
            throw Error(holder: holder, path: path, errno: nil)
        }
        // Write the PID, then cut what an older, longer PID left: never an empty file to read.
        let text = Array("\(getpid())\n".utf8)
        _ = pwrite(fd, text, text.count, 0)
        _ = ftruncate(fd, off_t(text.count))
        return StateLock(path: path, fd: fd)
    }

    private init(path: String, fd: Int32) {
        self.path = path
        self.fd = fd
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: [" ", "\n"]))
    }

    /// Releases the lock (also on deinit, and by the kernel when the process exits).
    public func release() {
        guard !released else { return }
        released = true
        flock(fd, LOCK_UN)
        close(fd)
    }

    deinit { release() }
}

extension String {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}
