/// The `flush --wait` protocol (SPEC §6) as a value: the barriers asked of the watcher, the
/// comparisons started and finished, the queue's watermarks, and which waiting flushes can be
/// answered, for which rows. Fed events and the time; the daemon performs what it says (asks the
/// watcher for a barrier, closes the window, reads the rows' progress, answers the client). No
/// I/O, no clock read: table-tested (`FlushTrackerTests`).
///
/// A flush answers for the URLs queued up to the moment its window closed:
/// - with a barrier (the watcher drains what the kernel queued before the flush), the window
///   closes when the barrier comes back, and the comparison that starts after that fixes the
///   flush's rows; without one (`--full`, a watcher that cannot vouch for its events), the next
///   comparison does;
/// - a barrier not answered within `barrierTimeout` stops being waited for: the flushes behind it
///   take the next comparison (a full walk);
/// - its rows are those queued after the previous answered flush's watermark (failed whenever)
///   up to the highest queue id when its comparison ended; older rows count only if they failed
///   after the flush arrived (`since`), so an old failure never fails a later deploy.
public struct FlushTracker<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    /// One `flush --wait` client.
    public struct Waiter: Sendable, Equatable {
        /// The daemon's handle for the client (its connection is the daemon's, not ours).
        public let id: Int
        /// The barrier this flush waits for first (nil: none, the window closed at once).
        public let barrier: UInt64?
        /// The comparison (1-based count) whose end fixes the rows; nil until the barrier is back.
        public fileprivate(set) var afterDetection: Int?
        /// Wall-clock ms of the flush: older rows' failures before it belong to earlier deploys.
        public let since: Int64
        /// The previous flush's watermark: rows after it are this deploy's own.
        public fileprivate(set) var after: Int64
        /// The highest queue id covered, fixed when `afterDetection` has finished.
        public fileprivate(set) var upTo: Int64?
    }

    private struct AskedBarrier: Sendable {
        var id: UInt64
        var at: Instant
    }

    /// How long a barrier may stay unanswered before its flushes take the next full comparison.
    public let barrierTimeout: Duration
    public private(set) var waiters: [Waiter] = []
    /// Comparisons started and finished (a finished one that could not compare does not count).
    public private(set) var detectionsStarted = 0
    public private(set) var detectionsFinished = 0
    /// The highest queue id when the last comparison finished.
    public private(set) var detectionWatermark: Int64
    /// The watermark of the last flush answered (its rows' end).
    public private(set) var flushWatermark: Int64
    private var lastBarrierID: UInt64 = 0
    private var asked: [AskedBarrier] = []
    private var nextWaiterID = 0

    /// - Parameter watermark: the highest queue id already in the state at start: rows from
    ///   before this process belong to no flush of it.
    public init(watermark: Int64, barrierTimeout: Duration = .seconds(2)) {
        self.detectionWatermark = watermark
        self.flushWatermark = watermark
        self.barrierTimeout = barrierTimeout
    }

    /// The queue's rows start over at `watermark` (a fleet's daemon took its shared queue on after
    /// the start): rows up to it belong to no flush of this process, and the waiters not yet
    /// answered count only the rows after it.
    public mutating func rebase(watermark: Int64) {
        detectionWatermark = watermark
        flushWatermark = watermark
        for index in waiters.indices where waiters[index].upTo == nil { waiters[index].after = watermark }
    }

    /// The id the next barrier will carry (asked of the watcher before ``barrierAsked(at:)``).
    public var nextBarrierID: UInt64 { lastBarrierID + 1 }

    /// The watcher took barrier ``nextBarrierID`` at `now`.
    /// - Returns: its id.
    public mutating func barrierAsked(at now: Instant) -> UInt64 {
        lastBarrierID += 1
        asked.append(AskedBarrier(id: lastBarrierID, at: now))
        return lastBarrierID
    }

    /// A `flush --wait` arrives, behind `barrier` (nil: the window closed at once).
    /// - Returns: the waiter's id.
    public mutating func wait(behind barrier: UInt64?, nowMilliseconds: Int64) -> Int {
        nextWaiterID += 1
        waiters.append(
            Waiter(
                id: nextWaiterID, barrier: barrier, afterDetection: barrier == nil ? detectionsStarted + 1 : nil,
                since: nowMilliseconds, after: flushWatermark, upTo: nil))
        return nextWaiterID
    }

    /// The watcher delivered everything queued before barrier `id`: the flushes behind it (or an
    /// earlier one) take the next comparison. The daemon closes the window.
    public mutating func barrierReached(_ id: UInt64) {
        asked.removeAll { $0.id <= id }
        for index in waiters.indices where waiters[index].afterDetection == nil && (waiters[index].barrier ?? .max) <= id {
            waiters[index].afterDetection = detectionsStarted + 1
        }
    }

    /// When the oldest unanswered barrier is overdue (nil: none is asked).
    public var barrierDeadline: Instant? { asked.first.map { $0.at.advanced(by: barrierTimeout) } }

    /// The oldest barrier is unanswered past ``barrierTimeout`` at `now` (the watcher stopped, or
    /// a reload replaced it): the flushes waiting on barriers take the next comparison, and the
    /// daemon compares the whole tree.
    /// - Returns: true when that happened.
    public mutating func barrierOverdue(now: Instant) -> Bool {
        guard let oldest = asked.first, oldest.at.duration(to: now) > barrierTimeout else { return false }
        asked = []
        for index in waiters.indices where waiters[index].afterDetection == nil {
            waiters[index].afterDetection = detectionsStarted + 1
        }
        return true
    }

    /// A comparison starts.
    public mutating func detectionStarted() { detectionsStarted += 1 }

    /// The comparison started last has run; `watermark` is the highest queue id now.
    public mutating func detectionFinished(watermark: Int64) {
        detectionsFinished = detectionsStarted
        detectionWatermark = watermark
    }

    /// The rows one waiter answers for, once its comparison has finished.
    public struct Window: Sendable, Equatable {
        public let id: Int
        public let upTo: Int64
        public let after: Int64
        public let since: Int64

        public init(id: Int, upTo: Int64, after: Int64, since: Int64) {
            self.id = id
            self.upTo = upTo
            self.after = after
            self.since = since
        }
    }

    /// The waiters whose comparison has finished, with their rows (fixed at the first call after
    /// it finished). The daemon reads each window's progress and answers those that settled.
    public mutating func settledWindows() -> [Window] {
        var windows: [Window] = []
        for index in waiters.indices {
            if waiters[index].upTo == nil {
                guard let after = waiters[index].afterDetection, detectionsFinished >= after else { continue }
                waiters[index].upTo = detectionWatermark
            }
            let waiter = waiters[index]
            windows.append(Window(id: waiter.id, upTo: waiter.upTo ?? 0, after: waiter.after, since: waiter.since))
        }
        return windows
    }

    /// Waiter `id` was answered for rows up to `upTo`: the next flush's own rows start there.
    public mutating func answered(_ id: Int, upTo: Int64) {
        waiters.removeAll { $0.id == id }
        flushWatermark = max(flushWatermark, upTo)
    }

    /// Waiter `id` is gone (its client left, or the daemon stops) without an answer.
    public mutating func dropped(_ id: Int) {
        waiters.removeAll { $0.id == id }
    }
}
