import Foundation
import Glibc
import Logging
import Testing

@testable import Reporting

/// The handler against a real systemd-journald, and what `journalctl` reads back.
///
/// journald runs in its own mount namespace (`unshare -m`, private propagation) on a tmpfs `/run`
/// (and a tmpfs over `/var/log/journal`, so it stores nothing on the host). This process reaches
/// its socket through `/proc/PID/root/…` and reads its files with `journalctl -D`. Needs root.
@Suite(.serialized) struct JournaldIntegrationTests {
    static let journald = Subprocess.find("/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald")
    static let journalctl = Subprocess.find("/usr/bin/journalctl", "/bin/journalctl")
    static let unshare = Subprocess.find("/usr/bin/unshare", "/bin/unshare")
    static let available = getuid() == 0 && journald != nil && journalctl != nil && unshare != nil

    /// A journald in a private mount namespace; stopped by ``stop()``.
    final class PrivateJournald {
        let process = Process()
        var root: String { "/proc/\(process.processIdentifier)/root" }
        var socketPath: String { root + "/run/systemd/journal/socket" }
        var journalDirectory: String { root + "/run/log/journal" }

        init() throws {
            process.executableURL = URL(fileURLWithPath: JournaldIntegrationTests.unshare!)
            process.arguments = [
                "-m", "--propagation", "private", "/bin/sh", "-c",
                """
                mount -t tmpfs tmpfs /run || exit 1
                if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal || exit 1; fi
                mkdir -p /run/systemd/journal && exec \(JournaldIntegrationTests.journald!)
                """,
            ]
            process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SYSTEMD_LOG_LEVEL": "warning"]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            // exec keeps the PID: wait until journald has bound its socket.
            for _ in 0..<100 where process.isRunning && !FileManager.default.fileExists(atPath: socketPath) {
                usleep(50_000)
            }
        }

        var isListening: Bool { process.isRunning && FileManager.default.fileExists(atPath: socketPath) }

        func stop() {
            if process.isRunning { process.terminate() }
            process.waitUntilExit()
        }

        /// The entries with `PURGEWATCH_TEST_RUN=run`, as `journalctl -o json` objects, once `count`
        /// have been stored (or after five seconds).
        func entries(run: String, count: Int) throws -> [[String: Any]] {
            var entries: [[String: Any]] = []
            for _ in 0..<50 {
                let result = try Subprocess.run(
                    JournaldIntegrationTests.journalctl!,
                    ["-D", journalDirectory, "-o", "json", "--all", "--no-pager", "PURGEWATCH_TEST_RUN=\(run)"])
                entries = result.stdout.split(separator: "\n").compactMap {
                    try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
                }
                if entries.count >= count { break }
                usleep(100_000)
            }
            return entries
        }
    }

    @Test(.enabled(if: available, "needs root, unshare, systemd-journald and journalctl"))
    func journaldStoresStructuredMultiLineAndMemfdEntries() throws {
        let journal = try PrivateJournald()
        defer { journal.stop() }
        try #require(journal.isListening, "systemd-journald did not start in a private mount namespace")

        let run = UUID().uuidString.lowercased()
        var logger = Logger(label: "purgewatch.test") {
            JournaldLogHandler(label: $0, socketPath: journal.socketPath)
        }
        logger[metadataKey: "purge.test_run"] = "\(run)"
        let big = String(repeating: "0123456789abcdef", count: 300_000 / 16)

        let line = #line + 1
        logger.info("batch submitted", metadata: MessageID.batchSubmitted.metadata(["purge.task_id": "15-abc"]))
        logger.error("two\nlines", metadata: ["purge.error_code": "AuthFailure.SignatureFailure"])
        logger.warning("\(big)", metadata: ["purge.task_id": "big"])

        let entries = try journal.entries(run: run, count: 3)
        try #require(entries.count == 3, "journalctl found \(entries.count) entries")
        let submitted = entries[0]
        #expect(submitted["MESSAGE"] as? String == "batch submitted")
        #expect(submitted["PRIORITY"] as? String == "6")
        #expect(submitted["SYSLOG_IDENTIFIER"] as? String == "purgewatch")
        #expect(submitted["MESSAGE_ID"] as? String == MessageID.batchSubmitted.rawValue)
        #expect(submitted["PURGEWATCH_TASK_ID"] as? String == "15-abc")
        #expect(submitted["CODE_LINE"] as? String == String(line))
        #expect((submitted["CODE_FILE"] as? String)?.hasSuffix("JournaldIntegrationTests.swift") == true)
        #expect(submitted["CODE_FUNC"] as? String == "journaldStoresStructuredMultiLineAndMemfdEntries()")
        #expect(submitted["_TRANSPORT"] as? String == "journal")
        #expect(submitted["_PID"] as? String == String(getpid()))

        #expect(entries[1]["MESSAGE"] as? String == "two\nlines")
        #expect(entries[1]["PRIORITY"] as? String == "3")
        #expect(entries[1]["PURGEWATCH_ERROR_CODE"] as? String == "AuthFailure.SignatureFailure")

        #expect((entries[2]["MESSAGE"] as? String)?.utf8.count == big.utf8.count)
        #expect(entries[2]["MESSAGE"] as? String == big)
        #expect(entries[2]["PURGEWATCH_TASK_ID"] as? String == "big")
    }
}
