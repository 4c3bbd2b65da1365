import ArgumentParser

/// The `purgewatch` command: argument parsing and exit codes only; the work is in the modules.
@main
struct PurgeWatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purgewatch",
        abstract: "Keep a Tencent Cloud CDN in step with a static site: purge exactly the URLs whose files changed.",
        discussion: """
            Configuration: one TOML file per site (see Config/demo.toml). Exit status: 0 success, \
            1 runtime failure, 64–78 usage and configuration errors (sysexits.h): 64 usage, 65 bad \
            input, 66 unreadable config, 69 no daemon running, 75 try again (`flush --wait` timed out, \
            another writer), 77 the state lock cannot be opened, 78 config error.
            """,
        version: PurgeWatch.version,
        subcommands: [Run.self, Flush.self, Status.self, Purge.self, FailuresCommand.self, Explain.self, CheckConfig.self]
    )
}

extension PurgeWatch {
    /// The one version string (`purgewatch --version`, packages, the man pages).
    static let version = "0.3.0"
}

/// `--config FILE`, shared by every subcommand.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The site's TOML config file.", valueName: "FILE"))
    var config: String
}
