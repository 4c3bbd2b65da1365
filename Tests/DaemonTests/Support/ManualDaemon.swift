import ControlProtocol
import Foundation
import Logging
import PurgeCore
import Reporting
import SiteWatch
import StateStore
import Synchronization
import TencentCDN
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

    /// - Parameter environment: the daemon's environment (nil: the emulator's key in
    ///   `TENCENTCLOUD_SECRET_ID` / `_KEY`).
    static func make(
        emulator: TencentEmulator, clock: ManualClock, extraConfig: String = "", purgeOn: String? = nil,
        options: DaemonOptions = DaemonOptions(), environment: [String: String]? = nil
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
        let environment =
            environment ?? ["TENCENTCLOUD_SECRET_ID": emulator.secretId, "TENCENTCLOUD_SECRET_KEY": emulator.secretKey]
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
    /// `extraConfig` is appended to `[tencentcloud]` (a relative `credentials_file` is read from
    /// ``directory``).
    static func with(
        wall: Date, purgeOn: String? = nil, options: DaemonOptions = DaemonOptions(), extraConfig: String = "",
        environment: [String: String]? = nil,
        _ body: (ManualDaemon, TencentEmulator, ManualClock) async throws -> Void
    ) async throws {
        let clock = ManualClock(wall: wall)
        let emulator = try await TencentEmulator.start()
        emulator.setClockOffset(seconds: wall.timeIntervalSinceNow)
        let manual: ManualDaemon
        do {
            manual = try ManualDaemon.make(
                emulator: emulator, clock: clock, extraConfig: extraConfig, purgeOn: purgeOn, options: options,
                environment: environment)
        } catch {
            await emulator.shutdown()
            throw error
        }
        do {
            try await manual.open()
        } catch {
            // What it opened (the HTTP client must be shut down before it is released).
            await manual.close()
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

    /// Opens the state and the API client (what the state's and the HTTP client's Services and
    /// `start()` do before watching); ``close()`` closes them.
    func open() async throws {
        let state = try HeldState.open(path: await daemon.statePath, dryRunOf: nil)
        do {
            try await daemon.adoptState(state)
        } catch {
            state.close()
            throw error
        }
        try await daemon.makeClient(http: TencentCDNClient.makeHTTPClient())
    }

    /// Queues `count` URLs as `purge` would.
    func queue(_ count: Int, prefix: String = "page") async throws {
        let urls = (0..<count).map { "https://www.example.com/\(prefix)\($0).html" }
        _ = try await daemon.enqueueManual(urls.map { PurgeItem(url: $0) })
    }

    /// The emulator checks TC3 timestamps against the daemon's wall clock, wherever the manual
    /// clock has moved it (its signature window is 5 minutes).
    func syncEmulatorClock() {
        emulator.setClockOffset(seconds: clock.wall.timeIntervalSinceNow)
    }

    /// One pass of the submitter as the control loop runs it when woken, then its next due time.
    @discardableResult
    func submitPass() async throws -> ContinuousClock.Instant? {
        syncEmulatorClock()
        try await daemon.submit()
        await daemon.submitterScheduled()
        return await daemon.submitterDue
    }

    /// One pass of the verifier as the control loop runs it when woken, then its next due time.
    @discardableResult
    func verifyPass() async throws -> ContinuousClock.Instant? {
        syncEmulatorClock()
        try await daemon.verifierPass()
        await daemon.verifierScheduled()
        return await daemon.verifierDue
    }

    /// The control loop takes one input at the clock's now (an inotify event as the watcher
    /// forwards it, a control command, the timer's tick), then the detector compares the windows
    /// it closed, as the stages would when woken.
    func input(_ input: PurgeDaemon.Input) async throws {
        try await daemon.handle(input)
        try await daemon.compareClosedWindows()
    }

    /// Writes `text` to `path` under the site root and tells the control loop, as the watcher
    /// would, that it was touched.
    func change(_ path: String, _ text: String) async throws {
        let root = await daemon.config.site.root
        try text.write(toFile: root + "/" + path, atomically: false, encoding: .utf8)
        try await input(.site(.touched([RelativePath(Array(path.utf8))])))
    }

    /// The instant the control loop's timer is armed for (nil: it sleeps until an event).
    var timerDeadline: ContinuousClock.Instant? {
        get async { await daemon.timer.deadline }
    }

    /// Moves the clock to `instant` (never back).
    func advance(to instant: ContinuousClock.Instant) {
        let now = clock.daemonClock.now()
        if instant > now { clock.advance(by: now.duration(to: instant)) }
    }

    /// When the earliest planned batch is to be sent (a retry's backoff), on the monotonic clock.
    func nextAttempt() async throws -> ContinuousClock.Instant? {
        try await daemon.db.read { try $0.earliestAttemptMilliseconds(states: [.planned]) }
            .map { clock.daemonClock.instant(atWallMilliseconds: $0) }
    }

    func batchCounts() async throws -> [BatchState: Int] {
        try await daemon.db.read { try $0.batchCounts() }
    }

    func close() async {
        await daemon.shutDown()
        try? await daemon.httpClient?.shutdown()
        await daemon.heldState?.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Test-side ways into the daemon's detector stage, on the daemon's executor.
extension PurgeDaemon {
    /// One comparison now, applied as the detector service applies it.
    /// - Returns: false when it did not finish (the touched paths are kept for later).
    @discardableResult
    func detectAndQueue(now: ContinuousClock.Instant, reconcile: Bool, scope: DetectionScope? = nil) async throws -> Bool {
        let outcome = try await detection.detectAndQueue(now: now, reconcile: reconcile, scope: scope, monitor: monitor)
        detected(outcome)
        if case .compared = outcome { return true }
        return false
    }

    /// Runs `body` on the detector stage.
    func withDetection<T: Sendable>(_ body: (DetectorStage) throws -> T) rethrows -> T { try body(detection) }
}
