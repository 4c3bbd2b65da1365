/// A file's path relative to the site root: `/`-separated raw bytes, no leading `/`.
///
/// File names on Linux are bytes, not text (SPEC §4): a path need not be valid UTF-8,
/// so every stage that names a file carries it as bytes and only renders it for people.
public struct RelativePath: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    public init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    /// Normalises a path given by a person: drops a leading `./`, repeated and trailing `/`.
    public static func normalized(_ raw: [UInt8]) -> RelativePath {
        let parts = raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true)
            .filter { !($0.count == 1 && $0.first == UInt8(ascii: ".")) }
        return RelativePath(bytes: Array(parts.joined(separator: [UInt8(ascii: "/")])))
    }

    /// The path's components, split at `/`.
    public var components: [ArraySlice<UInt8>] {
        bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    }

    /// The last component (the file name).
    public var fileName: ArraySlice<UInt8> {
        if let slash = bytes.lastIndex(of: UInt8(ascii: "/")) {
            return bytes[(slash + 1)...]
        }
        return bytes[...]
    }

    /// Renders the path for people: valid UTF-8 as text, each invalid byte as `\xNN` (SPEC §4).
    public var description: String { RelativePath.display(bytes) }

    public static func < (lhs: RelativePath, rhs: RelativePath) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }

    /// Renders bytes as text, with each byte that is not part of a valid UTF-8 sequence as `\xNN`.
    public static func display<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let array = Array(bytes)
        var out = ""
        out.reserveCapacity(array.count)
        var index = 0
        while index < array.count {
            let length = UTF8Validation.sequenceLength(array, at: index)
            if length > 0 {
                out += String(decoding: array[index..<(index + length)], as: UTF8.self)
                index += length
            } else {
                out += "\\x" + hexByte(array[index], uppercase: false)
                index += 1
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
