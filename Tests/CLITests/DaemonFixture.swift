import Foundation
import Glibc
import TencentEmulator
import Testing

/// The provider an end-to-end test runs against (SPEC §10): the same cases, parameterised.
enum Product: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case cdn, edgeone

    static let zoneID = "zone-2noz78a8ev6k"

    /// The `[tencentcloud]` lines that choose the product.
    var configLines: String {
        switch self {
        case .cdn: ""
        case .edgeone: "product = \"edgeone\"\nzone_id = \"\(Self.zoneID)\""
        }
    }

    /// The action that purges URLs, and the one that purges directories.
    var urlAction: String { self == .cdn ? "PurgeUrlsCache" : "CreatePurgeTask" }
    var directoryAction: String { self == .cdn ? "PurgePathCache" : "CreatePurgeTask" }
    var quotaAction: String { self == .cdn ? "DescribePurgeQuota" : "DescribeContentQuota" }
    var prefetchAction: String { self == .cdn ? "PushUrlsCache" : "CreatePrefetchTask" }
    /// The API's "too many requests" code.
    var rateLimitCode: String { self == .cdn ? "RequestLimitExceeded" : "LimitExceeded.RateLimitExceeded" }
    /// The API's day-limit refusal of a URL purge, and of a too-big batch.
    var dayLimitCode: String { self == .cdn ? "LimitExceeded.CdnPurgeUrlExceedDayLimit" : "LimitExceeded.DailyQuota" }
    var batchLimitCode: String { self == .cdn ? "LimitExceeded.CdnPurgeUrlExceedBatchLimit" : "LimitExceeded.BatchQuota" }
    /// What a URL on a host the account does not serve fails with.
    var unknownHostCode: String { self == .cdn ? "ResourceNotFound.CdnHostNotExists" : "InvalidParameter.DomainNotFound" }
    /// What `status --json` calls a URL batch and a directory batch.
    var statusURLAction: String { self == .cdn ? "PurgeUrlsCache" : "purge_url" }
    var statusDirectoryAction: String { self == .cdn ? "PurgePathCache" : "purge_prefix" }
    var testDescription: String { rawValue }
}

/// A site, its config and state in a temporary directory, the Tencent API emulator on
/// 127.0.0.1, and the daemon run as a real process against both.
final class DaemonFixture: @unchecked Sendable {
    let directory: String
    let site: String
    let configPath: String
    let statePath: String
    let emulator: TencentEmulator
    /// False when the emulator belongs to another fixture (two sites on one account).
    let ownsEmulator: Bool
    var daemon: RunningProcess?
    var notify: NotifyListener?
    /// The provider the daemon is configured for.
    let product: Product

    static let www = "https://www.example.com/"

