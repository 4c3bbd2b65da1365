import ArgumentParser
import Daemon
import Foundation
import Operator
import PurgeCore
import StateStore

struct FailuresCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failures",
        abstract: "List the URLs that failed permanently; --retry queues them again, --forget acknowledges them.",
        discussion: """
            Without URLs, --retry and --forget apply to every failure; with URLs, to those. Either way \
            they stop counting as failures in `status` and `status --check`. Both go through the \
            running daemon (its control socket) when there is one; otherwise the state is written \
            under its lock. --retry goes through the normal queue: deduplication, quota, retries.
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Print the list as JSON: [{url, path, error_code, message, batch_id, failed_at}].")
    var json = false

    @Flag(name: .long, help: "Queue the failed URLs again.")
    var retry = false

    @Flag(name: .long, help: "Acknowledge the failures without purging.")
    var forget = false

    @Flag(name: .long, help: "Read the dry-run state (STATE.dry-run); listing only.")
    var dryRun = false

    @Argument(help: ArgumentHelp("Failed URLs to act on (default: all).", valueName: "URL"))
    var urls: [String] = []

    func validate() throws {
        if retry && forget { throw ValidationError("--retry and --forget exclude each other") }
        if (retry || forget) && dryRun { throw ValidationError("--dry-run lists only") }
        if !urls.isEmpty && !retry && !forget { throw ValidationError("URLs need --retry or --forget") }
    }

    func run() async throws {
        let config = try options.load()
        guard retry || forget else {
            let failures: [FailureRow]
            do {
                failures = try await Failures.list(config: config, dryRun: dryRun)
            } catch let error as StateNotMigrated {
                Console.err("\(error)")
                throw ExitCode.failure
            }
            Console.out(json ? Failures.json(failures) : Failures.text(failures))
            return
        }
        let action: Failures.Action = retry ? .retry : .forget
        let outcome: Failures.Outcome
        if let answer = try? ControlClient.send(
            Failures.command(action, urls: urls), to: ControlSocket.path(forState: config.state.path), timeout: .seconds(10))
        {
            guard let parsed = Failures.outcome(from: answer) else {
                Console.err("the daemon refused: \(answer)")
                throw ExitCode.failure
            }
            outcome = parsed
        } else if config.state.url != nil {
            Console.err("failures --retry/--forget are not available on a fleet yet; nothing was changed")
            throw SysExit.unavailable
        } else {
            do {
                outcome = try Failures.applyDirectly(action, urls: urls, config: config)
            } catch let error as DaemonError {
                Console.err("\(error)")
                throw SysExit.tempFail
            }
        }
        let verb = action == .retry ? "queued again" : "forgotten"
        Console.out("\(outcome.applied) failed URL(s) \(verb)")
        for url in outcome.unmatched { Console.err("\(url) is not among the failures") }
        if !outcome.unmatched.isEmpty && outcome.applied == 0 { throw SysExit.dataError }
    }
}
