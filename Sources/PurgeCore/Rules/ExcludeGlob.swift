/// One `exclude` pattern of `[site]` (SPEC §4), matched against raw-byte relative paths.
///
/// - A pattern without `/` matches the file (or directory) name at any depth (`*.tmp`).
/// - A pattern with `/` matches the whole relative path (`drafts/**`); a leading `/` anchors
///   a pattern to the root; a trailing `/` makes it match directories only.
/// - `*` and `?` never cross `/`; `**` does. `**/` at the start of the pattern or right after a
///   `/` stands for zero or more *whole* directories (`**/.*` matches `.env` and `a/.env`, never
///   `a.html`; `a/**/c` matches `a/c` and `a/x/y/c`, never `a/bc`). `*` matches a leading dot;
///   `[abc]`, `[a-z]` and `[!abc]` match one byte of a set (never `/`); `\x` is a literal `x`.
/// - A pattern that matches a directory excludes everything beneath it.
///
/// Matching runs a small NFA over the path's bytes with a fixed-size ``StateSet``: no allocation
/// per byte, linear in the path length, no backtracking. Where this reading differs from
/// gitignore's (a `**` that is not a whole path segment), see docs/ARCHITECTURE.md.
public struct ExcludeGlob: Sendable, Hashable, CustomStringConvertible {
    /// One NFA state; transitions are in ``step(_:_:)``, empty moves in ``closure``.
    enum Node: Hashable, Sendable {
        case literal(UInt8)
        case anyByte  // ?
        case byteClass(ByteSet)  // [..], never containing "/"
        case star  // *: any bytes but "/"
        case globStar  // ** not followed by "/": any bytes, "/" included
        /// `**/` at a segment start: skips ahead (zero directories) or starts a directory name.
        case directoriesStart
        /// Inside a directory name consumed by `**/`; only a `/` ends it (back to the start).
        case directoryName
    }

    /// The longest pattern, in NFA states, that a fixed-size state set holds.
    public static let maximumStates = StateSet.capacity - 1

    public let pattern: String
    let nodes: [Node]
    /// For each node, the node an empty move reaches, or -1.
    private let emptyMove: [Int]
    /// The nodes with an empty move, ascending (every empty move goes forward).
    private let nodesWithEmptyMoves: [Int]
    /// The state set before any byte is read (the start state and its empty moves).
    let initialStates: StateSet
    /// `true` when the pattern has no `/` (after removing a trailing one): it matches names.
    public let matchesNameOnly: Bool
    /// A name pattern of a common shape, decided without the NFA (`.*`, `*.tmp`, `*~`,
    /// `.DS_Store`); nil otherwise. Only for names, which never hold a `/`.
    let nameShape: NameShape?

    /// Literal bytes, optionally after or before one `*` run.
    enum NameShape: Hashable, Sendable {
        case exactly([UInt8])
        case prefix([UInt8])
        case suffix([UInt8])
    }
    public let directoriesOnly: Bool

