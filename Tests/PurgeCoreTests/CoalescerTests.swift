import PurgeCore
import Testing

@Suite struct CoalescerTests {
    typealias Instant = ContinuousClock.Instant
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> Instant { start.advanced(by: .milliseconds(milliseconds)) }

    @Test func closesAfterQuietWithoutNewChanges() {
        var window = Coalescer<Instant>(quiet: .seconds(2), maxDelay: .seconds(30))
        #expect(window.deadline == nil)
        window.noteChange(at: at(0))
        window.noteChange(at: at(1_500))
        #expect(window.deadline == at(3_500))
        let due1 = window.takeIfDue(at: at(3_499))
        #expect(!due1)
        let due2 = window.takeIfDue(at: at(3_500))
        #expect(due2)
        #expect(!window.isOpen)
    }

    @Test func closesAtMaxDelayHoweverBusyTheTreeIs() {
        var window = Coalescer<Instant>(quiet: .seconds(2), maxDelay: .seconds(30))
        var now = 0
        while now < 40_000 {
            window.noteChange(at: at(now))
            let due = window.takeIfDue(at: at(now))
            if due { break }
            now += 1_000
        }
        #expect(now == 30_000)
    }

    @Test func flushClosesAtOnceEvenWhenIdle() {
        var window = Coalescer<Instant>(quiet: .seconds(60), maxDelay: .seconds(600))
        window.noteChange(at: at(0))
        window.flush()
        let due3 = window.takeIfDue(at: at(1))
        #expect(due3)
        window.flush()
        let due4 = window.takeIfDue(at: at(2))
        #expect(due4)
        let due5 = window.takeIfDue(at: at(3))
        #expect(!due5)
    }

    @Test func aNewWindowOpensAfterTheLastClosed() {
        var window = Coalescer<Instant>(quiet: .milliseconds(500), maxDelay: .seconds(5))
        window.noteChange(at: at(0))
        let due6 = window.takeIfDue(at: at(500))
        #expect(due6)
        window.noteChange(at: at(10_000))
        #expect(window.deadline == at(10_500))
    }
}
