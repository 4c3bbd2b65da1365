import Logging

/// One journal entry as an ordered list of fields, and its encoding in journald's native protocol.
///
/// Pure: no I/O. ``JournaldLogHandler`` builds one per log call with ``init(event:metadata:identifier:label:)``
/// and sends ``encoded()`` as a single datagram.
///
/// The native protocol (see [systemd's "Native Journal Protocol"](https://systemd.io/JOURNAL_NATIVE_PROTOCOL/)):
/// each field is `NAME=value\n`; a value containing a newline (or anything a reader should not
/// have to split on) is `NAME\n`, the value's length as a little-endian 64-bit integer, the value's
/// bytes, and `\n`. Field names are `[A-Z0-9_]`, at most 64 bytes, not starting with a digit, and
/// not starting with `_` (those are journald's trusted fields).
public struct JournalFields: Sendable, Equatable {
    /// One `NAME=value` pair. Values are bytes: the protocol is binary-safe.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: [UInt8]

        public init(name: String, value: [UInt8]) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in the order they are sent. A name may occur more than once (journald keeps each).
    public private(set) var fields: [Field] = []

    /// The longest field name journald accepts.
    public static let maximumFieldNameLength = 64
    /// The prefix of fields made from swift-log metadata.
    public static let metadataFieldPrefix = "PURGEWATCH_"

    public init() {}

    /// Appends a field, unless `name` is not a valid field name (see ``isValidFieldName(_:)``),
    /// in which case it is dropped: a log call must never crash or corrupt the entry.
    public mutating func append(_ name: String, _ value: String) {
        append(name, Array(value.utf8))
    }

    /// Appends a field with a binary value; dropped if `name` is not valid.
    public mutating func append(_ name: String, _ value: [UInt8]) {
        guard Self.isValidFieldName(name) else { return }
        fields.append(Field(name: name, value: value))
    }

    /// The first value of the field `name`, as text.
    public subscript(name: String) -> String? {
        fields.first { $0.name == name }.map { String(decoding: $0.value, as: UTF8.self) }
    }

    /// The entry in journald's native protocol: one datagram's (or memfd's) content.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + $1.value.count + 10 })
        for field in fields {
            bytes.append(contentsOf: field.name.utf8)
            if field.value.contains(UInt8(ascii: "\n")) {
                bytes.append(UInt8(ascii: "\n"))
                withUnsafeBytes(of: UInt64(field.value.count).littleEndian) { bytes.append(contentsOf: $0) }
                bytes.append(contentsOf: field.value)
            } else {
                bytes.append(UInt8(ascii: "="))
                bytes.append(contentsOf: field.value)
            }
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    /// Whether journald accepts `name` from a client: 1–64 bytes of `A-Z`, `0-9`, `_`, not
    /// starting with a digit or `_`.
    public static func isValidFieldName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= maximumFieldNameLength else { return false }
        guard first != UInt8(ascii: "_"), !isDigit(first) else { return false }
        return bytes.allSatisfy { isUpper($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }

    /// The journal field for a swift-log metadata key: `purge.task_id` and `task_id` both become
    /// `PURGEWATCH_TASK_ID`.
    ///
    /// A leading `purge.` is dropped (the project's metadata namespace), ASCII letters are
    /// upper-cased, digits kept, every other byte becomes `_`, and the result is cut to 64 bytes.
    /// Returns nil for a key with nothing left (empty, or `purge.` alone).
    public static func fieldName(forMetadataKey key: String) -> String? {
        var rest = Substring(key)
        if rest.hasPrefix("purge.") { rest = rest.dropFirst("purge.".count) }
        guard !rest.isEmpty else { return nil }
        var name = Array(metadataFieldPrefix.utf8)
        for byte in rest.utf8 {
            if isUpper(byte) || isDigit(byte) {
                name.append(byte)
            } else if (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) {
                name.append(byte - 0x20)
            } else {
                name.append(UInt8(ascii: "_"))
            }
        }
        return String(decoding: name.prefix(maximumFieldNameLength), as: UTF8.self)
    }

    /// The syslog priority journald stores in `PRIORITY` (0 emerg … 7 debug).
    public static func priority(for level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// The entry for one log call.
    ///
    /// Fields, in order: `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, `MESSAGE_ID` (from the
    /// ``MessageID/metadataKey`` metadata when it is 32 lower-case hex digits, otherwise that value
    /// goes to `PURGEWATCH_MESSAGE_ID`), `CODE_FILE`, `CODE_LINE`, `CODE_FUNC`, `PURGEWATCH_LOGGER`
    /// (the logger's label), `PURGEWATCH_ERROR` (the event's error, if any), then every metadata
    /// entry as `PURGEWATCH_*`, sorted by key.
    ///
    /// - Parameters:
    ///   - event: the log call.
    ///   - metadata: the merged metadata (handler, provider, call site); `event.metadata` is not read.
    ///   - identifier: `SYSLOG_IDENTIFIER`, `purgewatch` in production.
    ///   - label: the logger's label.
    public init(event: LogEvent, metadata: Logger.Metadata, identifier: String, label: String) {
        append("MESSAGE", event.message.description)
        append("PRIORITY", String(Self.priority(for: event.level)))
        append("SYSLOG_IDENTIFIER", identifier)
        var metadata = metadata
        if let messageID = metadata.removeValue(forKey: MessageID.metadataKey) {
            let value = messageID.description
            if MessageID.isWellFormed(value) {
                append("MESSAGE_ID", value)
            } else {
                metadata[MessageID.metadataKey] = messageID
            }
        }
        append("CODE_FILE", event.file)
        append("CODE_LINE", String(event.line))
        append("CODE_FUNC", event.function)
        append("PURGEWATCH_LOGGER", label)
        if let error = event.error {
            append("PURGEWATCH_ERROR", String(describing: error))
        }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            guard let name = Self.fieldName(forMetadataKey: key) else { continue }
            append(name, value.description)
        }
    }

    private static func isUpper(_ byte: UInt8) -> Bool { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) }
    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
}
