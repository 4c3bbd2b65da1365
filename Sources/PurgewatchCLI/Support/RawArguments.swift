import Glibc

/// The process's arguments as raw bytes.
///
/// `CommandLine.arguments` repairs bytes that are not UTF-8 (to U+FFFD), which would lose a
/// non-UTF-8 file name; `explain` and `purge` take paths as raw bytes (SPEC §4).
enum RawArguments {
    static let all: [[UInt8]] = (0..<Int(CommandLine.argc)).map { index in
        guard let pointer = CommandLine.unsafeArgv[index] else { return [] }
        return Array(UnsafeBufferPointer(start: UnsafeRawPointer(pointer).assumingMemoryBound(to: UInt8.self), count: strlen(pointer)))
    }

    /// The raw bytes of each parsed value, matched to argv in order.
    static func bytes(of values: [String]) -> [[UInt8]] {
        var used = Set<Int>()
        let decoded = CommandLine.arguments
        return values.map { value in
            for index in decoded.indices.dropFirst() where !used.contains(index) && decoded[index] == value {
                used.insert(index)
                return all[index]
            }
            return Array(value.utf8)
        }
    }
}
