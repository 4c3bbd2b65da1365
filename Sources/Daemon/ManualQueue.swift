import Foundation
import PurgeCore
import StateStore

/// `purgewatch purge`: URLs queued by hand go through the same queue as detected changes.
public enum ManualQueue {
    /// Adds the URLs to the real state's queue. Returns how many were new (not already pending).
    public static func enqueue(_ urls: [(url: String, path: [UInt8]?)], config: SiteConfig) throws -> Int {
        let directory = (config.state.path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let db = try StateDatabase.open(path: config.state.path, migrations: QueueSchema.migrations)
        defer { db.close() }
        let area = config.purge.area.rawValue
        return try db.transaction { tx in
            var added = 0
            for (url, path) in urls where try tx.enqueue(url: url, area: area, path: path, kind: "manual", nowMilliseconds: nowMilliseconds()) {
                added += 1
            }
            return added
        }
    }
}
