import Foundation
import StateStore

/// The state as this process holds it: the single-writer lock (SPEC §6) and the one SQLite
/// connection, opened and migrated. ``StateService`` (or `run --once`'s service) owns it: it is
/// opened and closed inside that service's `run()`; the stages only use it.
final class HeldState: Sendable {
    let path: String
    let lock: StateLock
    let db: StateDatabase

    private init(path: String, lock: StateLock, db: StateDatabase) {
        self.path = path
        self.lock = lock
        self.db = db
    }

    /// Takes the lock — refused at once, naming the holder (``DaemonError/stateLocked(_:)``) —,
    /// starts a dry run's file from a copy of the real state, then opens and migrates it.
    /// - Parameters:
    ///   - path: the file to open (`<state>.dry-run` in a dry run).
    ///   - dryRunOf: in a dry run, the real state file it starts from.
    static func open(path: String, dryRunOf real: String?) throws -> HeldState {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let lock: StateLock
        do {
            lock = try StateLock.acquire(forState: path)
        } catch {
            throw DaemonError.stateLocked(error)
        }
        if let real { try StateFiles.prepareDryRunCopy(real: real, dryRun: path) }
        let db = try StateDatabase.open(path: path, migrations: QueueSchema.migrations)
        return HeldState(path: path, lock: lock, db: db)
    }

    /// Closes the connection, then gives the lock back (later use of the connection throws).
    func close() {
        db.close()
        lock.release()
    }
}
