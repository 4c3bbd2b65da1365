import ArgumentParser
import CProcess
import Daemon

/// The `purgewatch` command: argument parsing and exit codes only; the work is in the modules.
public struct PurgeWatch: AsyncParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
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
    /// What a harness around the CLI adjusts in the daemon's options and the commands' clock,
    /// for the task that runs ``PurgeWatch/main()`` (`Tests/Harness` scales the end-to-end
    /// tests' timings with it). The shipped binary never sets it: nil, nothing adjusted.
    @TaskLocal public static var adjustOptions: (@Sendable (inout DaemonOptions) -> Void)?

    /// What must happen before the first thread but the main one allocates: one malloc arena
    /// (glibc makes up to eight per core, one per thread that allocates while another holds the
    /// lock, each keeping its own freed pages; at most two threads allocate at once here, and a
    /// second arena held ≈ 0.2–1 MiB: issue 23). Called from the executable's top-level code,
    /// synchronously, before `runAsRoot`: any later call is too late (the cooperative pool has
    /// allocated by then). Then fixed malloc thresholds: blocks of 64 KiB or more (a
    /// comparison's arrays, a hashing buffer) are mapped on their own and unmapped when freed
    /// (glibc's default rises after the first large free, and a deploy's arrays then stayed in
    /// the heap as holes: issue 23), and the heap's top is given back past 1 MiB free (at
    /// 128 KiB it shrank and grew back around every manifest chunk: READY warm 35 % slower).
    public static func prepareProcess() {
        _ = purgewatch_limit_malloc_arenas(1)
        _ = purgewatch_fix_malloc_thresholds(64 << 10, 1 << 20)
    }

    /// Parses the process's arguments and runs the command they name (what `@main` on an
    /// `AsyncParsableCommand` does; spelled out so that top-level code picks the async entry).
    public static func runAsRoot() async {
        let main: () async -> Void = Self.main
        await main()
    }

    /// The daemon's options with the harness's adjustments, if any.
    static func daemonOptions() -> DaemonOptions {
        var options = DaemonOptions()
        adjustOptions?(&options)
        return options
    }

    /// The one version string (`purgewatch --version`, packages, the man pages).
    static let version = "0.3.0"
}

/// `--config FILE`, shared by every subcommand.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The site's TOML config file.", valueName: "FILE"))
    var config: String
}
