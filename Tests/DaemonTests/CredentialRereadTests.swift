import Foundation
import StateStore
import TencentCDN
import TencentEmulator
import Testing

@testable import Daemon

/// SPEC §6: "Credentials are read again on SIGHUP (every source), and once before a batch is
/// failed for `AuthFailure.SecretIdNotFound`, `AuthFailure.InvalidSecretId` or
/// `AuthFailure.SignatureFailure`: a rotated key is picked up without a restart." In-process,
/// against the emulator, on a manual clock (the auth pause passes in no time).
@Suite struct CredentialRereadTests {
    /// 2026-12-07T04:00:00Z: far from a quota reset.
    static let start = Date(timeIntervalSince1970: 1_796_616_000)
    static let www = "https://www.example.com/"
    static let newID = "AKIDROTATED0000000000000000000000"
    static let newKey = "rotatedSecretKey000000000000000000"

    static var options: DaemonOptions {
        var options = DaemonOptions()
        options.retryPolicy = RetryPolicy(baseDelay: .milliseconds(1), maxDelay: .milliseconds(1), maxAttempts: 1)
        return options
    }

    /// A daemon whose only credential source is `creds.ini` in its directory (no environment).
    static func withCredentialsFile(_ body: (ManualDaemon, TencentEmulator, ManualClock) async throws -> Void) async throws {
        try await ManualDaemon.with(
            wall: start, options: options, extraConfig: "credentials_file = \"creds.ini\"", environment: [:]
        ) { manual, emulator, clock in
            try writeINI(manual, id: emulator.secretId, key: emulator.secretKey)
            try await body(manual, emulator, clock)
        }
    }

    static func writeINI(_ manual: ManualDaemon, id: String, key: String) throws {
        try "[default]\nsecret_id = \(id)\nsecret_key = \(key)\n".write(
            toFile: manual.directory + "/creds.ini", atomically: true, encoding: .utf8)
    }

    static func outcomes(_ emulator: TencentEmulator, _ action: String = "PurgeUrlsCache") -> [String] {
        emulator.requests.filter { $0.action == action }.map(\.outcome)
    }

    static func failedURLs(_ manual: ManualDaemon) async throws -> Int {
        try await manual.daemon.db.read { try $0.queueCount(state: .failed) }
    }

    @Test func aKeyRotatedInTheFileIsReadAgainOnceWhenTheOldOneIsRefused() async throws {
        try await Self.withCredentialsFile { manual, emulator, clock in
            try await manual.queue(1, prefix: "first")
            try await manual.submitPass()
            #expect(emulator.acceptedURLs == [Self.www + "first0.html"])

            // The key is rotated under the running daemon: the new one in the file, the old revoked.
            emulator.addCredential(secretId: Self.newID, secretKey: Self.newKey)
            try Self.writeINI(manual, id: Self.newID, key: Self.newKey)
            emulator.removeCredential(secretId: emulator.secretId)
            clock.advance(by: .seconds(60))
            emulator.resetRecords()
            try await manual.queue(1, prefix: "second")
            try await manual.submitPass()
            #expect(Self.outcomes(emulator) == ["AuthFailure.SecretIdNotFound", "accepted"], "refused once, read again, sent")
            #expect(emulator.acceptedURLs == [Self.www + "second0.html"])
            #expect(try await Self.failedURLs(manual) == 0, "must not: failed although the new key was there")
            #expect(await manual.daemon.isPaused == false, "must not: paused")

            // From then on the new key is used: no refusal per request.
            emulator.resetRecords()
            try await manual.queue(1, prefix: "third")
            try await manual.submitPass()
            #expect(Self.outcomes(emulator) == ["accepted"])
        }
    }

    @Test func aRevokedKeyIsReadAgainOnlyOnceThenTheBatchFailsAndAKeyWrittenDuringThePauseIsUsedAfterIt() async throws {
        try await Self.withCredentialsFile { manual, emulator, clock in
            try await manual.queue(1, prefix: "first")
            try await manual.submitPass()
            #expect(emulator.acceptedURLs.count == 1)

            // Revoked, no new key yet: read again once, refused again, failed — no storm.
            emulator.removeCredential(secretId: emulator.secretId)
            emulator.resetRecords()
            clock.advance(by: .seconds(60))
            try await manual.queue(1, prefix: "second")
            try await manual.submitPass()
            #expect(Self.outcomes(emulator) == ["AuthFailure.SecretIdNotFound", "AuthFailure.SecretIdNotFound"])
            #expect(try await Self.failedURLs(manual) == 1)
            let due = try #require(await manual.daemon.pausedUntil)
            let pause = clock.daemonClock.now().duration(to: due)
            #expect(pause == .seconds(60), "the auth pause: \(pause)")

            // The operator writes the new key during the pause (no SIGHUP); more changes come.
            emulator.addCredential(secretId: Self.newID, secretKey: Self.newKey)
            try Self.writeINI(manual, id: Self.newID, key: Self.newKey)
            clock.advance(by: .seconds(5))
            try await manual.queue(1, prefix: "third")
            await manual.daemon.workQueued()
            try await manual.submitPass()
            #expect(Self.outcomes(emulator).count == 2, "must not: a request during the pause")

            // The pause ends: the new key is read (once the old one is refused) and the work sent.
            manual.advance(to: due)
            try await manual.submitPass()
            #expect(Self.outcomes(emulator).last == "accepted")
            #expect(emulator.acceptedURLs == [Self.www + "third0.html"])
            #expect(try await Self.failedURLs(manual) == 1, "only the batch sent while no key worked failed")
        }
    }

    @Test func aReloadReadsTheSystemdCredentialsAgainBeforeAnyRequestIsRefused() async throws {
        let directory = "/tmp/pw-creds-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func write(_ id: String, _ key: String) throws {
            try id.write(toFile: directory + "/tencentcloud-secret-id", atomically: true, encoding: .utf8)
            try key.write(toFile: directory + "/tencentcloud-secret-key", atomically: true, encoding: .utf8)
        }
        // The emulator's default key, there before the daemon starts (the directory is chosen by presence).
        let emulatorKey = EmulatorConfiguration()
        try write(emulatorKey.secretId, emulatorKey.secretKey)
        try await ManualDaemon.with(wall: Self.start, options: Self.options, environment: ["CREDENTIALS_DIRECTORY": directory]) {
            manual, emulator, clock in
            try await manual.queue(1, prefix: "first")
            try await manual.submitPass()
            #expect(emulator.acceptedURLs.count == 1)

            emulator.addCredential(secretId: Self.newID, secretKey: Self.newKey)
            try write(Self.newID, Self.newKey)
            emulator.removeCredential(secretId: emulator.secretId)
            await manual.daemon.reload()  // SIGHUP
            emulator.resetRecords()
            clock.advance(by: .seconds(60))
            try await manual.queue(1, prefix: "second")
            try await manual.submitPass()
            #expect(Self.outcomes(emulator) == ["accepted"], "must not: refused first — the new key was read on SIGHUP")
            #expect(emulator.acceptedURLs == [Self.www + "second0.html"])
        }
    }
}
