/// PurgePathCache's `FlushType`.
public enum FlushType: String, Sendable, Codable, Hashable {
    /// Purge only what changed; nodes revalidate against the origin's Last-Modified.
    case flush
    /// Purge everything under the directory.
    case delete
}
