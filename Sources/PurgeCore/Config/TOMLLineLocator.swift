/// Finds the line of a key in TOML source text, for error messages.
///
/// TOMLKit reports positions only for syntax errors, so this scans the text the way a person
/// would: it tracks `[table]` and `[[rule]]` headers and records the first line of each
/// `key = …` under them, skipping the inside of multi-line arrays. Best effort: dotted keys
/// and inline tables are not located (the message then names the key without a line).
struct TOMLLineLocator {
    private var lines: [String: Int] = [:]

    init(text: String) {
        var header = ""
        var arrayCounts: [String: Int] = [:]
        var depth = 0
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = TOMLLineLocator.stripComment(String(rawLine)).trimmingSpaces()
            if depth > 0 {
                depth += TOMLLineLocator.bracketBalance(line)
                continue
            }
            if line.isEmpty { continue }
            if line.hasPrefix("[[") {
                let name = String(line.dropFirst(2).prefix { $0 != "]" }).trimmingSpaces()
                let index = arrayCounts[name, default: 0]
                arrayCounts[name] = index + 1
                header = "\(name)[\(index)]"
                lines[header] = lines[header] ?? lineNumber
                continue
            }
            if line.hasPrefix("[") {
                header = String(line.dropFirst().prefix { $0 != "]" }).trimmingSpaces()
                lines[header] = lines[header] ?? lineNumber
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            var key = String(line[..<equals]).trimmingSpaces()
            if key.count >= 2, let first = key.first, first == "\"" || first == "'", key.last == first {
                key = String(key.dropFirst().dropLast())
            }
            let path = header.isEmpty ? key : "\(header).\(key)"
            lines[path] = lines[path] ?? lineNumber
            depth = max(0, TOMLLineLocator.bracketBalance(String(line[line.index(after: equals)...])))
        }
    }

    /// The line of `keyPath` or, failing that, of the nearest enclosing key or table:
    /// `rule[1].urls[0]` → `rule[1].urls` → `rule[1]`.
    func line(for keyPath: String) -> Int? {
        var candidate = keyPath
        while !candidate.isEmpty {
            if let line = lines[candidate] { return line }
            if candidate.hasSuffix("]"), let open = candidate.lastIndex(of: "[") {
                candidate = String(candidate[..<open])
            } else if let dot = candidate.lastIndex(of: ".") {
                candidate = String(candidate[..<dot])
            } else {
                break
            }
        }
        return nil
    }

    /// Drops a `#` comment that is outside any string.
    static func stripComment(_ line: String) -> String {
        var quote: Character?
        var escaped = false
        var out = ""
        for char in line {
            if let open = quote {
                if escaped {
                    escaped = false
                } else if char == "\\" && open == "\"" {
                    escaped = true
                } else if char == open {
                    quote = nil
                }
            } else if char == "\"" || char == "'" {
                quote = char
            } else if char == "#" {
                break
            }
            out.append(char)
        }
        return out
    }

    /// `[` minus `]` outside strings: how far a multi-line array is still open.
    static func bracketBalance(_ text: String) -> Int {
        var balance = 0
        var quote: Character?
        for char in text {
            if let open = quote {
                if char == open { quote = nil }
            } else if char == "\"" || char == "'" {
                quote = char
            } else if char == "[" {
                balance += 1
            } else if char == "]" {
                balance -= 1
            }
        }
        return balance
    }
}

extension String {
    func trimmingSpaces() -> String {
        var view = Substring(self)
        while let first = view.first, first == " " || first == "\t" || first == "\r" { view = view.dropFirst() }
        while let last = view.last, last == " " || last == "\t" || last == "\r" { view = view.dropLast() }
        return String(view)
    }
}
