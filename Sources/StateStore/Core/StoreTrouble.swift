/// A failure of the state store that a stage rides out instead of stopping on (SPEC §6: trouble
/// stays where it starts): retried — at once when the store was only busy, with a backoff while
/// it is full or away — while the daemon reports itself degraded and keeps watching. Nothing
/// detected is lost meanwhile: a change is acknowledged in the manifest only once its URLs are
/// queued.
///
/// The stages catch this, not one store's error: the SQLite file's ``DatabaseError`` and the
/// fleet's PostgreSQL error (`FleetStore.PostgresStoreError`) are both store trouble.
public protocol StoreTrouble: Error, CustomStringConvertible, Sendable {
    /// Another writer held a lock past the timeout, or the transaction lost a conflict: try again
    /// now.
    var isBusy: Bool { get }
    /// The store cannot be written for a while (a full disk, an I/O error, a database server away
    /// or out of resources): worth retrying once it is back, and tolerated at start.
    var isUnavailable: Bool { get }
    /// What an operator does about it, for the degraded log line.
    var remedy: String { get }
}

extension DatabaseError: StoreTrouble {
    public var isUnavailable: Bool { isStorageTrouble }
    public var remedy: String {
        isBusy ? "nothing: it is retried at once" : "free space on the state's file system" + (path.map { " (\($0))" } ?? "")
    }
}
