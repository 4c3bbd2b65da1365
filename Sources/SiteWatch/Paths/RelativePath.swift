import Glibc

/// A path relative to the site root, as raw bytes: `/`-separated, no leading or trailing
/// slash, no `.` or `..` components. The empty path is the root itself.
///
/// File names need not be UTF-8 (SPEC §4); ``description`` shows each byte of an invalid
/// UTF-8 sequence as `\xNN` and a backslash as `\\`, so every path prints unambiguously.
public struct RelativePath: Hashable, Sendable, Comparable, CustomStringConvertible, ExpressibleByStringLiteral {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init(stringLiteral value: String) { self.init(value) }

    public static let root = RelativePath([])

    public var isRoot: Bool { bytes.isEmpty }

    /// `self/name` (or `name` for the root).
    public func appending(_ name: [UInt8]) -> RelativePath {
        if bytes.isEmpty { return RelativePath(name) }
        var result = bytes
        result.reserveCapacity(bytes.count + 1 + name.count)
        result.append(UInt8(ascii: "/"))
        result.append(contentsOf: name)
        return RelativePath(result)
    }

    /// The last component.
    public var name: [UInt8] {
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return bytes }
        return Array(bytes[(slash + 1)...])
    }

    /// The containing directory (the root for a top-level name); `nil` for the root.
    public var parent: RelativePath? {
        if bytes.isEmpty { return nil }
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return .root }
        return RelativePath(Array(bytes[..<slash]))
    }

    /// The components (`a/b/c` → `a`, `b`, `c`).
    public var components: [ArraySlice<UInt8>] {
        bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
    }

    /// `true` when `other` is this path or lies beneath it (everything lies beneath the root).
    public func contains(_ other: RelativePath) -> Bool {
        if bytes.isEmpty { return true }
        if other.bytes.count == bytes.count { return other.bytes == bytes }
        return other.bytes.count > bytes.count && other.bytes[bytes.count] == UInt8(ascii: "/")
            && other.bytes.starts(with: bytes)
    }

    /// Byte order, the order SQLite uses for BLOBs.
    public static func < (lhs: RelativePath, rhs: RelativePath) -> Bool {
        compare(lhs.bytes, rhs.bytes) < 0
    }

    /// memcmp order, then length: SQLite's BLOB order.
    @inlinable
    static func compare(_ lhs: [UInt8], _ rhs: [UInt8]) -> Int32 {
        lhs.withUnsafeBytes { l in
            rhs.withUnsafeBytes { r in
                let common = min(l.count, r.count)
                if common > 0 {
                    let order = memcmp(l.baseAddress!, r.baseAddress!, common)
                    if order != 0 { return order }
                }
                return l.count == r.count ? 0 : (l.count < r.count ? -1 : 1)
            }
        }
    }

    public var description: String { Self.escaped(bytes) }

    /// Bytes as text, each byte of invalid UTF-8 as `\xNN` and `\` as `\\`.
    public static func escaped(_ bytes: [UInt8]) -> String {
        var out = ""
        var index = 0
        while index < bytes.count {
            let length = validUTF8SequenceLength(bytes, at: index)
            if length == 0 {
                out += "\\x" + hex(bytes[index])
                index += 1
            } else {
                let scalarBytes = bytes[index..<(index + length)]
                if length == 1 && bytes[index] == UInt8(ascii: "\\") {
                    out += "\\\\"
                } else {
                    out += String(decoding: scalarBytes, as: UTF8.self)
                }
                index += length
            }
        }
        return out
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }

    /// The length of the well-formed UTF-8 sequence at `index` (RFC 3629), or 0.
    private static func validUTF8SequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let first = bytes[index]
        let length: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch first {
        case 0x00...0x7F: return 1
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            high = 0x9F
        case 0xF0:
            length = 4
            low = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            high = 0x8F
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        for offset in 1..<length {
            let byte = bytes[index + offset]
            let (lo, hi): (UInt8, UInt8) = offset == 1 ? (low, high) : (0x80, 0xBF)
            if byte < lo || byte > hi { return 0 }
        }
        return length
    }
}

/// The caller's exclusion rule: `true` when the path (relative to the root, raw bytes) is
/// excluded. Called before a file is hashed and before a directory is descended into or watched.
public typealias ExclusionRule = @Sendable (_ relativePath: [UInt8], _ isDirectory: Bool) -> Bool
