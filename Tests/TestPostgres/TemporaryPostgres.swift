import FleetStore
import Foundation
import Glibc
import Logging
import PostgresNIO
import Testing

/// A throwaway PostgreSQL server for the tests: one cluster per test process, a database per
/// test, all of it gone when the process ends.
///
/// - Binaries: `initdb`, `postgres` and `pg_isready` from the first directory on PATH that has
///   `initdb` and `postgres` (symlinks followed: /usr/local/bin here points into Debian's tree),
///   else the newest `/usr/lib/postgresql/<version>/bin` — where Debian's `postgresql` package puts
///   them, off PATH. Clients (`psql`) from the same directory.
/// - The cluster: `initdb -A trust -U purgewatch` in a fresh directory under /tmp (no locale, no
///   fsync: it is thrown away), then `postgres` on 127.0.0.1 at a free port with its socket in the
///   same directory. `postgres` is started directly rather than through `pg_ctl`, as the child of
///   a small shell guardian that is itself this process's child: the guardian stops the server
///   (`SIGQUIT`, immediate shutdown), reaps it and deletes the directory when this process asks
///   (an `atexit` handler) or dies (it polls this process's pid), so no server outlives the suite
///   and none is left a zombie. `pg_ctl` would leave the server's parent to be PID 1.
/// - Root: initdb and postgres refuse to run as root. As root (CI), the directory is given to
///   the `postgres` user (Debian's package creates it; `nobody` otherwise) and both run through
///   `setpriv --reuid --regid --clear-groups`, which execs without forking, so the guardian
///   stays the server's parent. The tests connect over TCP as the cluster's superuser
///   `purgewatch` (trust), whatever their own uid.
/// - Missing binaries skip the postgres cases (`Test.cancel`, with the reason), unless
///   `PURGEWATCH_REQUIRE_POSTGRES=1` (CI), which makes them fail.
package enum TemporaryPostgres {
    package static let required = ProcessInfo.processInfo.environment["PURGEWATCH_REQUIRE_POSTGRES"] == "1"

    /// The directory holding `initdb`, `postgres`, `pg_isready` and `psql`, if any.
    package static let binaries: String? = {
        var candidates = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        let debian = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: debian)) ?? []).compactMap(Int.init).sorted(by: >)
        candidates += versions.map { "\(debian)/\($0)/bin" }
        for directory in candidates where FileManager.default.isExecutableFile(atPath: directory + "/initdb") {
            // Follow the symlink to the installation's own directory, where its siblings are.
            let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/initdb")).map {
                $0.hasPrefix("/") ? $0 : directory + "/" + $0
            }
            let home = resolved.map { ($0 as NSString).deletingLastPathComponent } ?? directory
            if ["postgres", "pg_isready", "psql"].allSatisfy({ FileManager.default.isExecutableFile(atPath: home + "/" + $0) }) {
                return home
            }
        }
        return nil
    }()

    package static let skipMessage =
        "PostgreSQL's initdb/postgres/pg_isready/psql were not found on PATH or in /usr/lib/postgresql/*/bin (apt-get install postgresql): the PostgreSQL cases are skipped; PURGEWATCH_REQUIRE_POSTGRES=1 makes this a failure"

    /// The process's server, started on first use; nil when there are no binaries.
    package static let shared: Result<PostgresServer, any Error>? = {
        guard let binaries else { return nil }
        return Result { try PostgresServer.start(binaries: binaries) }
    }()

    /// The server, or: the case skipped (no binaries), or failed (no binaries under
    /// `PURGEWATCH_REQUIRE_POSTGRES=1`, or a server that would not start).
    package static func server() throws -> PostgresServer {
        guard let shared else {
            if required { throw TemporaryPostgresError(message: "PURGEWATCH_REQUIRE_POSTGRES=1, but " + skipMessage) }
            announceSkip()
            try Test.cancel(Comment(rawValue: skipMessage))
        }
        return try shared.get()
    }

    /// A trait for the PostgreSQL-only tests: they run when the server can, or when required.
    package static var runs: Bool {
        if binaries == nil && !required { announceSkip() }
        return binaries != nil || required
    }

    /// Says once per process why the PostgreSQL cases are skipped.
    private static let skipAnnounced: Void = print("PostgreSQL tests: skipped: \(skipMessage)")
    private static func announceSkip() { skipAnnounced }

    package static let quietLogger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
}

package struct TemporaryPostgresError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
    package init(message: String) { self.message = message }
}

/// The guardian shell's pid, for the `atexit` handler (set once, before the handler is registered).
nonisolated(unsafe) private var guardianPID: pid_t = 0

