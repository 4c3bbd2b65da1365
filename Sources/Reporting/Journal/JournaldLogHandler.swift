import Logging

/// A swift-log `LogHandler` that writes structured entries to journald through its native protocol,
/// without libsystemd.
///
/// Each log call becomes one entry (``JournalFields``): `MESSAGE`, `PRIORITY`,
/// `SYSLOG_IDENTIFIER`, `MESSAGE_ID` (from ``MessageID``), `CODE_FILE`/`CODE_LINE`/`CODE_FUNC`,
/// and the metadata as `PURGEWATCH_*` fields (`purge.task_id` → `PURGEWATCH_TASK_ID`).
/// If journald cannot be reached, the entry is written to stderr as a ``StderrLogHandler`` line
/// instead, so that nothing is lost silently (under systemd, stderr is the journal's stream).
///
/// Production code gets one from ``LogBootstrap/make(identifier:environment:logLevel:)``, which
/// always uses `/run/systemd/journal/socket`; only tests, inside this module's test target, can
/// point it elsewhere.
public struct JournaldLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    /// The logger's label, sent as `PURGEWATCH_LOGGER`.
    public let label: String
    /// `SYSLOG_IDENTIFIER`.
    public let identifier: String
    private let socket: JournalSocket

    /// A handler sending to systemd's journal socket, `/run/systemd/journal/socket`.
    /// - Parameters:
    ///   - label: the logger's label.
    ///   - identifier: `SYSLOG_IDENTIFIER` (what `journalctl -t` selects).
    ///   - logLevel: the lowest level passed on.
    ///   - metadataProvider: contextual metadata merged into every entry.
    public init(
        label: String,
        identifier: String = "purgewatch",
        logLevel: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.init(
            label: label, identifier: identifier, logLevel: logLevel, metadataProvider: metadataProvider,
            socket: JournalSocket(path: JournalSocket.systemPath))
    }

    /// For tests only (internal, reached with `@testable import`): send to `socketPath`.
    init(label: String, identifier: String = "purgewatch", logLevel: Logger.Level = .info, socketPath: String) {
        self.init(
            label: label, identifier: identifier, logLevel: logLevel, metadataProvider: nil,
            socket: JournalSocket(path: socketPath))
    }

    /// Shares one socket among the handlers a bootstrap makes.
    init(
        label: String,
        identifier: String,
        logLevel: Logger.Level,
        metadataProvider: Logger.MetadataProvider?,
        socket: JournalSocket
    ) {
        self.label = label
        self.identifier = identifier
        self.logLevel = logLevel
        self.metadataProvider = metadataProvider
        self.socket = socket
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = mergedMetadata(event.metadata)
        let fields = JournalFields(event: event, metadata: merged, identifier: identifier, label: label)
        if case .failed = socket.send(fields.encoded()) {
            let line = StderrLogHandler.format(event: event, metadata: merged, label: label, timestamp: nil)
            FileDescriptorWriter.writeAll(Array(line.utf8), to: 2)
        }
    }

    private func mergedMetadata(_ explicit: Logger.Metadata?) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let explicit {
            merged.merge(explicit) { _, new in new }
        }
        return merged
    }
}
