import ArgumentParser
import Daemon

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show files tracked, pending URLs, recent batches, failures needing a human, and today's quota.",
        discussion: "Reads the state database; works while the daemon runs. --json is a stable interface (see README)."
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Print the stable JSON form.")
    var json = false

    @Flag(name: .long, help: "Read the dry-run state (STATE.dry-run).")
    var dryRun = false

    func run() throws {
        let config = try options.load()
        let report = try StatusReport.read(config: config, dryRun: dryRun)
        Console.out(json ? report.json : report.text)
    }
}
