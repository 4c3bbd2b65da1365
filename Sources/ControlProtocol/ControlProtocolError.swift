/// A control line that ``ControlCodec`` cannot take: garbage, a wrong shape, a version it does
/// not speak, or too long. The server answers it with ``ControlAnswer/error(_:message:)``
/// (``ControlAnswer/init(refusing:)``); a client reports it. Never a crash.
public struct ControlProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// Not a JSON object: not JSON at all, not UTF-8, empty, or trailing bytes after it.
        case notJSON = "not-json"
        /// JSON, but a key is missing or holds the wrong type or value.
        case malformed
        /// A `command` or `answer` this version does not know.
        case unknownCase = "unknown-case"
        /// A `version` other than ``ControlCodec/version``.
        case unsupportedVersion = "unsupported-version"
        /// Longer than the limit for its direction.
        case tooLong = "too-long"
    }

    public var code: Code
    /// What was wrong, for a human (and what to do about it where there is something to do).
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
