/// A duration written in a config as an integer with a unit: `"500ms"`, `"2s"`, `"5m"`, `"1h"`.
public struct ConfigDuration: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let milliseconds: Int64

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    /// Parses `<digits><unit>` with unit `ms`, `s`, `m` or `h`; nil for anything else.
    public init?(parsing text: String) {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let digits = text.dropLast(suffix.count)
            // "5ms" also ends in "s": only accept when what is left is all digits.
            guard !digits.isEmpty, digits.count <= 12, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                let value = Int64(digits)
            else { continue }
            self.milliseconds = value * factor
            return
        }
        return nil
    }

    public var duration: Duration { .milliseconds(milliseconds) }

    /// The shortest exact form: `1h`, `5m`, `2s` or `500ms`.
    public var description: String {
        if milliseconds != 0 && milliseconds % 3_600_000 == 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds != 0 && milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1_000 == 0 { return "\(milliseconds / 1_000)s" }
        return "\(milliseconds)ms"
    }

    public static func < (lhs: ConfigDuration, rhs: ConfigDuration) -> Bool {
        lhs.milliseconds < rhs.milliseconds
    }
}
