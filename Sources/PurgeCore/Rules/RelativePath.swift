#if canImport(Glibc)
import Glibc
#endif

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

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Normalises a path given by a person: drops `.` components and repeated or trailing `/`.
    public static func normalized(_ raw: [UInt8]) -> RelativePath {
        let parts = raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
            .filter { !($0.count == 1 && $0.first == UInt8(ascii: ".")) }
        return RelativePath(Array(parts.joined(separator: [UInt8(ascii: "/")])))
    }

    /// The last component, as a slice of ``bytes``.
    public var fileName: ArraySlice<UInt8> {
        if let slash = bytes.lastIndex(of: UInt8(ascii: "/")) {
            return bytes[(slash + 1)...]
        }
        return bytes[...]
    }

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

    /// `self/name` from bytes in place, in one allocation.
    public func appending(_ name: UnsafeBufferPointer<UInt8>) -> RelativePath {
        let count = bytes.isEmpty ? name.count : bytes.count + 1 + name.count
        let result = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var at = 0
            if !bytes.isEmpty {
                _ = bytes.withUnsafeBufferPointer { memcpy(buffer.baseAddress!, $0.baseAddress!, $0.count) }
                at = bytes.count
                buffer[at] = UInt8(ascii: "/")
                at += 1
            }
            if name.count > 0 { memcpy(buffer.baseAddress! + at, name.baseAddress!, name.count) }
            initialized = count
        }
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
            let length = UTF8Validation.sequenceLength(bytes, at: index)
            if length == 0 {
                out += "\\x" + hexByte(bytes[index], uppercase: true)
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
}

/// Strict UTF-8 validation, one sequence at a time (no overlongs, no surrogates, ≤ U+10FFFF).
enum UTF8Validation {
    /// The length of the valid UTF-8 sequence starting at `index`, or 0 when the byte there does not start one.
    static func sequenceLength(_ bytes: [UInt8], at index: Int) -> Int {
        let lead = bytes[index]
        if lead < 0x80 { return 1 }
        let length: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; lower = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; upper = 0x9F
        case 0xF0: length = 4; lower = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; upper = 0x8F
        default: return 0
        }
        guard index + length <= bytes.count else { return 0 }
        let second = bytes[index + 1]
        guard second >= lower && second <= upper else { return 0 }
        for offset in 2..<length where bytes[index + offset] & 0xC0 != 0x80 {
            return 0
        }
        return length
    }
}

func hexByte(_ byte: UInt8, uppercase: Bool) -> String {
    let digits: [Character] = uppercase ? Array("0123456789ABCDEF") : Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}