    /// Parses a pattern. Returns nil for an empty pattern, an unterminated `[`, or a pattern
    /// longer than ``maximumStates``.
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
        guard let nodes = ExcludeGlob.compile(body), nodes.count <= Self.maximumStates else { return nil }
        self.nodes = nodes
        self.nameShape = matchesNameOnly ? Self.shape(of: nodes) : nil
        var emptyMove = [Int](repeating: -1, count: nodes.count)
        for (index, node) in nodes.enumerated() {
            switch node {
            case .star, .globStar: emptyMove[index] = index + 1
            case .directoriesStart: emptyMove[index] = index + 2  // past its directoryName node
            default: break
            }
        }
        self.emptyMove = emptyMove
        let nodesWithEmptyMoves = emptyMove.indices.filter { emptyMove[$0] >= 0 }
        self.nodesWithEmptyMoves = nodesWithEmptyMoves
        var initial = StateSet()
        initial.insert(0)
        for index in nodesWithEmptyMoves where initial.contains(index) { initial.insert(emptyMove[index]) }
        self.initialStates = initial
    }

    public var description: String { pattern }

    public static func == (lhs: ExcludeGlob, rhs: ExcludeGlob) -> Bool { lhs.pattern == rhs.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }

    /// The ``NameShape`` of a name pattern's nodes, if it has one.
    static func shape(of nodes: [Node]) -> NameShape? {
        func isStar(_ node: Node) -> Bool { node == .star || node == .globStar }
        func literals(_ part: ArraySlice<Node>) -> [UInt8]? {
            var bytes: [UInt8] = []
            for node in part {
                guard case .literal(let byte) = node else { return nil }
                bytes.append(byte)
            }
            return bytes
        }
        guard let firstStar = nodes.firstIndex(where: isStar) else { return literals(nodes[...]).map { .exactly($0) } }
        let lastStar = nodes.lastIndex(where: isStar)!
        guard nodes[firstStar...lastStar].allSatisfy(isStar) else { return nil }
        let head = nodes[..<firstStar]
        let tail = nodes[(lastStar + 1)...]
        if tail.isEmpty, let bytes = literals(head) { return .prefix(bytes) }
        if head.isEmpty, let bytes = literals(tail) { return .suffix(bytes) }
        return nil
    }

    private static func compile(_ body: [UInt8]) -> [Node]? {
        let slash = UInt8(ascii: "/")
        var nodes: [Node] = []
        var index = 0
        while index < body.count {
            let byte = body[index]
            switch byte {
            case UInt8(ascii: "*"):
                var end = index + 1
                while end < body.count && body[end] == UInt8(ascii: "*") { end += 1 }  // "***" is "**"
                if end - index == 1 {
                    nodes.append(.star)
                    index = end
                } else if (index == 0 || body[index - 1] == slash) && end < body.count && body[end] == slash {
                    // "**/" as a whole segment: zero or more whole directories.
                    nodes.append(.directoriesStart)
                    nodes.append(.directoryName)
                    index = end + 1
                } else {
                    nodes.append(.globStar)
                    index = end
                }
            case UInt8(ascii: "?"):
                nodes.append(.anyByte)
                index += 1
            case UInt8(ascii: "["):
                var cursor = index + 1
                var negated = false
                if cursor < body.count && (body[cursor] == UInt8(ascii: "!") || body[cursor] == UInt8(ascii: "^")) {
                    negated = true
                    cursor += 1
                }
                var set = ByteSet()
                var first = true
                // As gitignore's wildmatch: `]` first is a member, `\x` is `x`, `a-z` a range (a
                // reversed one holds its first byte only).
                func member(at position: Int) -> (byte: UInt8, next: Int)? {
                    guard position < body.count else { return nil }
                    if body[position] == UInt8(ascii: "\\") {
                        return position + 1 < body.count ? (body[position + 1], position + 2) : nil
                    }
                    return (body[position], position + 1)
                }
                while cursor < body.count && (first || body[cursor] != UInt8(ascii: "]")) {
                    first = false
                    guard let (low, afterLow) = member(at: cursor) else { return nil }
                    set.insert(low)
                    if afterLow + 1 < body.count && body[afterLow] == UInt8(ascii: "-")
                        && body[afterLow + 1] != UInt8(ascii: "]"), let (high, afterHigh) = member(at: afterLow + 1)
                    {
                        if low <= high { for byte in low...high { set.insert(byte) } }
                        cursor = afterHigh
                    } else {
                        cursor = afterLow
                    }
                }
                guard cursor < body.count else { return nil }
                if negated { set.invert() }
                set.remove(slash)
                nodes.append(.byteClass(set))
                index = cursor + 1
            case UInt8(ascii: "\\") where index + 1 < body.count:
                nodes.append(.literal(body[index + 1]))
                index += 2
            default:
                nodes.append(.literal(byte))
                index += 1
            }
        }
        return nodes
    }

    // MARK: - Matching

    /// Whether this pattern excludes `path` — the path itself or any directory above it.
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
        var states = initialStates
        for byte in bytes {
            if byte == slash && accepts(states) { return true }  // an ancestor directory matches
            states = step(states, byte)
            if states.isEmpty { return false }
        }
        return accepts(states) && (isDirectory || !directoriesOnly)
    }

    /// Whether the pattern matches `text` in full (a name, for a name pattern).
    public func matches(_ text: some Sequence<UInt8>) -> Bool {
        accepts(advance(initialStates, over: text))
    }

    /// Whether this name pattern matches the name `name` (no `/` in it): the shape's byte
    /// comparison when it has one, else the NFA.
    @inline(__always)
    func matchesName(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        switch nameShape {
        case .exactly(let bytes)?:
            return name.count == bytes.count && name.elementsEqual(bytes)
        case .prefix(let bytes)?:
            return name.count >= bytes.count && name.prefix(bytes.count).elementsEqual(bytes)
        case .suffix(let bytes)?:
            return name.count >= bytes.count && name.suffix(bytes.count).elementsEqual(bytes)
        case nil:
            return accepts(advance(initialStates, over: name))
        }
    }

    /// Whether `states` holds the accepting state.
    func accepts(_ states: StateSet) -> Bool { states.contains(nodes.count) }

    /// The states after reading `text` from `states` (empty once nothing can match any more).
    func advance(_ states: StateSet, over text: some Sequence<UInt8>) -> StateSet {
        var states = states
        for byte in text {
            if states.isEmpty { break }
            states = step(states, byte)
        }
        return states
    }

    /// One byte's transitions from every state in `states`, then the empty moves.
    func step(_ states: StateSet, _ byte: UInt8) -> StateSet {
        let slash = UInt8(ascii: "/")
        var next = StateSet()
        let count = nodes.count
        // swift-format-ignore: ReplaceForEachWithForLoop
        // StateSet is not a Sequence: its forEach walks the set bits without allocating.
        states.forEach { index in
            guard index < count else { return }  // the accepting state reads nothing
            switch nodes[index] {
            case .literal(let literal):
                if byte == literal { next.insert(index + 1) }
            case .anyByte:
                if byte != slash { next.insert(index + 1) }
            case .byteClass(let set):
                if set.contains(byte) { next.insert(index + 1) }
            case .star:
                if byte != slash { next.insert(index) }
            case .globStar:
                next.insert(index)
            case .directoriesStart:
                if byte != slash { next.insert(index + 1) }
            case .directoryName:
                next.insert(byte == slash ? index - 1 : index)
            }
        }
        return closure(of: next)
    }

    /// `states` with every state an empty move reaches (`*`, `**` and `**/` may match nothing).
    private func closure(of states: StateSet) -> StateSet {
        var states = states
        for index in nodesWithEmptyMoves where states.contains(index) {
            states.insert(emptyMove[index])
        }
        return states
    }
}

