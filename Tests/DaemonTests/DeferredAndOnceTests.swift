import Foundation
import Glibc
import PurgeCore
import StateStore
import TencentCDN
import TencentEmulator
import Testing

@testable import Daemon
@testable import SiteWatch

/// Two rules of the review that ran over time: files the first walk of a new site could not read
/// join its baseline when they are read (SPEC §5: a new site purges nothing), and `run --once`
/// waits for a transient retry that falls due within its deadline (SPEC §2, §6).
@Suite struct DeferredAndOnceTests {
    static func queued(_ manual: ManualDaemon) async throws -> Int {
        try await manual.daemon.db.read { try $0.queueCount(state: .pending) }
    }

    @Test func aFileTheBaselineCouldNotReadJoinsTheBaselineNotPurgedAsCreated() async throws {
        try await ManualDaemon.with(wall: Date(), purgeOn: #"["created", "modified", "deleted"]"#) { manual, _, _ in
            let root = await manual.daemon.config.site.root
            let name = "pw-baseline-deferred-\(UUID().uuidString.prefix(6)).html"  // faults are by name, process-wide
            try "a\n".write(toFile: root + "/a.html", atomically: false, encoding: .utf8)
            try "b\n".write(toFile: root + "/" + name, atomically: false, encoding: .utf8)
            FileSystem.Faults.inject(EMFILE, forName: name, on: [.open])
            try await manual.daemon.reconcile()
            #expect(try await manual.daemon.db.read { try $0.manifestCount() } == 1, "the deferred file has no row yet")
            FileSystem.Faults.remove(name: name)
            try await manual.daemon.detectAndQueue(now: manual.clock.daemonClock.now(), reconcile: false)
            #expect(try await manual.daemon.db.read { try $0.manifestCount() } == 2, "read at last: recorded")
            #expect(try await Self.queued(manual) == 0, "must not: purged as created though it was there from the start")
            // From then on it is an ordinary file: a change to it is purged.
            try "b2\n".write(toFile: root + "/" + name, atomically: false, encoding: .utf8)
            try await manual.daemon.detectAndQueue(
                now: manual.clock.daemonClock.now(), reconcile: false, scope: .paths([RelativePath(Array(name.utf8))]))
            #expect(try await Self.queued(manual) == 1)
        }
    }

    @Test func runOnceWaitsForATransientRetryDueWithinItsDeadline() async throws {
        var options = DaemonOptions()
        options.retryPolicy = RetryPolicy(baseDelay: .milliseconds(1), maxDelay: .milliseconds(1), maxAttempts: 1)
        try await ManualDaemon.with(wall: Date(), options: options) { manual, emulator, clock in
            emulator.failNext(1, with: .internalError, action: "PurgeUrlsCache")
            try await manual.queue(3)
            let before = clock.daemonClock.now()
            let status = try await manual.daemon.drainOnce()
            #expect(status == 0, "sent after the retry's backoff, within the 120 s deadline")
            #expect(emulator.acceptedURLs.count == 3)
            let waited = before.duration(to: clock.daemonClock.now())
            #expect(waited >= .seconds(15) && waited <= .seconds(30), "slept until the retry was due, not before: \(waited)")
            #expect(emulator.requests.filter { $0.action == "PurgeUrlsCache" }.count == 2, "no request before it was due")
        }
    }
}
