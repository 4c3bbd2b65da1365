import Glibc

/// Writes bytes to a file descriptor, all of them, in as few `write(2)` calls as the kernel allows.
///
/// Used for stderr (fd 2): Glibc's `stderr` `FILE*` is not usable from Swift 6, and one `write` per
/// line keeps lines from concurrent loggers whole (up to `PIPE_BUF` on a pipe).
enum FileDescriptorWriter {
    /// - Returns: false when the descriptor refused the bytes (closed, `EPIPE`, …); nothing more
    ///   can be done about it from a log handler.
    @discardableResult
    static func writeAll(_ bytes: [UInt8], to fd: Int32) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                offset += written
            }
            return true
        }
    }
}
