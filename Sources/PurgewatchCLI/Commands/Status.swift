import ArgumentParser
import Operator
import PurgeCore

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show files tracked, pending URLs, recent batches, failures needing a human, and today's quota.",
        discussion: "Reads the state database; works while the daemon runs. --json is a stable interface (see README)."
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Print the stable JSON form.")
    var json = false

    @Flag(name: .long, help: "Read the dry-run state (STATE.dry-run).")
    var dryRun = false

    @Flag(
        name: .long,
        help: "For monitoring: one line PURGEWATCH OK|WARNING|CRITICAL|UNKNOWN - summary | perfdata; exit 0/1/2/3.")
    var check = false

    func run() async throws {
        if check { try await runCheck() }
        let config = try options.load()
        let report = try await StatusReport.read(config: config, dryRun: dryRun, now: PurgeWatch.daemonOptions().clock.wall())
        Console.out(json ? report.json : report.text)
    }

    /// The monitoring-plugin convention: never a usage exit; an unreadable config or state is UNKNOWN.
    private func runCheck() async throws -> Never {
        let config: SiteConfig
        do {
            config = try options.load()
        } catch {
            Console.out(StatusReport.unknownLine("cannot read the config \(options.config): \(error)"))
            throw ExitCode(StatusReport.CheckLevel.unknown.rawValue)
        }
        let report: StatusReport
        do {
            report = try await StatusReport.read(config: config, dryRun: dryRun, now: PurgeWatch.daemonOptions().clock.wall())
        } catch {
            Console.out(StatusReport.unknownLine("cannot read the state \(config.state.path): \(error)"))
            throw ExitCode(StatusReport.CheckLevel.unknown.rawValue)
        }
        guard report.stateExists else {
            Console.out(StatusReport.unknownLine("no state at \(report.statePath) (the daemon has never run)"))
            throw ExitCode(StatusReport.CheckLevel.unknown.rawValue)
        }
        let (level, line) = report.check(maxDelay: config.coalesce.maxDelay.duration, area: config.purge.area.rawValue)
        Console.out(line)
        throw ExitCode(level.rawValue)
    }
}
