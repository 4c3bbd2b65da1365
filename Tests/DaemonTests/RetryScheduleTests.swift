import Foundation
import PurgeCore
import Testing

@testable import Daemon

/// SPEC §7 and issue 22: a retry loop always backs off, and a condition that persists is said
/// once (and again only when it changes, or every few minutes), never at every attempt. Time is
/// an input: hours pass in a loop, not in a sleep.
@Suite struct RetryScheduleTests {
    let start = ContinuousClock.now

    /// The waits, in seconds, of `count` failures in a row, each retried when it was due.
    func gaps(of schedule: inout RetrySchedule, count: Int) -> [Int64] {
        var now = start
        var gaps: [Int64] = []
        for _ in 0..<count {
            let next = schedule.nextAttempt(now: now)
            gaps.append(now.duration(to: next).components.seconds)
            now = next
        }
        return gaps
    }

    @Test func theComparisonRetryDoublesFromOneSecondToAMinute() {
        let options = DaemonOptions()
        var schedule = RetrySchedule(base: options.detectRetryBase, max: options.detectRetryMax)
        #expect(gaps(of: &schedule, count: 9) == [1, 2, 4, 8, 16, 32, 60, 60, 60])
        // Must not: a success leaves the backoff high.
        schedule.succeeded()
        #expect(gaps(of: &schedule, count: 1) == [1])
    }

    @Test func theWatcherRestartDoublesFromFiveSecondsToFiveMinutes() {
        let options = DaemonOptions()
        var schedule = RetrySchedule(base: options.monitorRestartBase, max: options.monitorRestartMax)
        #expect(gaps(of: &schedule, count: 8) == [5, 10, 20, 40, 80, 160, 300, 300])
    }

    /// A condition that lasts an hour, retried on the backoff: a handful of lines, not one per
    /// attempt; a new condition is said at once; after a success the same condition is news.
    @Test func aLastingConditionIsSaidOnceAndThenEveryFiveMinutes() {
        var schedule = RetrySchedule(base: .seconds(1), max: .seconds(60))
        var now = start
        var said: [Duration] = []
        var attempts = 0
        while start.duration(to: now) < .seconds(3_600) {
            let (retryAt, log) = schedule.failed("EMFILE", now: now)
            attempts += 1
            if log { said.append(start.duration(to: now)) }
            now = retryAt
        }
        #expect(attempts > 55, "retried all hour")
        #expect(said.first == .zero, "the first failure is said at once")
        #expect((11...13).contains(said.count), "about one line per 5 minutes over an hour, not \(said.count)")
        for (earlier, later) in zip(said, said.dropFirst()) { #expect(later - earlier >= .seconds(300)) }
        // Another condition is said at once, even a second later.
        #expect(schedule.failed("ENOSPC", now: now.advanced(by: .seconds(1))).log)
        #expect(!schedule.failed("ENOSPC", now: now.advanced(by: .seconds(2))).log)
        // The condition ended: it is reported as ended, and said again when it comes back.
        #expect(schedule.succeeded() == "ENOSPC")
        #expect(schedule.succeeded() == nil, "nothing was failing any more")
        #expect(schedule.failed("ENOSPC", now: now.advanced(by: .seconds(3))).log)
    }
}

/// Issue 22 item 4: a file that cannot be read (EACCES, EPERM, …) is logged with its errno, once
/// per condition — not at every comparison — and `status` carries how many there are.
@Suite struct UnreadableFilesTests {
    @Test func eachFileIsSaidOnceWithItsErrnoUntilItChanges() {
        var files = UnreadableFiles()
        let first = files.record(unreadable: ["a.html": EACCES], readable: [], wholeTree: true)
        #expect(first.count == 1)
        #expect(first[0].contains("a.html") && first[0].contains("errno \(EACCES)") && first[0].contains("Permission denied"))
        // Must not: the same file, same reason, at the next comparisons.
        #expect(files.record(unreadable: ["a.html": EACCES], readable: [], wholeTree: true).isEmpty)
        #expect(files.record(unreadable: ["a.html": EACCES], readable: [], wholeTree: false).isEmpty)
        // Another reason is news.
        #expect(files.record(unreadable: ["a.html": EIO], readable: [], wholeTree: false).count == 1)
        #expect(files.summary?.hasPrefix("1 file(s) cannot be read (e.g. a.html") == true)
    }

    @Test func manyFilesAreOneLinePerErrnoNamingAFew() {
        var files = UnreadableFiles()
        var unreadable: [RelativePath: Int32] = [:]
        for index in 0..<1_000 { unreadable[RelativePath("d/\(index).html")] = EACCES }
        unreadable["x.html"] = EPERM
        let lines = files.record(unreadable: unreadable, readable: [], wholeTree: true)
        #expect(lines.count == 2, "one line per errno, not per file: \(lines.count)")
        #expect(lines.contains { $0.contains("cannot read 1000 files") && $0.contains("995 more") })
        #expect(files.summary?.hasPrefix("1001 file(s)") == true)
    }

    @Test func aFileReadAgainIsForgottenAndSaidAgainIfItBreaksAgain() {
        var files = UnreadableFiles()
        _ = files.record(unreadable: ["a.html": EACCES, "b.html": EACCES], readable: [], wholeTree: true)
        // A scoped comparison that read a.html (a change): forgotten; b.html stays.
        #expect(files.record(unreadable: [:], readable: ["a.html"], wholeTree: false).isEmpty)
        #expect(files.summary?.hasPrefix("1 file(s) cannot be read (e.g. b.html") == true)
        // A whole-tree comparison that no longer finds b.html unreadable forgets it too.
        _ = files.record(unreadable: [:], readable: [], wholeTree: true)
        #expect(files.summary == nil)
        // Must: unreadable again is news again.
        #expect(files.record(unreadable: ["b.html": EACCES], readable: [], wholeTree: false).count == 1)
    }
}
