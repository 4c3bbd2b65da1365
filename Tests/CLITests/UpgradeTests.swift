import Foundation
import Glibc
import Testing

extension EndToEnd {

    /// Upgrading keeps a deployed state file working (the first ctime migration never ran on files
    /// already at version 100, and the daemon then failed on every start): the real daemon starts
    /// on a state file written by the previous release's schema — made here with the `sqlite3`
    /// CLI, an independent writer — keeps its manifest and queue, and purges the next change.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct UpgradeTests {
        /// The previous release's schema at `user_version = 100`, verbatim.
        static let previousSchema = """
            CREATE TABLE manifest (path BLOB PRIMARY KEY NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
              inode INTEGER NOT NULL, hash BLOB NOT NULL, checked_ns INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE meta (key TEXT PRIMARY KEY NOT NULL, value ANY) WITHOUT ROWID;
            CREATE TABLE batches (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                action TEXT NOT NULL,
                area TEXT NOT NULL,
                state TEXT NOT NULL,
                targets TEXT NOT NULL,
                task_id TEXT,
                request_id TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at INTEGER,
                last_error_code TEXT,
                last_error_message TEXT,
                dry_run INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            );
            CREATE INDEX batches_state ON batches(state);
            CREATE TABLE queue (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                url TEXT NOT NULL,
                area TEXT NOT NULL,
                path BLOB,
                kind TEXT NOT NULL,
                first_seen INTEGER NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                batch_id INTEGER REFERENCES batches(id),
                retries INTEGER NOT NULL DEFAULT 0,
                error_code TEXT
            );
            CREATE UNIQUE INDEX queue_pending_url ON queue(url, area) WHERE state = 'pending';
            CREATE INDEX queue_state ON queue(state);
            CREATE INDEX queue_batch ON queue(batch_id);
            CREATE TABLE quota (
                area TEXT NOT NULL,
                kind TEXT NOT NULL,
                batch INTEGER NOT NULL,
                total INTEGER NOT NULL,
                available INTEGER NOT NULL,
                fetched_at INTEGER NOT NULL,
                PRIMARY KEY (area, kind)
            );
            PRAGMA user_version = 100;
            """

