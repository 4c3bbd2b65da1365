/// Minimal JSON text building with a fixed key order, for stable machine-readable output.
public enum JSONText {
    /// A JSON string literal for `text` (control characters, `"` and `\` escaped; `/` kept).
    public static func string(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u00" + hexByte(UInt8(scalar.value), uppercase: false)
            default:
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `{"k": v, ...}` with the members in the order given; values are JSON text already.
    public static func object(_ members: [(String, String)]) -> String {
        "{" + members.map { "\(string($0.0)): \($0.1)" }.joined(separator: ", ") + "}"
    }

    public static func array(_ values: [String]) -> String {
        "[" + values.joined(separator: ", ") + "]"
    }
}

extension PathMapper.Mapping {
    /// `{"path", "excluded", "rule", "urls"}` as `explain --json` prints it (SPEC §4).
    public var json: String {
        JSONText.object([
            ("path", JSONText.string(path.description)),
            ("excluded", excluded ? "true" : "false"),
            ("rule", rule.map(JSONText.string) ?? "null"),
            ("urls", JSONText.array(urls.map(JSONText.string))),
        ])
    }
}
