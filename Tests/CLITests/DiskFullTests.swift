import Foundation
import Glibc
import Testing

extension EndToEnd {

    /// A full disk under the state (SPEC §6: a database error on the loop is classified): the daemon
    /// says so (journald error, STATUS=), keeps watching, loses no detected change, and recovers when
    /// space returns. Needs root to mount a small tmpfs; skipped with a message otherwise.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct DiskFullTests {
        static let www = DaemonFixture.www

        @Test(.enabled(if: getuid() == 0, "needs root to mount a tmpfs for the state (run the suite as root, as CI does)"))
        func aFullDiskDegradesAndRecoversWithoutLosingAChange() async throws {
            try await DaemonFixture.with { fixture in
                let stateDirectory = (fixture.statePath as NSString).deletingLastPathComponent
                try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
                guard try await fixture.shell("mount -t tmpfs -o size=4m purgewatch-test \(stateDirectory)") == 0 else {
                    Issue.record("cannot mount a tmpfs at \(stateDirectory) (in a container without CAP_SYS_ADMIN?)")
                    return
                }
                defer { _ = try? Process.run(URL(fileURLWithPath: "/bin/umount"), arguments: ["-l", stateDirectory]) }
                for name in ["a", "b"] { try fixture.write("\(name).html", "v1\n") }
                try await fixture.startDaemon()
                // Fill the file system, then deploy.
                _ = try await fixture.shell("dd if=/dev/zero of=\(stateDirectory)/filler bs=64k 2>/dev/null; sync")
                try fixture.write("a.html", "v2\n")
                _ = try await PurgewatchProcess.runAsync(["flush", "--config", fixture.configPath], environment: fixture.environment)
                let degraded = await fixture.eventually(timeout: .seconds(20)) {
                    fixture.daemon?.log.contains("DEGRADED") == true
                }
                #expect(degraded, "\(fixture.daemon?.log ?? "")")
                let notify = try #require(fixture.notify)
                #expect(await notify.message(timeout: .seconds(10)) { $0.contains("DEGRADED: cannot write the state") } != nil)
                #expect(fixture.daemon?.isRunning == true, "still running")
                #expect(!fixture.purged.contains(Self.www + "a.html"))

                // Space comes back: the change that was detected meanwhile is purged.
                try FileManager.default.removeItem(atPath: stateDirectory + "/filler")
                #expect(
                    await fixture.eventually(timeout: .seconds(30)) { fixture.purged.contains(Self.www + "a.html") },
                    "\(fixture.daemon?.log ?? "")")
                #expect(fixture.daemon?.log.contains("leaving degraded mode") == true)
                await fixture.stopDaemon()
            }
        }
    }
}
