import Foundation
import Glibc

/// A TCP relay on 127.0.0.1 in front of a server (the tests' PostgreSQL), which a test can cut —
/// every open connection reset and new ones refused, as a stopped server or a lost network does
/// to its clients — and restore on the same port. One thread per direction of a connection.
package final class TCPProxy: @unchecked Sendable {
    package let port: Int
    package let target: Int
    private let lock = NSLock()
    private var listener: Int32 = -1
    private var sockets: Set<Int32> = []

    package init(target: Int, port: Int) throws {
        self.target = target
        self.port = port
        try restore()
    }

    /// Resets every relayed connection and stops accepting new ones (connections are refused).
    package func cut() {
        lock.withLock {
            if listener >= 0 {
                shutdown(listener, Int32(SHUT_RDWR))  // wakes the accepting thread, which closes it
                listener = -1
            }
            for socket in sockets {
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)  // RST, as a dead peer's kernel answers
                setsockopt(socket, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                shutdown(socket, Int32(SHUT_RDWR))
            }
        }
    }

    /// Listens again on the same port.
    package func restore() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        lock.withLock { listener = fd }
        Thread { [self] in acceptLoop(fd) }.start()
    }

    private func acceptLoop(_ fd: Int32) {
        while true {
            let client = accept(fd, nil, nil)
            guard client >= 0 else { break }
            let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(target)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(client)
                close(upstream)
                continue
            }
            lock.withLock {
                sockets.insert(client)
                sockets.insert(upstream)
            }
            let pair = Pair(proxy: self, a: client, b: upstream)
            Thread { pair.pump(from: client, to: upstream) }.start()
            Thread { pair.pump(from: upstream, to: client) }.start()
        }
        close(fd)
    }

    fileprivate func forget(_ a: Int32, _ b: Int32) {
        lock.withLock {
            sockets.remove(a)
            sockets.remove(b)
        }
        close(a)
        close(b)
    }

    static func loopback(_ port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }
}

/// The two sockets of one relayed connection: closed once both directions have ended.
private final class Pair: @unchecked Sendable {
    let proxy: TCPProxy
    let a: Int32
    let b: Int32
    private let lock = NSLock()
    private var ended = 0

    init(proxy: TCPProxy, a: Int32, b: Int32) {
        self.proxy = proxy
        self.a = a
        self.b = b
    }

    func pump(from source: Int32, to sink: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = read(source, &buffer, buffer.count)
            guard count > 0 else { break }
            var sent = 0
            while sent < count {
                let written = buffer[sent..<count].withUnsafeBytes { write(sink, $0.baseAddress, $0.count) }
                guard written > 0 else { break }
                sent += written
            }
            guard sent == count else { break }
        }
        shutdown(source, Int32(SHUT_RDWR))
        shutdown(sink, Int32(SHUT_RDWR))
        let last = lock.withLock {
            ended += 1
            return ended == 2
        }
        if last { proxy.forget(a, b) }
    }
}