/// One running cluster (see ``TemporaryPostgres``).
package struct PostgresServer: Sendable {
    package let directory: String
    package let port: Int
    package let binaries: String

    /// The server's superuser (initdb's `-U`).
    package static let user = "purgewatch"

    /// A URL for `database` over TCP, as a test passes it (no password: trust).
    package func url(_ database: String) throws -> PostgresURL {
        try PostgresURL("postgresql://\(Self.user)@127.0.0.1:\(port)/\(database)?sslmode=disable")
    }

    /// A fresh, empty database (a copy of template1), named uniquely within the process.
    package func createDatabase() async throws -> String {
        let name = "t\(Self.counter.next())"
        let connection = try await PostgresConnection.connect(
            configuration: .init(host: "127.0.0.1", port: port, username: Self.user, password: nil, database: "postgres", tls: .disable),
            id: 1, logger: TemporaryPostgres.quietLogger)
        do {
            // An identifier cannot be bound; the name is ours ("t" and digits).
            try await connection.query(
                PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) STRATEGY FILE_COPY"), logger: TemporaryPostgres.quietLogger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
        return name
    }

    /// Runs `sql` through the `psql` CLI (an oracle independent of postgres-nio): unaligned,
    /// tuples only, `|` between columns, one row a line.
    @discardableResult
    package func psql(_ database: String, _ sql: String) throws -> String {
        let (status, output) = try Self.run(
            binaries + "/psql",
            ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-p", "\(port)", "-U", Self.user, "-d", database, "-c", sql])
        guard status == 0 else { throw TemporaryPostgresError(message: "psql failed (\(status)): \(output)") }
        return output.trimmingCharacters(in: .newlines)
    }

    // MARK: - Starting

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func next() -> Int {
            lock.withLock {
                value += 1; return value
            }
        }
    }
    private static let counter = Counter()

    package static func start(binaries: String) throws -> PostgresServer {
        var lastError: any Error = TemporaryPostgresError(message: "not started")
        for _ in 0..<3 {
            do { return try startOnce(binaries: binaries) } catch { lastError = error }
        }
        throw lastError
    }

    /// The user the server runs as when we are root: Debian's `postgres`, else `nobody`.
    private static func serverUser() -> (uid: uid_t, gid: gid_t)? {
        guard getuid() == 0 else { return nil }
        for name in ["postgres", "nobody"] {
            if let entry = getpwnam(name) { return (entry.pointee.pw_uid, entry.pointee.pw_gid) }
        }
        return nil
    }

    private static func startOnce(binaries: String) throws -> PostgresServer {
        var template = Array("/tmp/pw-postgres-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw TemporaryPostgresError(message: "mkdtemp failed: errno \(errno)")
        }
        let directory = String(cString: made)
        var asUser: [String] = []
        if let owner = serverUser() {
            chown(directory, owner.uid, owner.gid)
            asUser = ["/usr/bin/setpriv", "--reuid=\(owner.uid)", "--regid=\(owner.gid)", "--clear-groups", "--"]
        }
        do {
            let (status, output) = try run(
                asUser.first ?? binaries + "/initdb",
                Array(asUser.dropFirst())
                    + (asUser.isEmpty ? [] : [binaries + "/initdb"])
                    + ["-D", directory + "/data", "-A", "trust", "-U", user, "--no-sync", "--no-locale", "-E", "UTF8"])
            guard status == 0 else { throw TemporaryPostgresError(message: "initdb failed (\(status)): \(output)") }
        } catch {
            _ = try? run("/bin/rm", ["-rf", directory])
            throw error
        }
        let port = freePort()
        let server =
            [binaries + "/postgres"] + [
                "-D", directory + "/data", "-p", "\(port)", "-k", directory, "-c", "listen_addresses=127.0.0.1",
                "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300",
            ]
        // The guardian: starts the server, waits for this process to ask (TERM) or to die, then
        // stops the server, reaps it and deletes the directory.
        let script = """
            t=$1; d=$2; shift 2
            "$@" >"$d/server.log" 2>&1 </dev/null &
            pg=$!
            stop=0
            trap 'stop=1' TERM INT
            while [ $stop = 0 ] && kill -0 "$t" 2>/dev/null && kill -0 "$pg" 2>/dev/null; do sleep 0.2; done
            kill -QUIT "$pg" 2>/dev/null
            wait "$pg" 2>/dev/null
            rm -rf "$d"
            """
        let guardian = Process()
        guardian.executableURL = URL(fileURLWithPath: "/bin/sh")
        guardian.arguments = ["-c", script, "guardian", "\(getpid())", directory] + asUser + server
        guardian.standardInput = FileHandle.nullDevice
        guardian.standardOutput = FileHandle.nullDevice
        guardian.standardError = FileHandle.nullDevice
        do { try guardian.run() } catch { throw TemporaryPostgresError(message: "cannot start /bin/sh: \(error)") }
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if !guardian.isRunning { break }
            if let (status, _) = try? run(binaries + "/pg_isready", ["-q", "-h", "127.0.0.1", "-p", "\(port)", "-t", "1"]), status == 0 {
                guardianPID = guardian.processIdentifier
                atexit { PostgresServer.stopAtExit() }
                return PostgresServer(directory: directory, port: port, binaries: binaries)
            }
            usleep(50_000)
        }
        let log = (try? String(contentsOfFile: directory + "/server.log", encoding: .utf8)) ?? "(no log)"
        guardian.terminate()
        guardian.waitUntilExit()
        throw TemporaryPostgresError(message: "postgres did not become ready on 127.0.0.1:\(port) within 30 s: \(log)")
    }

    /// At exit: the guardian stops the server and deletes its directory; wait for it (10 s at most).
    static func stopAtExit() {
        let pid = guardianPID
        guard pid > 0 else { return }
        kill(pid, SIGTERM)
        for _ in 0..<500 {
            _ = waitpid(pid, nil, WNOHANG)
            if kill(pid, 0) != 0 { return }
            usleep(20_000)
        }
    }

    /// A port nothing listens on now (the kernel's pick for a socket bound to port 0).
    package static func freePort() -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Runs a program to its end; its status and its output (stdout and stderr together).
    package static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw TemporaryPostgresError(message: "cannot run \(executable): \(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
