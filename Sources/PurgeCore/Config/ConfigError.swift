/// A configuration problem, located as precisely as the file allows.
///
/// Rendered as `FILE:LINE: KEY: problem` (the line is omitted when it cannot be known, e.g. a
/// required key that is missing). The CLI maps it to exit status 78 (`EX_CONFIG`).
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    /// The key path, e.g. `rule[1].urls[0]`; empty for whole-file problems (syntax errors).
    public var keyPath: String
    public var message: String
    /// Whether the file could not be read at all (as opposed to read and found wrong).
    public var isUnreadable: Bool

    public init(file: String, line: Int?, keyPath: String, message: String, isUnreadable: Bool = false) {
        self.file = file
        self.line = line
        self.keyPath = keyPath
        self.message = message
        self.isUnreadable = isUnreadable
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if !keyPath.isEmpty { text += "\(keyPath): " }
        return text + message
    }
}
