import Glibc

/// An `AF_UNIX` socket address: a file-system path, or a name in Linux's abstract namespace.
///
/// A leading `@` means the abstract namespace, as in systemd's `NOTIFY_SOCKET`
/// (see `sd_notify(3)`): the `@` becomes a NUL byte and the address length covers exactly the
/// name, with no terminating NUL.
public struct UnixSocketAddress: Sendable, CustomStringConvertible {
    /// The path or `@name` this address was made from.
    public let description: String
    private let storage: sockaddr_un
    private let length: socklen_t

    /// The room in `sun_path`, including the byte that is the NUL terminator for a path or the
    /// leading NUL of an abstract name.
    public static var pathCapacity: Int { MemoryLayout.size(ofValue: sockaddr_un().sun_path) }

    /// - Parameter address: an absolute path (`/run/systemd/notify`) or an abstract name
    ///   (`@/org/freedesktop/systemd1/notify/123`). Returns nil for anything else, or when the
    ///   address does not fit in `sun_path`.
    public init?(_ address: String) {
        var bytes = Array(address.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        guard abstract || bytes.first == UInt8(ascii: "/") else { return nil }
        guard bytes.count >= 2, !bytes.contains(0) || abstract else { return nil }
        if abstract { bytes[0] = 0 }
        // A path needs room for its terminating NUL; an abstract name is counted exactly.
        guard bytes.count + (abstract ? 0 : 1) <= Self.pathCapacity else { return nil }

        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            raw.copyBytes(from: bytes)
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path) ?? 2
        self.storage = storage
        self.length = socklen_t(pathOffset + bytes.count + (abstract ? 0 : 1))
        self.description = address
    }

    /// Calls `body` with the address as a `sockaddr` and its length, for `sendto(2)`, `bind(2)` and
    /// `sendmsg(2)`.
    public func withSockAddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) rethrows -> Result {
        try withUnsafePointer(to: storage) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { try body($0, length) }
        }
    }
}
