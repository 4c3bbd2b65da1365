import Glibc

/// A notification to systemd could not be sent.
///
/// Not fatal by itself: a daemon usually logs it and goes on (systemd then notices the missing
/// `READY=1` or `WATCHDOG=1` and acts on its own).
public struct SystemdNotifierError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The step that failed.
    public enum Operation: String, Sendable {
        /// `NOTIFY_SOCKET` is neither an absolute path nor `@name`, or too long for `sun_path`.
        case address
        case socket
        case send
    }

    public let operation: Operation
    /// The `errno` of the failed call.
    public let errno: Int32
    /// `NOTIFY_SOCKET`.
    public let socketAddress: String

    public init(operation: Operation, errno: Int32, socketAddress: String) {
        self.operation = operation
        self.errno = errno
        self.socketAddress = socketAddress
    }

    public var description: String {
        switch operation {
        case .address:
            return "NOTIFY_SOCKET=\(socketAddress) is not an absolute path or @abstract name that fits a socket address"
        case .socket, .send:
            let reason = String(cString: strerror(errno))
            return "sd_notify to \(socketAddress) failed in \(operation.rawValue): \(reason) (errno \(errno))"
        }
    }
}
