import Glibc
import Logging

/// A swift-log `LogHandler` that writes one readable line per log call to stderr (fd 2).
///
/// ```
/// 2026-11-29T20:31:02.123Z warning purgewatch: quota exhausted purge.area=mainland purge.url_count=412
/// ```
///
/// UTC timestamp with milliseconds, level, label, message, then the metadata as `key=value`
/// sorted by key (values with spaces, quotes, `=` or control characters are quoted and escaped,
/// so a line is always one line). The ``MessageID`` metadata is left out: it is for journald.
public struct StderrLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public let label: String
    /// Whether lines start with a timestamp (off when something else already stamps them).
    public let timestamps: Bool
    private let fd: Int32

    /// - Parameters:
    ///   - label: the logger's label, shown after the level.
    ///   - logLevel: the lowest level written.
    ///   - timestamps: prefix each line with the UTC time.
    ///   - metadataProvider: contextual metadata merged into every line.
    public init(
        label: String,
        logLevel: Logger.Level = .info,
        timestamps: Bool = true,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.init(label: label, logLevel: logLevel, timestamps: timestamps, metadataProvider: metadataProvider, fd: 2)
    }

    /// For tests: write to `fd` instead of stderr.
    init(label: String, logLevel: Logger.Level, timestamps: Bool, metadataProvider: Logger.MetadataProvider?, fd: Int32) {
        self.label = label
        self.logLevel = logLevel
        self.timestamps = timestamps
        self.metadataProvider = metadataProvider
        self.fd = fd
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        let line = Self.format(
            event: event, metadata: merged, label: label, timestamp: timestamps ? Self.timestamp() : nil)
        FileDescriptorWriter.writeAll(Array(line.utf8), to: fd)
    }

    /// The line for one log call, ending in `\n`. Pure.
    /// - Parameters:
    ///   - metadata: the merged metadata; `event.metadata` is not read.
    ///   - timestamp: the text to start the line with, or nil for none.
    public static func format(event: LogEvent, metadata: Logger.Metadata, label: String, timestamp: String?) -> String {
        var line = ""
        if let timestamp { line += timestamp + " " }
        line += "\(event.level) \(label): \(escapeControlCharacters(event.message.description))"
        var pairs = metadata.filter { $0.key != MessageID.metadataKey }.sorted { $0.key < $1.key }
            .map { ($0.key, $0.value.description) }
        if let error = event.error { pairs.append(("error", String(describing: error))) }
        for (key, value) in pairs {
            line += " \(escapeControlCharacters(key))=\(quotedIfNeeded(value))"
        }
        return line + "\n"
    }

    /// Now, as `2026-11-29T20:31:02.123Z`.
    public static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return timestamp(seconds: Int(now.tv_sec), milliseconds: Int(now.tv_nsec) / 1_000_000)
    }

    /// `seconds` since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    static func timestamp(seconds: Int, milliseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))"
            + "T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))"
            + ".\(pad(Int32(milliseconds), 3))Z"
    }

    /// `\n`, `\r`, `\t` and other control characters as escapes, so that text stays on one line.
    static func escapeControlCharacters(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var escaped = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16, uppercase: false)
                escaped += "\\x" + (hex.count == 1 ? "0" + hex : hex)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped
    }

    /// The value as is when it is a plain token; otherwise in double quotes with `\` and `"` escaped.
    static func quotedIfNeeded(_ value: String) -> String {
        let plain =
            !value.isEmpty
            && !value.unicodeScalars.contains {
                $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F
            }
        if plain { return value }
        let inner = escapeControlCharacters(value.replacingOccurrences("\\", "\\\\").replacingOccurrences("\"", "\\\""))
        return "\"\(inner)\""
    }
}

extension String {
    /// `replacingOccurrences(of:with:)` without Foundation.
    fileprivate func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var result = ""
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}
