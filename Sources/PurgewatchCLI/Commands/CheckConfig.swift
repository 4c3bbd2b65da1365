import ArgumentParser
import Daemon
import Foundation
import PurgeCore

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file and print the resolved settings (secrets are never printed).",
        discussion: """
            Exit status 0 when valid; 78 with FILE:LINE: KEY: problem when not; 66 when unreadable. \
            Credentials are checked for presence only (never printed); missing ones are a warning, \
            or an error (78) with --require-credentials.
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Fail (exit 78) when no usable credentials are found, e.g. in ExecStartPre=.")
    var requireCredentials = false

    func run() throws {
        let config = try options.load()
        let credentials = CredentialCheck.check(config, environment: ProcessInfo.processInfo.environment)
        Console.out("# \(config.sourcePath): valid")
        Console.out("# credentials: \(credentials.description)")
        Console.out(config.resolvedSettings)
        for note in config.notes { Console.err("warning: \(note)") }
        // Not an error: a package installed before the first deploy waits for its root.
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: config.site.root, isDirectory: &isDirectory) || !isDirectory.boolValue {
            Console.err(
                "warning: the site root \(config.site.root) does not exist (yet): `run` waits for it, watching its nearest existing parent, and records its first tree as the baseline (nothing is purged for it)"
            )
        }
        if let problem = credentials.problem {
            Console.err((requireCredentials ? "" : "warning: ") + problem)
            if requireCredentials { throw SysExit.config }
        }
    }
}