    /// - Parameters:
    ///   - siteRoot: where the root lives relative to the fixture (a symlink for swap tests).
    ///   - extraConfig: TOML appended to the config (sections not already present).
    init(
        quiet: String = "300ms", maxDelay: String = "5s", requestsPerSecond: Double = 10, siteRoot: String = "site",
        extraConfig: String = "", emulator configuration: EmulatorConfiguration = EmulatorConfiguration(),
        sharing shared: TencentEmulator? = nil, product: Product = .cdn
    ) async throws {
        self.product = product
        directory = "/tmp/pw-e2e-\(UUID().uuidString.prefix(8))"
        site = directory + "/" + siteRoot
        configPath = directory + "/site.toml"
        statePath = directory + "/state/site.sqlite"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if let shared {
            emulator = shared
            ownsEmulator = false
        } else {
            emulator = try await TencentEmulator.start(configuration)
            ownsEmulator = true
        }
        let config = """
            [site]
            root = "\(siteRoot)"

            [state]
            path = "state/site.sqlite"

            [[rule]]
            prefix = ""
            urls = ["\(Self.www)"]

            [coalesce]
            quiet = "\(quiet)"
            max_delay = "\(maxDelay)"

            [purge]
            requests_per_second = \(requestsPerSecond)

            [tencentcloud]
            endpoint = "\(emulator.endpoint)"
            \(product.configLines)
            \(extraConfig)
            """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    /// Runs `body` with a fresh fixture and always tears it down (daemon killed, emulator
    /// stopped, files removed), whether `body` returns or throws.
    static func with(
        quiet: String = "300ms", maxDelay: String = "5s", requestsPerSecond: Double = 10, siteRoot: String = "site",
        extraConfig: String = "", emulator configuration: EmulatorConfiguration = EmulatorConfiguration(),
        product: Product = .cdn, _ body: (DaemonFixture) async throws -> Void
    ) async throws {
        let fixture = try await DaemonFixture(
            quiet: quiet, maxDelay: maxDelay, requestsPerSecond: requestsPerSecond, siteRoot: siteRoot,
            extraConfig: extraConfig, emulator: configuration, product: product)
        do {
            try await body(fixture)
        } catch {
            await fixture.tearDown()
            throw error
        }
        await fixture.tearDown()
    }

    func tearDown() async {
        await stopDaemon(signal: SIGKILL)
        if ownsEmulator { await emulator.shutdown() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Replaces the config with one rule for the whole site under `urls`, and `purge` as the
    /// body of a `[purge]` table (TOML lines), for tests that need other rules than the default.
    func writeConfig(urls: [String], index: [String]? = nil, purge: String = "") throws {
        let list = urls.map { "\"\($0)\"" }.joined(separator: ", ")
        let indexLine = index.map { "index = [" + $0.map { "\"\($0)\"" }.joined(separator: ", ") + "]" } ?? ""
        try """
        [site]
        root = "site"
        [state]
        path = "state/site.sqlite"
        [[rule]]
        prefix = ""
        urls = [\(list)]
        \(indexLine)
        [coalesce]
        quiet = "300ms"
        max_delay = "5s"
        [purge]
        \(purge)
        [tencentcloud]
        endpoint = "\(emulator.endpoint)"
        \(product.configLines)
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    // MARK: Files

    func write(_ path: String, _ content: String) throws {
        let full = site + "/" + path
        try FileManager.default.createDirectory(
            atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try content.write(toFile: full, atomically: false, encoding: .utf8)
    }

    func remove(_ path: String) throws {
        try FileManager.default.removeItem(atPath: site + "/" + path)
    }

    /// Runs a shell command (a deploy tool) in the fixture directory.
    @discardableResult
    func shell(_ command: String) async throws -> Int32 {
        try await offload { [self] in try shellNow(command) }
    }

    private func shellNow(_ command: String) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", command]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    // MARK: The daemon

    var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for key in [
            "TENCENTCLOUD_SECRET_ID", "TENCENTCLOUD_SECRET_KEY", "TENCENTCLOUD_TOKEN", "CREDENTIALS_DIRECTORY",
            "STATE_DIRECTORY", "JOURNAL_STREAM", "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID",
        ] {
            environment[key] = nil
        }
        environment["TENCENTCLOUD_SECRET_ID"] = emulator.secretId
        environment["TENCENTCLOUD_SECRET_KEY"] = emulator.secretKey
        environment["PURGEWATCH_TEST_TIME_SCALE"] = "0.01"
        environment["PURGEWATCH_LOG_LEVEL"] = "debug"
        return environment
    }

    /// Starts `purgewatch run` and waits for `READY=1` on a fake `NOTIFY_SOCKET`.
    func startDaemon(
        _ extraArguments: [String] = [], environment extra: [String: String] = [:], launcher: [String] = []
    ) async throws {
        let listener = try NotifyListener(path: directory + "/notify-\(UUID().uuidString.prefix(4)).sock")
        notify = listener
        var environment = self.environment
        environment["NOTIFY_SOCKET"] = listener.path
        for (key, value) in extra { environment[key] = value }
        let process = try RunningProcess.start(
            ["run", "--config", configPath] + extraArguments, environment: environment, logPath: directory + "/daemon.log",
            launcher: launcher)
        daemon = process
        let ready = await listener.message(timeout: .seconds(60)) { $0.contains("READY=1") } != nil
        #expect(ready, "the daemon never signalled READY=1; log:\n\(process.log)")
    }

    /// A launcher that runs the daemon in its own user namespace allowed only `watches` inotify
    /// watches: the kernel itself refuses the next `inotify_add_watch` with ENOSPC, as a host whose
    /// `fs.inotify.max_user_watches` is too low does (the namespace's limit is
    /// /proc/sys/user/max_inotify_watches; the daemon reads no test variable for it).
    static func watchLimited(to watches: Int) -> [String] {
        ["/usr/bin/unshare", "-U", "-r", "/bin/sh", "-c", "echo \(watches) > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\""]
    }

    /// `purgewatch flush --wait`, as a deploy script runs it.
    func flushWait(timeout: String = "60s") async throws -> PurgewatchProcess.Result {
        try await PurgewatchProcess.runAsync(["flush", "--config", configPath, "--wait", "--timeout", timeout], environment: environment)
    }

    func status() async throws -> [String: Any] {
        let result = try await PurgewatchProcess.runAsync(["status", "--config", configPath, "--json"], environment: environment)
        #expect(result.status == 0, "\(result.stderr)")
        return (try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]) ?? [:]
    }

    /// Polls `condition` every 50 ms for up to `timeout`.
    func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }

    /// Stops the daemon (see ``RunningProcess/stop(signal:timeout:)``) without blocking the pool.
    @discardableResult
    func stopDaemon(signal: Int32 = SIGTERM, timeout: Duration = .seconds(10)) async -> Int32? {
        guard let daemon else { return nil }
        return (try? await offload { daemon.stop(signal: signal, timeout: timeout) }) ?? nil
    }

    /// The URLs the emulated CDN accepted, as a set.
    var purged: Set<String> { Set(emulator.acceptedURLs) }

    /// Purge requests of either product (URL or directory), whatever became of them.
    var purgeRequests: [RecordedRequest] {
        emulator.requests.filter { ["PurgeUrlsCache", "PurgePathCache", "CreatePurgeTask"].contains($0.action) }
    }

    /// Today's URL and directory purges left, for the configured product (every CDN area).
    func setPurgeQuota(urls: Int? = nil, paths: Int? = nil) {
        switch product {
        case .cdn:
            for area in ["mainland", "overseas"] { emulator.setQuota(area: area, urls: urls, paths: paths) }
        case .edgeone:
            if let urls { emulator.setEdgeOneQuota(type: "purge_url", available: urls) }
            if let paths { emulator.setEdgeOneQuota(type: "purge_prefix", available: paths) }
        }
    }

    /// The URLs prefetched (CDN: pushed, with any area), in order.
    var prefetched: [String] {
        product == .cdn ? emulator.pushedURLs.map(\.url) : emulator.prefetchedURLs
    }
}