        @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/sqlite3"), "sqlite3 CLI missing (apt-get install sqlite3)"))
        func theDaemonStartsOnAPreviousReleasesStateFile() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                try fixture.write("other.html", "v1\n")
                try FileManager.default.createDirectory(
                    atPath: (fixture.statePath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                // The previous release's baseline of the site: the manifest holds both files with the
                // hash of "v1\n", and the baseline was taken.
                var st = stat()
                #expect(lstat(fixture.site + "/page.html", &st) == 0)
                let hash = "3a2f1a1e2b0ac1d13c85e6b0e8f0e7d02d34bdb6e1ac5b4ad9bcd1d5b9d4c2b1"  // not the real one: forces a re-hash
                let rows = ["page.html", "other.html"].map { name in
                    "INSERT INTO manifest VALUES (CAST('\(name)' AS BLOB), 3, \(Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)), \(st.st_ino), x'\(hash)', 0);"
                }.joined()
                let sql =
                    Self.previousSchema + rows
                    + "INSERT INTO meta VALUES ('sitewatch.baseline_ns', 1);"
                    + "INSERT INTO queue (url, area, path, kind, first_seen) VALUES ('https://www.example.com/queued-before.html', '', NULL, 'manual', 1);"
                #expect(try DaemonOverTimeTests.sqlite(fixture.statePath, sql) == "")
                #expect(try DaemonOverTimeTests.sqlite(fixture.statePath, "PRAGMA user_version") == "100")
                // Before the daemon migrates it, the readers say so rather than guess "all is well".
                let check = try await PurgewatchProcess.runAsync(
                    ["status", "--config", fixture.configPath, "--check"], environment: fixture.environment)
                #expect(check.status == 3 && check.stdout.hasPrefix("PURGEWATCH UNKNOWN - "), "\(check.stdout)")
                let failures = try await PurgewatchProcess.runAsync(
                    ["failures", "--config", fixture.configPath], environment: fixture.environment)
                #expect(failures.status == 1 && failures.stderr.contains("older purgewatch"), "\(failures.stderr)")

                try await fixture.startDaemon()
                #expect(fixture.daemon?.isRunning == true, "\(fixture.daemon?.log ?? "")")
                #expect(
                    try DaemonOverTimeTests.sqlite(
                        fixture.statePath, "SELECT COUNT(*) FROM pragma_table_info('manifest') WHERE name IN ('ctime_ns', 'device')") == "2")
                #expect(
                    try DaemonOverTimeTests.sqlite(
                        fixture.statePath, "SELECT group_concat(version) FROM (SELECT version FROM schema_migrations ORDER BY version)")
                        == "1,2,3,100,101")
                #expect(try DaemonOverTimeTests.sqlite(fixture.statePath, "PRAGMA user_version") == "101")
                #expect(
                    await fixture.eventually(timeout: .seconds(20)) {
                        fixture.purged.contains("https://www.example.com/queued-before.html")
                    }, "the queue of the previous release is kept and sent: \(fixture.daemon?.log ?? "")")
                // The old rows have no ctime: compared by content once (their made-up hashes differ,
                // so they count as modified at the start), then recorded with ctime and device.
                try fixture.write("page.html", "v2\n")
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(fixture.purged.contains("https://www.example.com/page.html"))
                #expect(try DaemonOverTimeTests.sqlite(fixture.statePath, "SELECT COUNT(*) FROM manifest WHERE ctime_ns IS NULL") == "0")
            }
        }

        /// A package upgrade leaves the old daemon running until it is restarted: the new CLI meets
        /// a daemon that speaks the earlier text protocol. It must say so and exit 75 (try again
        /// after the restart), never 1 ("a URL failed") — and `status` must not call the running
        /// daemon stopped. The old daemon is played by a socket that answers as it did.
        @Test func theNewCLINamesADaemonOfAnEarlierReleaseInsteadOfFailing() async throws {
            try await DaemonFixture.with { fixture in
                try fixture.write("page.html", "v1\n")
                let socketPath = fixture.statePath + ".sock"
                try FileManager.default.createDirectory(
                    atPath: (socketPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                let listener = try LegacyDaemon(path: socketPath)
                defer { listener.stop() }

                let flush = try await PurgewatchProcess.runAsync(
                    ["flush", "--config", fixture.configPath, "--wait", "--timeout", "5s"], environment: fixture.environment)
                #expect(flush.status == 75, "\(flush.stdout)\(flush.stderr)")
                #expect(flush.stderr.contains("earlier purgewatch release") && flush.stderr.contains("restart"), "\(flush.stderr)")

                let purge = try await PurgewatchProcess.runAsync(
                    ["purge", "--config", fixture.configPath, "page.html"], environment: fixture.environment)
                #expect(purge.status == 75, "must not: queued behind the daemon's back, or exit 1: \(purge.stderr)")

                let check = try await PurgewatchProcess.runAsync(
                    ["status", "--config", fixture.configPath, "--check"], environment: fixture.environment)
                #expect(!check.stdout.contains("no daemon is running"), "a running daemon is not reported stopped: \(check.stdout)")
                #expect(listener.lines.contains { $0.hasPrefix("{") }, "the CLI spoke JSON: \(listener.lines)")
            }
        }
    }
}

/// A daemon of the releases before the JSON control protocol, as far as its socket goes: it
/// answers `ping` with `pong` and anything else with `error unknown command …`, one text line.
final class LegacyDaemon: @unchecked Sendable {
    private let fd: Int32
    private let lock = NSLock()
    private var received: [String] = []
    private var stopped = false
    var lines: [String] { lock.withLock { received } }

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() { buffer[index] = byte }
        }
        unlink(path)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    private func serve() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { return }  // stopped
            var buffer = [UInt8](repeating: 0, count: 65_536)
            var line: [UInt8] = []
            while !line.contains(UInt8(ascii: "\n")) {
                let count = read(client, &buffer, buffer.count)
                if count <= 0 { break }
                line.append(contentsOf: buffer[0..<count])
            }
            let text = String(decoding: line.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
            lock.withLock { received.append(text) }
            let answer = text == "ping" ? "pong\n" : "error unknown command \(text.prefix(40))\n"
            _ = answer.withCString { write(client, $0, strlen($0)) }
            close(client)
        }
    }

    func stop() {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
