/// Parses journald's native protocol the way journald does, independently of the code under test:
/// `NAME=value\n`, or `NAME\n` + 64-bit little-endian length + bytes + `\n`.
struct NativeProtocolParser {
    struct Field: Equatable {
        var name: String
        var value: [UInt8]
        var text: String { String(decoding: value, as: UTF8.self) }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Which form each field was sent in, for asserting the binary-safe form is used.
    enum Form: Equatable { case plain, binary }

    static func parse(_ bytes: [UInt8]) throws -> [(field: Field, form: Form)] {
        var result: [(field: Field, form: Form)] = []
        var index = 0
        while index < bytes.count {
            guard let end = bytes[index...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") })
            else { throw Failure(description: "field at \(index) has no '=' or newline") }
            let name = String(decoding: bytes[index..<end], as: UTF8.self)
            if bytes[end] == UInt8(ascii: "=") {
                guard let newline = bytes[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) else {
                    throw Failure(description: "\(name): no terminating newline")
                }
                result.append((Field(name: name, value: Array(bytes[(end + 1)..<newline])), .plain))
                index = newline + 1
            } else {
                let lengthStart = end + 1
                guard lengthStart + 8 <= bytes.count else { throw Failure(description: "\(name): short length") }
                var length: UInt64 = 0
                for (shift, byte) in bytes[lengthStart..<(lengthStart + 8)].enumerated() {
                    length |= UInt64(byte) << (8 * UInt64(shift))
                }
                let valueStart = lengthStart + 8
                let valueEnd = valueStart + Int(length)
                guard valueEnd < bytes.count, bytes[valueEnd] == UInt8(ascii: "\n") else {
                    throw Failure(description: "\(name): value of \(length) bytes not followed by a newline")
                }
                result.append((Field(name: name, value: Array(bytes[valueStart..<valueEnd])), .binary))
                index = valueEnd + 1
            }
        }
        return result
    }

    /// Field name → text, for entries without repeated names.
    static func dictionary(_ bytes: [UInt8]) throws -> [String: String] {
        var fields: [String: String] = [:]
        for (field, _) in try parse(bytes) { fields[field.name] = field.text }
        return fields
    }
}
