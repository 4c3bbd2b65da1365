import ControlProtocol
import Daemon
import Foundation
import PurgeCore
import StateStore

/// `purgewatch purge`: URLs queued by hand go through the same queue as detected changes.
public enum ManualQueue {
    /// The command for the running daemon: each URL with the path it was mapped from, if any.
    public static func command(_ urls: [(url: String, path: [UInt8]?)]) -> ControlCommand {
        .purge(urls.map { PurgeItem(url: $0.url, path: $0.path) })
    }

    /// Adds the URLs to the real state's queue when no daemon runs (taking the state's
    /// single-writer lock). Returns how many were new (not already pending).
    /// - Throws: ``DaemonError/stateLocked(_:)`` when another process writes the state.
    public static func enqueue(_ urls: [(url: String, path: [UInt8]?)], config: SiteConfig) throws -> Int {
        let area = config.purge.area.rawValue
        return try withLockedState(config) { tx in
            var added = 0
            for (url, path) in urls
            where try tx.enqueue(url: url, area: area, path: path, kind: .manual, nowMilliseconds: DaemonClock.system.wallMilliseconds()) {
                added += 1
            }
            return added
        }
    }

    /// Runs `body` in one transaction on the real state, holding its single-writer lock (for
    /// the commands that write the state themselves when no daemon runs).
    /// - Throws: ``DaemonError/stateLocked(_:)`` when another process writes the state.
    static func withLockedState<T>(_ config: SiteConfig, _ body: (Database) throws -> T) throws -> T {
        let directory = (config.state.path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let lock: StateLock
        do {
            lock = try StateLock.acquire(forState: config.state.path)
        } catch {
            throw DaemonError.stateLocked(error)
        }
        defer { lock.release() }
        let db = try StateDatabase.open(path: config.state.path, migrations: QueueSchema.migrations)
        defer { db.close() }
        return try db.transaction(body)
    }
}
