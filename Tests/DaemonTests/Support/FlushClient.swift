import ControlProtocol
import Foundation
import Glibc

@testable import Daemon

/// A control-socket client without the socket: one end of a socket pair is the daemon's
/// ``ControlConnection`` (what the control server hands the control loop), the other is read
/// here, without blocking, for the one line the daemon answers.
final class FlushClient {
    let connection: ControlConnection
    private let fd: Int32
    private var received = ""

    init(_ command: ControlCommand = .flush(wait: true, full: false)) throws {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        connection = ControlConnection(fd: fds[0], command: command)
        fd = fds[1]
    }

    /// The daemon's answer, decoded, or nil while it has not answered (or sent no valid answer).
    var answer: ControlAnswer? {
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while true {
            let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard count > 0 else { break }
            received += String(decoding: buffer[..<count], as: UTF8.self)
        }
        guard received.hasSuffix("\n") else { return nil }
        return try? ControlCodec.decodeAnswer(Array(received.utf8.dropLast()))
    }

    deinit { close(fd) }
}
