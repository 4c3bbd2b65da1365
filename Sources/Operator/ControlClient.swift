import ControlProtocol
import Daemon
import Foundation
import Glibc
import Reporting

/// The CLI's end of the daemon's control socket (`<state file>.sock`): one ``ControlCommand``
/// out, one ``ControlAnswer`` back, both through ``ControlCodec``.
public enum ControlClient {
    /// Sends `command` to the daemon listening at `path` and waits up to `timeout` for its answer.
    ///
    /// - Throws: ``ControlSocketError`` — with `noDaemon` when nothing listens at `path`, with
    ///   `timedOut` when no answer came within `timeout`; otherwise when the command is too long
    ///   for the protocol, the connection fails, or the answer is not one this version can read
    ///   (the message quotes it).
    public static func send(_ command: ControlCommand, to path: String, timeout: Duration) throws -> ControlAnswer {
        let line: [UInt8]
        do {
            line = try ControlCodec.encode(command)
        } catch {
            throw ControlSocketError("cannot send \(command.verb) to the daemon: \(error.message)")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlSocketError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let (address, keepAlive) = try ControlSocket.address(for: path)
        defer { if let keepAlive { close(keepAlive) } }
        // A daemon whose backlog is full (it cannot accept: out of descriptors) would hold a
        // blocking connect for ever: bounded by the timeout like the answer.
        let (seconds, attoseconds) = timeout.components
        var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let connected = address.withSockAddr { connect(fd, $0, $1) }
        guard connected == 0 else {
            let code = errno
            if code == EAGAIN || code == EINPROGRESS {
                throw ControlSocketError("the daemon at \(path) did not take the connection within \(timeout)", timedOut: true)
            }
            throw ControlSocketError(
                "no purgewatch daemon is listening at \(path) (\(String(cString: strerror(code))))",
                noDaemon: code == ENOENT || code == ECONNREFUSED)
        }
        try write(line, to: fd, path: path)
        let answer = try readLine(from: fd, deadline: ContinuousClock.now.advanced(by: timeout))
        do {
            return try ControlCodec.decodeAnswer(answer)
        } catch {
            // Every answer of the JSON protocol is an object; a line that is not one comes from a
            // daemon of an earlier release (`pong`, `error unknown command …`), still running the
            // old binary after an upgrade.
            if answer.first != UInt8(ascii: "{") {
                throw ControlSocketError(
                    "the daemon listening at \(path) is of an earlier purgewatch release (it does not speak this CLI's protocol): "
                        + "restart it (`systemctl restart 'purgewatch@*'`; its queue is kept) and try again",
                    earlierRelease: true)
            }
            throw ControlSocketError("unexpected answer from the daemon (\(error.message))")
        }
    }

    private static func write(_ line: [UInt8], to fd: Int32, path: String) throws {
        var sent = 0
        while sent < line.count {
            let count = line[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw ControlSocketError("cannot write to \(path): \(String(cString: strerror(errno)))")
            }
            sent += count
        }
    }

    /// Reads up to the first newline, at most ``ControlCodec/maxAnswerBytes``, before `deadline`.
    private static func readLine(from fd: Int32, deadline: ContinuousClock.Instant) throws -> ArraySlice<UInt8> {
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4_096)
        var searched = 0
        while true {
            if let newline = answer[searched...].firstIndex(of: UInt8(ascii: "\n")) { return answer[..<newline] }
            searched = answer.count
            guard answer.count <= ControlCodec.maxAnswerBytes else {
                throw ControlSocketError(
                    "unexpected answer from the daemon (longer than \(ControlCodec.maxAnswerBytes) bytes)")
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else { throw ControlSocketError("timed out", timedOut: true) }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds =
                remaining.components.seconds * 1_000 + remaining.components.attoseconds / 1_000_000_000_000_000
            let ready = poll(&poller, 1, Int32(max(1, min(milliseconds, 60_000))))
            if ready < 0 && errno == EINTR { continue }
            guard ready > 0 else { continue }
            let count = read(fd, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { throw ControlSocketError("the daemon closed the connection without answering") }
            answer.append(contentsOf: buffer[0..<count])
        }
    }
}
