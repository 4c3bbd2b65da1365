import Foundation
import PurgeCore
import StateStore
import TencentCDN
import TencentEmulator
import Testing

@testable import Daemon

/// SPEC §2 and §6, `flush --wait`: it "returns when every URL queued before the call has been
/// submitted (exit 0) or has failed permanently (exit 1)", and "answers for the URLs queued up to
/// the moment it closed the window: exit 0 when all of them were accepted (older failures do not
/// count), 1 when one of them failed permanently (it names them)". Through the real control loop
/// (the `flush-wait` command on a socket pair), detector and submitter, on a manual clock.
@Suite struct FlushWaitScopeTests {
    /// 2026-12-07T04:00:00Z: far from a quota reset.
    static let start = Date(timeIntervalSince1970: 1_796_616_000)
    static let www = "https://www.example.com/"

    static func with(_ body: (ManualDaemon, TencentEmulator, ManualClock) async throws -> Void) async throws {
        var options = DaemonOptions()
        options.retryPolicy = RetryPolicy(baseDelay: .milliseconds(1), maxDelay: .milliseconds(1), maxAttempts: 1)
        try await ManualDaemon.with(wall: start, options: options, extraConfig: "\n[coalesce]\nquiet = \"2s\"") {
            manual, emulator, clock in
            let root = await manual.daemon.config.site.root
            for name in ["a", "b", "old", "new", "bad"] {
                try "v0\n".write(toFile: root + "/\(name).html", atomically: false, encoding: .utf8)
            }
            try await manual.daemon.reconcile()  // the baseline: nothing purged
            try await body(manual, emulator, clock)
        }
    }

    static func rowsQueued(_ manual: ManualDaemon) async throws -> Int {
        Int(try await manual.daemon.db.read { try $0.highestQueueID() })
    }

    /// A change the watcher reported, compared once quiet has passed.
    static func changeAndLetQuietPass(_ manual: ManualDaemon, _ name: String) async throws {
        try await manual.change(name, "\(UUID())\n")
        manual.advance(to: manual.clock.daemonClock.now().advanced(by: .seconds(2)))
        try await manual.input(.tick)
    }

    @Test func aFlushWaitAnswersForItsOwnURLsNotForChangesAfterIt() async throws {
        try await Self.with { manual, emulator, clock in
            emulator.setTaskCompletionDelay(.seconds(1_000_000))  // accepted, never verified `done`
            emulator.failNext(1, with: .internalError, action: "PurgeUrlsCache")

            // The deploy writes a.html, then flushes half a second later.
            try await manual.change("a.html", "v1\n")
            clock.advance(by: .milliseconds(500))
            let flush = try FlushClient()
            try await manual.input(.control(flush.connection))
            #expect(try await Self.rowsQueued(manual) == 1, "the flush closed the window at once, before quiet")
            try await manual.submitPass()
            let retryAt = try #require(try await manual.nextAttempt(), "refused (InternalError): retried later")
            try await manual.input(.progress)
            #expect(flush.answer == nil, "must not: answered while its URL waits for a retry")

            // After the flush: a URL queued by hand is accepted at once …
            try await manual.queue(1, prefix: "later")
            try await manual.submitPass()
            try await manual.input(.progress)
            #expect(emulator.acceptedURLs == [Self.www + "later0.html"])
            #expect(flush.answer == nil, "must not: answered for a later URL's acceptance")
            // … and a later change fails permanently.
            emulator.rejectWithoutNaming([Self.www + "b.html"])
            try await Self.changeAndLetQuietPass(manual, "b.html")
            try await manual.submitPass()
            try await manual.input(.progress)
            #expect(try await manual.daemon.db.read { try $0.queueCount(state: .failed) } == 1, "b.html failed")
            #expect(flush.answer == nil, "must not: answered (or failed) for a later URL's failure")

            // The retry is due: a.html is accepted, and that answers the flush — not the later
            // failure, and without waiting for the task to be verified done.
            #expect(retryAt > clock.daemonClock.now(), "the retry was still ahead")
            manual.advance(to: retryAt)
            try await manual.submitPass()
            #expect(emulator.acceptedURLs.contains(Self.www + "a.html"))
            try await manual.input(.progress)
            #expect(flush.answer == .submitted)
            #expect(try await manual.batchCounts()[.done] == 0, "answered before any task was done")
        }
    }

    /// A flush names its own failures; the next flush is not failed by them ("older failures do
    /// not count"); a URL of this deploy that failed before its flush arrived is still its own.
    @Test func aFlushFailsForItsOwnFailuresOnlyNamingThem() async throws {
        try await Self.with { manual, emulator, clock in
            emulator.rejectWithoutNaming([Self.www + "old.html", Self.www + "bad.html"])

            // A deploy whose URL fails permanently: exit 1, naming it.
            try await manual.change("old.html", "v1\n")
            let first = try FlushClient()
            try await manual.input(.control(first.connection))
            try await manual.input(.progress)
            #expect(first.answer == nil, "must not: answered before its URL was sent")
            try await manual.submitPass()
            try await manual.input(.progress)
            #expect(first.answer == .failed(count: 1, urls: [Self.www + "old.html"]))

            // The next deploy's URL is accepted: exit 0, whatever failed before.
            clock.advance(by: .seconds(10))
            try await manual.change("new.html", "v1\n")
            let second = try FlushClient()
            try await manual.input(.control(second.connection))
            #expect(second.answer == nil, "must not: answered before its URL was sent")
            try await manual.submitPass()
            try await manual.input(.progress)
            #expect(emulator.acceptedURLs == [Self.www + "new.html"])
            #expect(second.answer == .submitted, "must not: failed by an older deploy's failure")

            // A deploy whose URL went out (and failed) on its own, after quiet, before the deploy
            // script called flush: still this deploy's failure.
            clock.advance(by: .seconds(10))
            try await Self.changeAndLetQuietPass(manual, "bad.html")
            try await manual.submitPass()
            #expect(try await manual.daemon.db.read { try $0.queueCount(state: .failed) } == 2)
            clock.advance(by: .seconds(1))
            let third = try FlushClient()
            try await manual.input(.control(third.connection))
            try await manual.submitPass()
            try await manual.input(.progress)
            #expect(third.answer == .failed(count: 1, urls: [Self.www + "bad.html"]), "its own failure, and only it")

            // Nothing new since: green again.
            let fourth = try FlushClient()
            try await manual.input(.control(fourth.connection))
            try await manual.input(.progress)
            #expect(fourth.answer == .submitted)
        }
    }
}
