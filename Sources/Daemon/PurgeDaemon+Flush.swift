import ControlProtocol
import Foundation
import StateStore

/// `flush --wait`: the control loop answers its waiters (SPEC §6).
extension PurgeDaemon {
    /// Answers the `flush --wait` clients whose rows have settled (``FlushTracker`` says which
    /// rows each answers for); a client that left is closed and forgotten.
    func answerWaiters() throws {
        guard !flush.waiters.isEmpty else { return }
        for waiter in flush.waiters where flushClients[waiter.id]?.peerHasLeft ?? true {
            flushClients.removeValue(forKey: waiter.id)?.answer(.error(.gone, message: "gone"))  // closes our end; the client timed out
            flush.dropped(waiter.id)
        }
        for window in flush.settledWindows() {
            let progress = try db.read {
                try $0.flushProgress(upTo: window.upTo, after: window.after, failuresSince: window.since)
            }
            if progress.unsettled > 0 { continue }
            flush.answered(window.id, upTo: window.upTo)
            let connection = flushClients.removeValue(forKey: window.id)
            if !progress.failed.isEmpty {
                connection?.answer(.failed(count: progress.failed.count, urls: Array(progress.failed.prefix(20))))
            } else {
                connection?.answer(.submitted)
            }
        }
    }

}
