import ArgumentParser
import Daemon
import Foundation
import Logging
import PurgeCore
import Reporting
import ServiceLifecycle
import Synchronization
import TencentCDN
import UnixSignals

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The daemon: reconcile the tree, watch it, and purge changed URLs until SIGTERM.",
        discussion: """
            Signals: SIGTERM/SIGINT stop (the queue waits in the state file for the next start); \
            SIGHUP re-reads the config (an invalid one is rejected and the running one kept).
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Do everything but call the API: log each batch it would submit (own state file: STATE.dry-run).")
    var dryRun = false

    @Flag(name: .long, help: "Reconcile, submit what is pending, wait for the submissions, and exit (0 if all were accepted).")
    var once = false

    func run() async throws {
        // One malloc arena: PurgeWatch.prepareProcess, before any thread but the main one.
        // One network thread: a few requests a second need no more.
        TencentCDNClient.useOneNetworkThread()
        let config = try options.load()
        // A URL the store cannot read is a config error here (78), never a daemon running alone.
        _ = try FleetCheck.parse(config)
        if config.state.url != nil, dryRun || once {
            // A dry run works on a copy of its state, which a shared database cannot be; `--once`
            // would send without the fleet's lease. Neither is built for a fleet yet (issue 20).
            Console.err(
                "\(config.sourcePath): state.url: --\(dryRun ? "dry-run" : "once") is not available with a fleet's PostgreSQL state yet; run it on a copy of the config without [state] url and [fleet]"
            )
            throw SysExit.usage
        }
        // The credentials leave the environment: kept only as Secrets, zeroed in the process's
        // environment block, and the process is not dumpable (no core, no ptrace by others).
        let (environment, environmentCredentials) = EnvironmentCredentials.split(ProcessInfo.processInfo.environment)
        ProcessHardening.scrubCredentialsFromEnvironment()
        ProcessHardening.makeNonDumpable()
        let level = environment["PURGEWATCH_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap(LogBootstrap.make(identifier: "purgewatch", environment: environment, logLevel: level))
        var logger = Logger(label: "purgewatch")
        logger[metadataKey: "purge.site"] = "\(FilePaths.stem(of: config.sourcePath))"
        var daemonOptions = PurgeWatch.daemonOptions()
        daemonOptions.dryRun = dryRun
        daemonOptions.once = once
        let daemon = PurgeDaemon(
            config: config, options: daemonOptions, logger: logger,
            notifier: SystemdNotifier(environment: environment), environment: environment,
            environmentCredentials: environmentCredentials)
        logger.debug(
            "process hardening: dumpable=\(ProcessHardening.isDumpable), credential variables kept in the environment: \(EnvironmentCredentials.variables.filter { environment[$0] != nil })"
        )
        let reloads = ClosureService { [daemon] in
            for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
                daemon.requestReload()
            }
        }
        // --once is one task from start to exit; the daemon is its stages, one Service each.
        let services: [any Service] = once ? [OnceService(daemon: daemon)] : daemon.services()
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup) }
                    + [.init(service: reloads)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: Logger(label: "purgewatch.lifecycle", factory: { _ in SwiftLogNoOpLogHandler() })))
        do {
            try await group.run()
        } catch {
            await daemon.shutDown()
            logger.critical("\(error)")
            throw Self.exitCode(for: error)
        }
        await daemon.shutDown()
        if let once = services.first as? OnceService {
            let status = once.exitStatus.withLock { $0 }
            if status != 0 { throw ExitCode(status) }
        }
    }

    /// The exit status of a daemon that failed (sysexits where one applies).
    static func exitCode(for error: any Error) -> ExitCode {
        switch error as? DaemonError {
        case .stateLocked(let lock)?:
            // Another writer: try again later (75); a lock file we may not open: permissions (77).
            lock.errno == nil ? SysExit.tempFail : ExitCode(77)
        case .noCredentials?: SysExit.config
        case .metricsUnavailable?, nil: ExitCode.failure
        // `run --once` with no root to compare: a missing input (66), not a crash.
        case .rootUnavailable?: ExitCode(66)
        // Part of the tree could not be read for now: try again later (75).
        case .comparisonIncomplete?: SysExit.tempFail
        // The fleet's database cannot be reached (or refuses, or is newer): try again later.
        case .fleetStateUnavailable?: SysExit.tempFail
        }
    }
}

/// `run --once` as a `Service`: a graceful shutdown cancels it, which stops in-flight HTTP at
/// once; a batch caught mid-request stays resendable.
final class OnceService: Service, Sendable {
    let daemon: PurgeDaemon
    let exitStatus = Mutex<Int32>(0)

    init(daemon: PurgeDaemon) {
        self.daemon = daemon
    }

    func run() async throws {
        do {
            let status = try await cancelWhenGracefulShutdown { [daemon] in try await daemon.runOnce() }
            exitStatus.withLock { $0 = status }
        } catch is CancellationError {
            // SIGTERM: the queue waits in SQLite for the next start (SPEC §6).
        }
    }
}
