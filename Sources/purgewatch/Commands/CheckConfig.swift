import ArgumentParser
import PurgeCore

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file and print the resolved settings (secrets are never printed).",
        discussion: "Exit status 0 when valid; 78 with FILE:LINE: KEY: problem when not; 66 when unreadable."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let config = try options.load()
        Console.out("# \(config.sourcePath): valid")
        Console.out(config.resolvedSettings)
    }
}
