import Foundation
import Glibc
import Operator
import SiteWatch
import TencentEmulator
import Testing

@testable import Daemon

/// What the daemon cannot do is said in `status` and `status --check` (issue 22), and stops
/// being said when it can again: a root that does not exist yet, a tree that cannot be compared.
@Suite struct StatusTroubleTests {
    static func check(_ manual: ManualDaemon) async throws -> (level: StatusReport.CheckLevel, line: String, text: String) {
        var report = try await StatusReport.read(config: await manual.daemon.config, dryRun: false, now: manual.clock.wall)
        report.daemonRunning = true  // the in-process daemon serves no socket: as if it answered the ping
        let (level, line) = report.check(maxDelay: .seconds(30), area: "mainland")
        return (level, line, report.text)
    }

    @Test func aTreeThatCannotBeComparedIsAWarningUntilItCanBe() async throws {
        try await ManualDaemon.with(wall: Date()) { manual, _, _ in
            #expect(try await Self.check(manual).level == .ok)
            await manual.daemon.withDetection { $0.failed(SiteWatchError.transient(errno: EMFILE, path: "blog/a.html")) }
            let trouble = try await Self.check(manual)
            #expect(trouble.level == .warning)
            #expect(trouble.line.contains("cannot compare the tree now") && trouble.line.contains("EMFILE"), "\(trouble.line)")
            #expect(trouble.text.contains("TROUBLE:"), "\(trouble.text)")
            await manual.daemon.withDetection { $0.succeeded(monitor: nil) }
            let fine = try await Self.check(manual)
            #expect(fine.level == .ok, "\(fine.line)")
            #expect(!fine.text.contains("TROUBLE"))
        }
    }

    @Test func aRootThatDoesNotExistYetIsAWarningUntilItAppears() async throws {
        try await ManualDaemon.with(wall: Date()) { manual, _, _ in
            let root = await manual.daemon.config.site.root
            await manual.daemon.absorb(.rootUnavailable(root), now: manual.clock.daemonClock.now())
            let waiting = try await Self.check(manual)
            #expect(waiting.level == .warning && waiting.line.contains("does not exist yet"), "\(waiting.line)")
            #expect(waiting.text.contains("WAITING:"), "\(waiting.text)")
            // The root's arrival (the watcher's rescan for the new root) clears it.
            await manual.daemon.absorb(.rescanNeeded(.rootReplaced(root)), now: manual.clock.daemonClock.now())
            let arrived = try await Self.check(manual)
            #expect(arrived.level == .ok, "\(arrived.line)")
            #expect(!arrived.text.contains("WAITING"))
        }
    }

    /// A daemon that takes the ping's connection but does not answer in time is not "no daemon":
    /// `status` says it runs and did not answer, with what it last recorded (the cause).
    @Test func aDaemonThatDoesNotAnswerIsNotReportedStopped() async throws {
        try await ManualDaemon.with(wall: Date()) { manual, _, _ in
            await manual.daemon.withDetection { $0.failed(SiteWatchError.transient(errno: EMFILE, path: "blog/a.html")) }
            var report = try await StatusReport.read(config: await manual.daemon.config, dryRun: false, now: manual.clock.wall)
            report.daemonRunning = true
            report.daemonAnswering = false
            let (level, line) = report.check(maxDelay: .seconds(30), area: "mainland")
            #expect(level == .critical, "\(line)")
            #expect(line.contains("did not answer within 2 s") && !line.contains("no daemon"), "\(line)")
            #expect(line.contains("cannot compare the tree now"), "the cause it recorded: \(line)")
            #expect(report.text.contains("running, but did not answer") && report.text.contains("TROUBLE:"), "\(report.text)")
            #expect(report.json.contains("\"daemon_answering\": false"), "\(report.json)")
            // `daemon_running` keeps its meaning (a daemon that answered): JSON alerting on it
            // still fires for a daemon that does not answer.
            #expect(report.json.contains("\"daemon_running\": false"), "\(report.json)")
        }
    }
}
