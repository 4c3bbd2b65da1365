import ControlProtocol
import Foundation
import Logging
import PurgeCore
import Reporting
import Synchronization
import StateStore
import TencentEmulator

@testable import Daemon

/// A wall and a monotonic clock that move only when the test says so.
final class ManualClock: Sendable {
    private let state: Mutex<(wall: Date, elapsed: Duration)>
    private let base = ContinuousClock.now

    init(wall: Date) { state = Mutex((wall, .zero)) }

    var wall: Date { state.withLock { $0.wall } }

    func advance(by duration: Duration) {
        state.withLock {
            $0.wall = $0.wall.addingTimeInterval(Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
            $0.elapsed += duration
        }
    }

    var daemonClock: DaemonClock {
        DaemonClock(
            wall: { self.wall }, now: { self.base.advanced(by: self.state.withLock { $0.elapsed }) },
            // A sleep jumps the clock to its instant: time passes only when the daemon waits.
            sleep: { instant in
                let now = self.base.advanced(by: self.state.withLock { $0.elapsed })
                if instant > now { self.advance(by: now.duration(to: instant)) }
            })
    }
}

/// A daemon built in-process on a manual clock, against the API emulator, with its state in a
/// temporary directory: the submitter's rules are driven by moving the clock, not by sleeping.
struct ManualDaemon {
    let directory: String
    let daemon: PurgeDaemon
    let clock: ManualClock
    let emulator: TencentEmulator

    static func make(
        emulator: TencentEmulator, clock: ManualClock, extraConfig: String = "", purgeOn: String? = nil,
        options: DaemonOptions = DaemonOptions()
    ) throws -> ManualDaemon {
        let directory = "/tmp/pw-daemon-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory + "/site", withIntermediateDirectories: true)
        let configPath = directory + "/site.toml"
        try """
        [site]
        root = "\(directory)/site"

        [state]
        path = "\(directory)/state/site.sqlite"

        [[rule]]
        prefix = ""
        urls = ["https://www.example.com/"]

        [purge]
        area = "mainland"
        requests_per_second = 20
        \(purgeOn.map { "on = \($0)" } ?? "")

        [tencentcloud]
        endpoint = "\(emulator.endpoint)"
        \(extraConfig)
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let environment = ["TENCENTCLOUD_SECRET_ID": emulator.secretId, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey]
        let config = try SiteConfig.load(path: configPath, environment: environment)
        var options = options
        options.clock = clock.daemonClock
        let daemon = PurgeDaemon(
            config: config, options: options, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            notifier: SystemdNotifier(environment: [:]), environment: environment)
        return ManualDaemon(directory: directory, daemon: daemon, clock: clock, emulator: emulator)
    }

    /// A daemon on a manual clock starting at `wall`, opened, against a fresh emulator whose TC3
    /// window follows that clock; torn down whatever `body` does.
    static func with(
        wall: Date, purgeOn: String? = nil, options: DaemonOptions = DaemonOptions(),
        _ body: (ManualDaemon, TencentEmulator, ManualClock) async throws -> Void
    ) async throws {
        let clock = ManualClock(wall: wall)
        let emulator = try await TencentEmulator.start()
        emulator.setClockOffset(seconds: wall.timeIntervalSinceNow)
        let manual: ManualDaemon
        do {
            manual = try ManualDaemon.make(emulator: emulator, clock: clock, purgeOn: purgeOn, options: options)
            try await manual.open()
        } catch {
            await emulator.shutdown()
            throw error
        }
        do {
            try await body(manual, emulator, clock)
        } catch {
            await manual.close()
            await emulator.shutdown()
            throw error
        }
        await manual.close()
        await emulator.shutdown()
    }

    /// Opens the state and the API client (what `start()` does before watching).
    func open() async throws {
        try await daemon.openState()
        try await daemon.makeClient()
    }

    /// Queues `count` URLs as `purge` would.
    func queue(_ count: Int, prefix: String = "page") async throws {
        let urls = (0..<count).map { "https://www.example.com/\(prefix)\($0).html" }
        _ = try await daemon.enqueueManual(urls.map { PurgeItem(url: $0) })
    }

    /// One pass of the submitter as the control loop runs it when woken, then its next due time.
    func submitPass() async throws -> ContinuousClock.Instant? {
        try await daemon.submit()
        await daemon.submitterScheduled()
        return await daemon.submitterDue
    }

    /// One pass of the verifier as the control loop runs it when woken, then its next due time.
    func verifyPass() async throws -> ContinuousClock.Instant? {
        try await daemon.verify()
        try await daemon.pruneIfDue(now: clock.daemonClock.now())
        await daemon.verifierScheduled()
        return await daemon.verifierDue
    }

    /// Moves the clock to `instant` (never back).
    func advance(to instant: ContinuousClock.Instant) {
        let now = clock.daemonClock.now()
        if instant > now { clock.advance(by: now.duration(to: instant)) }
    }

    func batchCounts() async throws -> [BatchState: Int] {
        try await daemon.db.read { try $0.batchCounts() }
    }

    func close() async {
        await daemon.shutDown()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
