/// One `exclude` pattern of `[site]` (SPEC §4), matched against raw-byte relative paths.
///
/// - A pattern without `/` matches the file (or directory) name at any depth (`*.tmp`).
/// - A pattern with `/` matches the whole relative path (`drafts/**`); a leading `/` anchors
///   a pattern to the root; a trailing `/` makes it match directories only.
/// - `*` and `?` never cross `/`; `**` does, and `**/` also matches no directory at all;
///   `*` matches a leading dot; `[abc]`, `[a-z]` and `[!abc]` match one byte of a set.
/// - A pattern that matches a directory excludes everything beneath it.
public struct ExcludeGlob: Sendable, Hashable, CustomStringConvertible {
    enum Token: Hashable, Sendable {
        case literal(UInt8)
        case anyByte  // ?
        case star  // *
        case globStar  // ** (crosses /)
        case globStarSlash  // **/ (zero or more whole directories)
        case byteClass(Set<UInt8>, negated: Bool)
    }

    public let pattern: String
    let tokens: [Token]
    let matchesNameOnly: Bool
    let directoriesOnly: Bool

    /// Parses a pattern. Returns nil for an empty pattern or an unterminated `[`.
    public init?(_ pattern: String) {
        self.pattern = pattern
        var body = Array(pattern.utf8)
        var directoriesOnly = false
        while body.last == UInt8(ascii: "/") {
            directoriesOnly = true
            body.removeLast()
        }
        var anchored = false
        while body.first == UInt8(ascii: "/") {
            anchored = true
            body.removeFirst()
        }
        guard !body.isEmpty else { return nil }
        self.directoriesOnly = directoriesOnly
        self.matchesNameOnly = !anchored && !body.contains(UInt8(ascii: "/"))
        guard let tokens = ExcludeGlob.tokenize(body) else { return nil }
        self.tokens = tokens
    }

    public var description: String { pattern }

    private static func tokenize(_ body: [UInt8]) -> [Token]? {
        var tokens: [Token] = []
        var index = 0
        while index < body.count {
            let byte = body[index]
            switch byte {
            case UInt8(ascii: "*"):
                if index + 1 < body.count && body[index + 1] == UInt8(ascii: "*") {
                    var end = index + 2
                    while end < body.count && body[end] == UInt8(ascii: "*") { end += 1 }  // "***" is "**"
                    if end < body.count && body[end] == UInt8(ascii: "/") {
                        tokens.append(.globStarSlash)
                        index = end + 1
                    } else {
                        tokens.append(.globStar)
                        index = end
                    }
                } else {
                    tokens.append(.star)
                    index += 1
                }
            case UInt8(ascii: "?"):
                tokens.append(.anyByte)
                index += 1
            case UInt8(ascii: "["):
                var cursor = index + 1
                var negated = false
                if cursor < body.count && (body[cursor] == UInt8(ascii: "!") || body[cursor] == UInt8(ascii: "^")) {
                    negated = true
                    cursor += 1
                }
                var set = Set<UInt8>()
                var first = true
                while cursor < body.count && (first || body[cursor] != UInt8(ascii: "]")) {
                    first = false
                    let low = body[cursor]
                    if cursor + 2 < body.count && body[cursor + 1] == UInt8(ascii: "-")
                        && body[cursor + 2] != UInt8(ascii: "]")
                    {
                        let high = body[cursor + 2]
                        if low <= high { for member in low...high { set.insert(member) } }
                        cursor += 3
                    } else {
                        set.insert(low)
                        cursor += 1
                    }
                }
                guard cursor < body.count else { return nil }
                tokens.append(.byteClass(set, negated: negated))
                index = cursor + 1
            case UInt8(ascii: "\\") where index + 1 < body.count:
                tokens.append(.literal(body[index + 1]))
                index += 2
            default:
                tokens.append(.literal(byte))
                index += 1
            }
        }
        return tokens
    }

    /// Whether this pattern excludes `path` — the path itself or any directory above it.
    ///
    /// One forward pass of a small NFA over the path's bytes: the pattern's state set after each
    /// byte says whether the prefix read so far matches, so every ancestor directory is tested at
    /// its `/` without re-reading the path (linear in the path length, no recursion).
    public func excludes(_ path: RelativePath, isDirectory: Bool) -> Bool {
        let bytes = path.bytes
        let slash = UInt8(ascii: "/")
        if matchesNameOnly {
            var start = 0
            for index in 0...bytes.count where index == bytes.count || bytes[index] == slash {
                let entryIsDirectory = index == bytes.count ? isDirectory : true
                if (entryIsDirectory || !directoriesOnly) && matches(bytes[start..<index]) { return true }
                start = index + 1
            }
            return false
        }
        var states = initialStates()
        for byte in bytes {
            if byte == slash && states[tokens.count] { return true }  // an ancestor directory matches
            states = step(states, byte)
            if !states.contains(true) { return false }
        }
        return states[tokens.count] && (isDirectory || !directoriesOnly)
    }

    /// Whether the pattern matches `text` in full.
    func matches(_ text: ArraySlice<UInt8>) -> Bool {
        var states = initialStates()
        for byte in text {
            states = step(states, byte)
            if !states.contains(true) { return false }
        }
        return states[tokens.count]
    }

    private func initialStates() -> [Bool] {
        var states = [Bool](repeating: false, count: tokens.count + 1)
        states[0] = true
        closeOverEmptyMatches(&states)
        return states
    }

    /// `*`, `**` and `**/` may match nothing: whoever reaches them also reaches what follows.
    private func closeOverEmptyMatches(_ states: inout [Bool]) {
        for index in tokens.indices where states[index] {
            switch tokens[index] {
            case .star, .globStar, .globStarSlash: states[index + 1] = true
            default: break
            }
        }
    }

    private func step(_ states: [Bool], _ byte: UInt8) -> [Bool] {
        let slash = UInt8(ascii: "/")
        var next = [Bool](repeating: false, count: tokens.count + 1)
        for index in tokens.indices where states[index] {
            switch tokens[index] {
            case .literal(let literal):
                if byte == literal { next[index + 1] = true }
            case .anyByte:
                if byte != slash { next[index + 1] = true }
            case .byteClass(let set, let negated):
                if byte != slash && set.contains(byte) != negated { next[index + 1] = true }
            case .star:
                if byte != slash { next[index] = true }
            case .globStar:
                next[index] = true
            case .globStarSlash:
                next[index] = true
                if byte == slash { next[index + 1] = true }
            }
        }
        closeOverEmptyMatches(&next)
        return next
    }
}
