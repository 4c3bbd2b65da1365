import Glibc
import Logging

/// Chooses where logs go: journald under systemd, readable lines on stderr elsewhere (SPEC §7).
///
/// ```swift
/// LoggingSystem.bootstrap(LogBootstrap.make(identifier: "purgewatch"))
/// ```
///
/// systemd sets `JOURNAL_STREAM=<device>:<inode>` to the stream it connected to stdout/stderr;
/// when that matches `fstat(2)` of fd 2, stderr goes to the journal, so structured entries can go
/// to journald's native socket instead. A stderr redirected elsewhere (a terminal, a file, a pipe
/// to another program) no longer matches, even though the variable was inherited.
/// See [systemd.exec(5)](https://www.freedesktop.org/software/systemd/man/systemd.exec.html#%24JOURNAL_STREAM).
public enum LogBootstrap {
    /// Where the log handlers made by ``make(identifier:environment:logLevel:)`` write.
    public enum Destination: Equatable, Sendable {
        case journald
        case stderr
    }

    /// A factory for `LoggingSystem.bootstrap`.
    /// - Parameters:
    ///   - identifier: `SYSLOG_IDENTIFIER` for journald.
    ///   - environment: the systemd variables, by default the process's (``SystemdEnvironment/current()``).
    ///   - logLevel: the level each new logger starts with.
    public static func make(
        identifier: String = "purgewatch",
        environment: [String: String] = SystemdEnvironment.current(),
        logLevel: Logger.Level = .info
    ) -> @Sendable (String) -> any LogHandler {
        switch destination(environment: environment) {
        case .journald:
            let socket = JournalSocket(path: JournalSocket.systemPath)
            return { label in
                JournaldLogHandler(
                    label: label, identifier: identifier, logLevel: logLevel, metadataProvider: nil, socket: socket)
            }
        case .stderr:
            return { label in StderrLogHandler(label: label, logLevel: logLevel) }
        }
    }

    /// ``Destination/journald`` when `JOURNAL_STREAM` names the file that fd 2 is.
    public static func destination(environment: [String: String]) -> Destination {
        guard let stream = environment["JOURNAL_STREAM"] else { return .stderr }
        var status = stat()
        guard fstat(2, &status) == 0 else { return .stderr }
        return journalStream(stream, matchesDevice: UInt64(status.st_dev), inode: UInt64(status.st_ino))
            ? .journald : .stderr
    }

    /// Whether a `JOURNAL_STREAM` value (`"<device>:<inode>"`, both decimal) names this device and inode.
    public static func journalStream(_ value: String, matchesDevice device: UInt64, inode: UInt64) -> Bool {
        let parts = value.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let streamDevice = UInt64(parts[0]), let streamInode = UInt64(parts[1]) else {
            return false
        }
        return streamDevice == device && streamInode == inode
    }
}
