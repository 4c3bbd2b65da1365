import Foundation

/// The serial executor ``PurgeDaemon`` runs on: one dedicated thread, not the cooperative pool.
///
/// The daemon's state and its SQLite connection belong to the actor, and a SQLite statement is
/// blocking work (a page read, a WAL append, at worst a busy wait or a checkpoint). On the
/// cooperative pool — two threads on a two-core origin — one slow statement would hold half of
/// every other task's threads. On its own thread it holds only the actor, whose awaits (HTTP on
/// NIO's event loop, hashing on the detector's queue) release it for the other stages.
///
/// The thread lives as long as the process (it keeps its executor alive: a job can arrive until
/// the last task of the actor ends).
public final class DaemonThread: SerialExecutor, @unchecked Sendable {
    /// Guards `jobs` and wakes the thread.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var threadID: pthread_t?

    /// - Parameter name: the thread's name as `top -H` shows it (at most 15 bytes on Linux).
    public init(name: String = "purgewatch") {
        let thread = Thread {
            self.condition.lock()
            self.threadID = pthread_self()
            self.condition.broadcast()
            self.condition.unlock()
            self.runLoop()
        }
        thread.name = name
        thread.start()
        condition.lock()
        while threadID == nil { condition.wait() }
        condition.unlock()
    }

    /// Whether the caller runs on this executor's thread.
    public var isCurrentThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        return threadID.map { pthread_equal($0, pthread_self()) != 0 } ?? false
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    public func asUnownedSerialExecutor() -> UnownedSerialExecutor {
        UnownedSerialExecutor(ordinary: self)
    }

    private func runLoop() {
        var batch: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            swap(&batch, &jobs)
            condition.unlock()
            for job in batch {
                job.runSynchronously(on: asUnownedSerialExecutor())
            }
            batch.removeAll(keepingCapacity: true)
        }
    }
}
