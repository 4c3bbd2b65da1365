import Glibc

/// The client side of journald's native socket: one unconnected `AF_UNIX` `SOCK_DGRAM` socket,
/// shared by every handler a bootstrap makes (datagram sends are atomic and thread-safe).
///
/// An entry goes out as one datagram; when the kernel refuses it as too big (`EMSGSIZE`, or
/// `ENOBUFS` for a datagram larger than the socket's buffer), it is written to a sealed memfd
/// whose descriptor is sent alone with `SCM_RIGHTS`, as `sd_journal_sendv()` does.
/// The socket is unconnected, so a restarted journald is reached without reconnecting.
final class JournalSocket: Sendable {
    /// Where production sends: systemd's fixed path. Nothing read at run time changes it.
    static let systemPath = "/run/systemd/journal/socket"

    /// How a send went.
    enum Outcome: Equatable, Sendable {
        case datagram
        case memfd
        /// Not delivered; `errno` says why (`ENOENT`/`ECONNREFUSED`: no journald listening).
        case failed(errno: Int32)
    }

    let address: UnixSocketAddress?
    private let fd: Int32

    init(path: String) {
        address = UnixSocketAddress(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    /// Sends one encoded entry (``JournalFields/encoded()``).
    @discardableResult
    func send(_ entry: [UInt8]) -> Outcome {
        guard fd >= 0, let address else { return .failed(errno: fd >= 0 ? EINVAL : EBADF) }
        let result: Int = entry.withUnsafeBytes { buffer in
            address.withSockAddr { sockaddr, length in
                var sent: Int
                repeat {
                    sent = sendto(fd, buffer.baseAddress, buffer.count, Int32(MSG_NOSIGNAL), sockaddr, length)
                } while sent < 0 && errno == EINTR
                return sent < 0 ? -Int(errno) : 0
            }
        }
        if result == 0 { return .datagram }
        let error = Int32(-result)
        guard error == EMSGSIZE || error == ENOBUFS else { return .failed(errno: error) }
        return sendThroughMemfd(entry, to: address)
    }

    private func sendThroughMemfd(_ entry: [UInt8], to address: UnixSocketAddress) -> Outcome {
        let memfd = Memfd.create(name: "journal-entry")
        guard memfd >= 0 else { return .failed(errno: errno) }
        defer { close(memfd) }
        guard FileDescriptorWriter.writeAll(entry, to: memfd) else { return .failed(errno: errno) }
        // journald maps a sealed memfd without copying and knows it cannot change under it.
        guard Memfd.seal(memfd) else { return .failed(errno: errno) }
        let sent = sendDescriptor(memfd, to: address)
        return sent == 0 ? .memfd : .failed(errno: sent)
    }

    /// `sendmsg(2)` with no data and one `SCM_RIGHTS` control message carrying `descriptor`.
    /// - Returns: 0, or the `errno`.
    private func sendDescriptor(_ descriptor: Int32, to address: UnixSocketAddress) -> Int32 {
        // CMSG_SPACE / CMSG_LEN are macros, not imported: lay the control message out by hand.
        let headerSize = MemoryLayout<cmsghdr>.size
        let alignment = MemoryLayout<Int>.size
        func aligned(_ size: Int) -> Int { (size + alignment - 1) & ~(alignment - 1) }
        let payloadSize = MemoryLayout<Int32>.size
        let space = aligned(headerSize) + aligned(payloadSize)

        let control = UnsafeMutableRawPointer.allocate(byteCount: space, alignment: MemoryLayout<cmsghdr>.alignment)
        defer { control.deallocate() }
        control.initializeMemory(as: UInt8.self, repeating: 0, count: space)
        let header = control.bindMemory(to: cmsghdr.self, capacity: 1)
        header.pointee.cmsg_len = .init(aligned(headerSize) + payloadSize)
        header.pointee.cmsg_level = SOL_SOCKET
        header.pointee.cmsg_type = Int32(SCM_RIGHTS)
        control.storeBytes(of: descriptor, toByteOffset: aligned(headerSize), as: Int32.self)

        return address.withSockAddr { sockaddr, length in
            var message = msghdr()
            message.msg_name = UnsafeMutableRawPointer(mutating: sockaddr)
            message.msg_namelen = length
            message.msg_iov = nil
            message.msg_iovlen = 0
            message.msg_control = control
            message.msg_controllen = .init(space)
            var sent: Int
            repeat {
                sent = sendmsg(fd, &message, Int32(MSG_NOSIGNAL))
            } while sent < 0 && errno == EINTR
            return sent < 0 ? errno : 0
        }
    }
}

/// `memfd_create(2)` and its seals. Glibc's declaration and the `MFD_*`/`F_SEAL_*` constants are
/// not imported into Swift, so the function is looked up by name and the constants (stable
/// Linux ABI, `<linux/memfd.h>` and `<linux/fcntl.h>`) are spelled out.
enum Memfd {
    static let cloexec: UInt32 = 0x0001  // MFD_CLOEXEC
    static let allowSealing: UInt32 = 0x0002  // MFD_ALLOW_SEALING
    static let addSeals: Int32 = 1024 + 9  // F_ADD_SEALS
    static let getSeals: Int32 = 1024 + 10  // F_GET_SEALS
    /// F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE
    static let allSeals: Int32 = 0x0001 | 0x0002 | 0x0004 | 0x0008

    private typealias CreateFunction = @convention(c) (UnsafePointer<CChar>, UInt32) -> Int32

    /// A new close-on-exec, sealable memfd, or -1 with `errno` set.
    static func create(name: String) -> Int32 {
        guard let symbol = dlsym(nil, "memfd_create") else {
            errno = ENOSYS
            return -1
        }
        let create = unsafeBitCast(symbol, to: CreateFunction.self)
        return create(name, cloexec | allowSealing)
    }

    static func seal(_ fd: Int32) -> Bool {
        fcntl(fd, addSeals, allSeals) == 0
    }
}
