import ControlProtocol
import Foundation
import PurgeCore
import StateStore

/// `flush --wait`: the control loop answers its waiters (SPEC §6).
extension PurgeDaemon {
    /// Answers the `flush --wait` clients whose rows have settled (``FlushTracker`` says which
    /// rows each answers for); a client that left is closed and forgotten. A fleet's queue is in
    /// the shared state, which the control loop never awaits: the fleet stage answers them
    /// (``answerWaitersFromSharedState()``), woken here.
    func answerWaiters() throws {
        guard !flush.waiters.isEmpty else { return }
        if fleetGate != nil {
            fleetWake.yield()
            return
        }
        forgetGoneWaiters()
        for window in flush.settledWindows() {
            let progress = try db.read {
                try $0.flushProgress(upTo: window.upTo, after: window.after, failuresSince: window.since)
            }
            answer(window, FlushProgress(unsettled: progress.unsettled, failed: progress.failed))
        }
    }

    /// ``answerWaiters()`` for a fleet: the rows' progress read from the shared state, the site's
    /// rows up to each window's watermark, whichever origin queued them (SPEC §9: across the
    /// fleet, convergence included). A read that fails leaves the clients waiting.
    func answerWaitersFromSharedState() async {
        guard !flush.waiters.isEmpty else { return }
        forgetGoneWaiters()
        for window in flush.settledWindows() {
            guard
                let progress = try? await store.flushProgress(upTo: window.upTo, after: window.after, failuresSince: window.since)
            else { return }
            answer(window, progress)
        }
    }

    private func forgetGoneWaiters() {
        for waiter in flush.waiters where flushClients[waiter.id]?.peerHasLeft ?? true {
            flushClients.removeValue(forKey: waiter.id)?.answer(.error(.gone, message: "gone"))  // closes our end; the client timed out
            flush.dropped(waiter.id)
        }
    }

    private func answer(_ window: FlushTracker<ContinuousClock.Instant>.Window, _ progress: FlushProgress) {
        if progress.unsettled > 0 { return }
        flush.answered(window.id, upTo: window.upTo)
        let connection = flushClients.removeValue(forKey: window.id)
        if !progress.failed.isEmpty {
            connection?.answer(.failed(count: progress.failed.count, urls: Array(progress.failed.prefix(20))))
        } else {
            connection?.answer(.submitted)
        }
    }

    /// Answers every `flush --wait` client at once with `busy` (try again): comparisons cannot run
    /// now (out of file descriptors), and a waiting client's connection is itself a descriptor
    /// that keeps them from running — waiting on would hold both until the clients give up.
    func refuseWaiters(_ reason: String) {
        guard !flushClients.isEmpty else { return }
        for (id, connection) in flushClients {
            connection.answer(.error(.busy, message: "\(reason); try again"))
            flush.dropped(id)
        }
        logger.warning("answered \(flushClients.count) waiting flush client(s) with \"try again\": \(reason)")
        flushClients = [:]
    }
}