/// A set of NFA states of fixed size (``capacity`` bits), so matching never allocates.
public struct StateSet: Hashable, Sendable {
    public static let capacity = 256
    private var w0: UInt64 = 0
    private var w1: UInt64 = 0
    private var w2: UInt64 = 0
    private var w3: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { (w0 | w1 | w2 | w3) == 0 }

    private func word(_ index: Int) -> UInt64 {
        switch index {
        case 0: w0
        case 1: w1
        case 2: w2
        default: w3
        }
    }

    public func contains(_ state: Int) -> Bool {
        word(state >> 6) & (1 << UInt64(state & 63)) != 0
    }

    public mutating func insert(_ state: Int) {
        let bit: UInt64 = 1 << UInt64(state & 63)
        switch state >> 6 {
        case 0: w0 |= bit
        case 1: w1 |= bit
        case 2: w2 |= bit
        default: w3 |= bit
        }
    }

    public mutating func remove(_ state: Int) {
        let bit: UInt64 = ~(1 << UInt64(state & 63))
        switch state >> 6 {
        case 0: w0 &= bit
        case 1: w1 &= bit
        case 2: w2 &= bit
        default: w3 &= bit
        }
    }

    /// Every state of the capacity that is not a member.
    public mutating func invert() {
        w0 = ~w0
        w1 = ~w1
        w2 = ~w2
        w3 = ~w3
    }

    /// Calls `body` with each member, ascending.
    @inline(__always)
    func forEach(_ body: (Int) -> Void) {
        for wordIndex in 0..<4 {
            var bits = word(wordIndex)
            while bits != 0 {
                body(wordIndex << 6 | bits.trailingZeroBitCount)
                bits &= bits &- 1
            }
        }
    }
}

/// A set of bytes as a 256-bit map (a `[...]` class).
public struct ByteSet: Hashable, Sendable {
    private var members = StateSet()

    public init() {}

    public func contains(_ byte: UInt8) -> Bool { members.contains(Int(byte)) }
    public mutating func insert(_ byte: UInt8) { members.insert(Int(byte)) }
    public mutating func remove(_ byte: UInt8) { members.remove(Int(byte)) }
    public mutating func invert() { members.invert() }
}
