import Foundation
import StateStore

/// Where a config's state lives, and the dry-run copy (SPEC §6).
public enum StateFiles {
    /// Starts a dry run's state from a consistent copy of the real state, when there is one:
    /// the dry run then shows what a real run would purge, and never writes the real file, so
    /// it can never hide a change from a real run.
    static func prepareDryRunCopy(real: String, dryRun: String) throws {
        guard FileManager.default.fileExists(atPath: real) else { return }
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: dryRun + suffix) }
        let source = try StateDatabase.openReadOnly(path: real)
        defer { source.close() }
        try source.copy(to: dryRun)
    }
}
