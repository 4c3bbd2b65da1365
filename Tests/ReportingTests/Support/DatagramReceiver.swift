import Foundation
import Glibc

/// A bound `AF_UNIX` `SOCK_DGRAM` socket standing in for journald or systemd's notify socket.
///
/// Either a path in a fresh temporary directory, or a random name in the abstract namespace.
/// ``receive()`` waits at most two seconds, so a test that expected a datagram fails instead of
/// hanging.
final class DatagramReceiver {
    /// What arrived: the datagram's bytes, and the descriptors passed with `SCM_RIGHTS`.
    struct Datagram {
        var bytes: [UInt8]
        var descriptors: [Int32]
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The address to hand to the code under test: a path, or `@name`.
    let address: String
    private let fd: Int32
    private let directory: String?

    /// - Parameter abstract: bind in the abstract namespace instead of at a path.
    init(abstract: Bool = false) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(description: "socket: errno \(errno)") }
        var name: [UInt8]
        if abstract {
            directory = nil
            address = "@purgewatch-test/\(UUID().uuidString)"
            name = Array(address.utf8)
            name[0] = 0
        } else {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("pw-sock-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: path, withIntermediateDirectories: true)
            directory = path.path
            address = path.path + "/socket"
            name = Array(address.utf8) + [0]
        }
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { $0.copyBytes(from: name) }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \sockaddr_un.sun_path)! + name.count)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0 else { throw Failure(description: "bind \(address): errno \(errno)") }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        // Room for the biggest datagram a client can send (the kernel doubles this value).
        var size: Int32 = 4 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        close(fd)
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// The next datagram, with any descriptors it carried.
    func receive() throws -> Datagram {
        let capacity = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        defer { buffer.deallocate() }
        let controlSize = 256
        let control = UnsafeMutableRawPointer.allocate(byteCount: controlSize, alignment: 8)
        defer { control.deallocate() }
        var vector = iovec(iov_base: buffer, iov_len: capacity)
        var message = msghdr()
        let received = withUnsafeMutablePointer(to: &vector) { vectorPointer in
            message.msg_iov = vectorPointer
            message.msg_iovlen = 1
            message.msg_control = control
            message.msg_controllen = controlSize
            return recvmsg(fd, &message, Int32(MSG_CMSG_CLOEXEC))
        }
        guard received >= 0 else { throw Failure(description: "recvmsg: errno \(errno) (nothing arrived?)") }
        guard message.msg_flags & Int32(MSG_TRUNC) == 0 else { throw Failure(description: "datagram truncated") }

        // Walk the control messages by hand (CMSG_* macros are not imported).
        var descriptors: [Int32] = []
        let headerSize = MemoryLayout<cmsghdr>.size
        func aligned(_ size: Int) -> Int { (size + 7) & ~7 }
        var offset = 0
        while offset + headerSize <= Int(message.msg_controllen) {
            let header = control.load(fromByteOffset: offset, as: cmsghdr.self)
            let length = Int(header.cmsg_len)
            guard length >= headerSize else { break }
            if header.cmsg_level == SOL_SOCKET && header.cmsg_type == Int32(SCM_RIGHTS) {
                let count = (length - aligned(headerSize)) / MemoryLayout<Int32>.size
                for index in 0..<count {
                    descriptors.append(
                        control.loadUnaligned(
                            fromByteOffset: offset + aligned(headerSize) + index * 4, as: Int32.self))
                }
            }
            offset += aligned(length)
        }
        let bytes = Array(UnsafeRawBufferPointer(start: buffer, count: received))
        return Datagram(bytes: bytes, descriptors: descriptors)
    }

    /// The next datagram as text (sd_notify messages are text).
    func receiveText() throws -> String {
        String(decoding: try receive().bytes, as: UTF8.self)
    }

    /// Whether nothing is waiting (checked without blocking).
    func isEmpty() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK)) < 0
    }
}

/// Reads a whole file descriptor from its start (a memfd received from the handler).
func readAll(descriptor fd: Int32) -> [UInt8] {
    lseek(fd, 0, SEEK_SET)
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if count <= 0 { break }
        bytes.append(contentsOf: chunk[0..<count])
    }
    return bytes
}
