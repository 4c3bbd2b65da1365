/// The caller's exclusion rule: `true` when the path (relative to the root, raw bytes) is
/// excluded. Called before a file is hashed and before a directory is descended into or watched.
public typealias ExclusionRule = @Sendable (_ relativePath: [UInt8], _ isDirectory: Bool) -> Bool
