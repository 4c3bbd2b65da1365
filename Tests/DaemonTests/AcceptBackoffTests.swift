import Testing

@testable import Daemon

/// The control server out of file descriptors, without running out: the pause that keeps its
/// loop from spinning on a connection left in the backlog, and the one report per condition.
@Suite struct AcceptBackoffTests {
    let start = ContinuousClock.now

    @Test func refusalsPauseListeningForAGrowingBoundedTime() throws {
        var backoff = AcceptBackoff()
        #expect(backoff.polls(at: start))
        var now = start
        var pauses: [Duration] = []
        for _ in 0..<10 {
            _ = backoff.refused(at: now)
            let until = try #require(backoff.pausedUntil)
            pauses.append(now.duration(to: until))
            #expect(!backoff.polls(at: now), "the listening socket is left out of the poll")
            #expect(!backoff.polls(at: until.advanced(by: .milliseconds(-1))))
            #expect(backoff.polls(at: until), "and polled again when the pause is over")
            #expect(backoff.pauseEnd(at: now) == until && backoff.pauseEnd(at: until) == nil, "the poll wakes for it")
            now = until
        }
        #expect(
            pauses == [
                .milliseconds(50), .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800),
                .milliseconds(1_600), .milliseconds(3_200), .seconds(5), .seconds(5), .seconds(5),
            ])
        // While it lasts: one attempt every 5 s, whatever the backlog holds (the spare's return
        // ends a pause early, so a `status` waits no longer for it).
        #expect(pauses.dropFirst(7).allSatisfy { $0 == AcceptBackoff.longestPause })
    }

    @Test func theConditionIsReportedOnceWhenItBeginsAndOnceWhenItEnds() {
        var backoff = AcceptBackoff()
        #expect(backoff.accepted() == nil, "nothing to report while all is well")
        #expect(backoff.acceptedThroughSpare() == .outOfDescriptors)
        var reports: [AcceptBackoff.Report?] = []
        for step in 0..<100 {
            reports.append(backoff.refused(at: start.advanced(by: .seconds(step))))
            reports.append(backoff.acceptedThroughSpare())
            backoff.spareRetaken()
        }
        #expect(reports.allSatisfy { $0 == nil }, "no report per attempt")
        #expect(backoff.accepted() == .recovered)
        #expect(backoff.accepted() == nil)
        #expect(backoff.refused(at: start) == .outOfDescriptors, "a new condition is reported again")
    }

    @Test func takingTheSpareBackEndsThePauseButNotItsGrowth() {
        var backoff = AcceptBackoff()
        _ = backoff.refused(at: start)
        _ = backoff.refused(at: start)
        #expect(!backoff.polls(at: start))
        backoff.spareRetaken()
        #expect(backoff.polls(at: start), "a waiting client can be accepted through the spare at once")
        _ = backoff.refused(at: start)
        #expect(backoff.pausedUntil == start.advanced(by: .milliseconds(200)))
        #expect(backoff.accepted() == .recovered)
        _ = backoff.refused(at: start)
        #expect(backoff.pausedUntil == start.advanced(by: AcceptBackoff.firstPause), "an accept as usual starts it over")
    }
}
