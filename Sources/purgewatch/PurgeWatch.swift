import ArgumentParser

/// The `purgewatch` command: argument parsing and exit codes only; the work is in the modules.
@main
struct PurgeWatch: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purgewatch",
        abstract: "Keep a Tencent Cloud CDN in step with a static site: purge exactly the URLs whose files changed.",
        discussion: """
            Configuration: one TOML file per site (see Config/demo.toml). Exit status: 0 success, \
            1 runtime failure, 64–78 usage and configuration errors (sysexits.h).
            """,
        subcommands: [CheckConfig.self, Explain.self]
    )
}

/// `--config FILE`, shared by every subcommand.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The site's TOML config file.", valueName: "FILE"))
    var config: String
}
