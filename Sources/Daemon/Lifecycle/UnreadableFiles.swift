import Foundation
import PurgeCore

/// The files a comparison could not read for a reason that is not passing (EACCES, EPERM, an
/// errno the daemon does not know): each is left as it was in the manifest (SPEC §5) and is said
/// once with its errno — not again at every comparison while it stays so — and `status` carries
/// how many there are (``summary``).
///
/// Pure: fed each comparison's unreadable files. A path is forgotten when a later comparison
/// reads it (it shows as a change), or when a whole-tree comparison no longer finds it
/// unreadable.
struct UnreadableFiles: Sendable, Equatable {
    /// At most this many paths are remembered (the rest are counted, never listed).
    static let limit = 10_000
    /// At most this many paths are named in one log line.
    static let named = 5

    private(set) var known: [RelativePath: Int32] = [:]

    /// What to log for one comparison: the lines for files newly unreadable (or unreadable for a
    /// new reason), grouped by errno, at most one line per errno.
    mutating func record(
        unreadable: [RelativePath: Int32], readable changed: [RelativePath], wholeTree: Bool
    ) -> [String] {
        if wholeTree {
            known = known.filter { unreadable[$0.key] != nil }
        }
        for path in changed where unreadable[path] == nil { known[path] = nil }
        var fresh: [Int32: [RelativePath]] = [:]
        for (path, code) in unreadable where known[path] != code {
            if known.count < Self.limit || known[path] != nil { known[path] = code }
            fresh[code, default: []].append(path)
        }
        return fresh.keys.sorted().map { code in
            let paths = fresh[code]!.sorted()
            let named = paths.prefix(Self.named).map { "\($0)" }.joined(separator: ", ")
            let more = paths.count > Self.named ? " and \(paths.count - Self.named) more" : ""
            let reason = "\(String(cString: strerror(code))), errno \(code)"
            return paths.count == 1
                ? "cannot read \(named) (\(reason)): left as it was in the manifest; said again only if it changes"
                : "cannot read \(paths.count) files (\(reason)): \(named)\(more); left as they were in the manifest; said again only if it changes"
        }
    }

    /// For `status`: how many files cannot be read and one of them (nil: none).
    var summary: String? {
        guard let first = known.keys.min() else { return nil }
        let code = known[first]!
        return "\(known.count) file(s) cannot be read (e.g. \(first): \(String(cString: strerror(code))))"
    }
}
