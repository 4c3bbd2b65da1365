import PurgeCore
import Testing

/// ``FlushTracker``: `flush --wait` answers for the URLs queued up to the moment its window
/// closed (SPEC §6), from sequences of events, without a daemon, a kernel or a clock.
@Suite struct FlushTrackerTests {
    typealias Tracker = FlushTracker<ContinuousClock.Instant>
    static let t0 = ContinuousClock.now

    static func at(_ seconds: Double) -> ContinuousClock.Instant { t0.advanced(by: .milliseconds(Int64(seconds * 1_000))) }

    @Test func aFlushBehindABarrierIsAnsweredByTheComparisonAfterTheBarrierNotOneAlreadyRunning() {
        var tracker = Tracker(watermark: 100)
        tracker.detectionStarted()  // a comparison of earlier events is running
        let barrier = tracker.barrierAsked(at: Self.at(0))
        let id = tracker.wait(behind: barrier, nowMilliseconds: 1_000)
        tracker.detectionFinished(watermark: 105)
        let settled1 = tracker.settledWindows()
        #expect(settled1.isEmpty, "must not: answered by a comparison that began before its events were drained")
        tracker.barrierReached(barrier)
        let settled2 = tracker.settledWindows()
        #expect(settled2.isEmpty, "its comparison has not run yet")
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 112)
        let settled3 = tracker.settledWindows()
        #expect(settled3 == [Tracker.Window(id: id, upTo: 112, after: 100, since: 1_000)])
        tracker.answered(id, upTo: 112)
        #expect(tracker.waiters.isEmpty && tracker.flushWatermark == 112)
    }

    /// A fleet's daemon that started while its database was away takes the shared queue on later
    /// (SPEC §9): a flush that waited meanwhile answers for the shared rows after that moment,
    /// never for rows other origins queued before it.
    @Test func aRebaseMovesTheWaitingFlushesRowsToTheSharedQueue() {
        var tracker = Tracker(watermark: 0)
        let id = tracker.wait(behind: nil, nowMilliseconds: 1)
        tracker.detectionStarted()  // fails: nowhere to queue yet (no detectionFinished)
        tracker.rebase(watermark: 5_000)
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 5_012)
        #expect(tracker.settledWindows() == [Tracker.Window(id: id, upTo: 5_012, after: 5_000, since: 1)])
        tracker.answered(id, upTo: 5_012)
        #expect(tracker.flushWatermark == 5_012)
        // A later flush starts from there, as after any answer.
        let next = tracker.wait(behind: nil, nowMilliseconds: 2)
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 5_020)
        #expect(tracker.settledWindows() == [Tracker.Window(id: next, upTo: 5_020, after: 5_012, since: 2)])
    }

    @Test func aFullFlushTakesTheNextComparisonThatStarts() {
        var tracker = Tracker(watermark: 0)
        tracker.detectionStarted()  // running when the flush arrives
        let id = tracker.wait(behind: nil, nowMilliseconds: 5)
        tracker.detectionFinished(watermark: 3)
        let settled4 = tracker.settledWindows()
        #expect(settled4.isEmpty, "the running comparison started before the flush")
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 7)
        let settled5 = tracker.settledWindows()
        #expect(settled5.map(\.id) == [id])
        let settled6 = tracker.settledWindows()
        #expect(settled6.map(\.upTo) == [7])
    }

    @Test func theRowsAreFixedWhenTheComparisonEndsNotWhenTheAnswerIsGiven() {
        var tracker = Tracker(watermark: 10)
        let id = tracker.wait(behind: nil, nowMilliseconds: 0)
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 20)
        let settled7 = tracker.settledWindows()
        #expect(settled7.map(\.upTo) == [20])  // not settled in the queue yet
        // A later deploy queues more; this flush still answers for its own rows only.
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 35)
        let settled8 = tracker.settledWindows()
        #expect(settled8.map(\.upTo) == [20], "must not grow with later deploys")
        tracker.answered(id, upTo: 20)
        // The next flush's own rows start where this one's ended.
        let next = tracker.wait(behind: nil, nowMilliseconds: 9)
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 40)
        let settled9 = tracker.settledWindows()
        #expect(settled9 == [Tracker.Window(id: next, upTo: 40, after: 20, since: 9)])
    }

    @Test func anUnansweredBarrierIsOverdueAfterItsTimeoutAndItsFlushesTakeTheNextComparison() {
        var tracker = Tracker(watermark: 0, barrierTimeout: .seconds(2))
        #expect(tracker.barrierDeadline == nil, "nothing asked: no deadline")
        let first = tracker.barrierAsked(at: Self.at(0))
        let waiting = tracker.wait(behind: first, nowMilliseconds: 0)
        let second = tracker.barrierAsked(at: Self.at(1))
        let alsoWaiting = tracker.wait(behind: second, nowMilliseconds: 1_000)
        #expect(tracker.barrierDeadline == Self.at(2))
        let atTheTimeout = tracker.barrierOverdue(now: Self.at(2))
        #expect(!atTheTimeout, "not at the timeout itself")
        let past = tracker.barrierOverdue(now: Self.at(2.001))
        #expect(past)
        #expect(tracker.barrierDeadline == nil)
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 4)
        let settled10 = tracker.settledWindows()
        #expect(Set(settled10.map(\.id)) == [waiting, alsoWaiting])
        let again = tracker.barrierOverdue(now: Self.at(60))
        #expect(!again, "reported once")
    }

    @Test func aBarrierAnswersEveryFlushBehindItOrAnEarlierOneNotALaterOne() {
        var tracker = Tracker(watermark: 0)
        let one = tracker.barrierAsked(at: Self.at(0))
        let a = tracker.wait(behind: one, nowMilliseconds: 0)
        let two = tracker.barrierAsked(at: Self.at(0.1))
        let b = tracker.wait(behind: two, nowMilliseconds: 100)
        tracker.barrierReached(one)
        #expect(tracker.barrierDeadline == Self.at(0.1).advanced(by: .seconds(2)), "the second is still asked")
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 1)
        let settled11 = tracker.settledWindows()
        #expect(settled11.map(\.id) == [a], "b waits for its own barrier")
        tracker.barrierReached(two)
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 2)
        let settled12 = tracker.settledWindows()
        #expect(settled12.map(\.id) == [a, b])
    }

    @Test func aClientThatLeftIsDroppedWithoutMovingTheWatermark() {
        var tracker = Tracker(watermark: 50)
        let id = tracker.wait(behind: nil, nowMilliseconds: 0)
        tracker.detectionStarted()
        tracker.detectionFinished(watermark: 60)
        tracker.dropped(id)
        let settled13 = tracker.settledWindows()
        #expect(tracker.waiters.isEmpty && settled13.isEmpty)
        #expect(tracker.flushWatermark == 50, "an unanswered flush claims no rows")
        #expect(tracker.wait(behind: nil, nowMilliseconds: 1) != id, "ids are not reused")
    }
}
