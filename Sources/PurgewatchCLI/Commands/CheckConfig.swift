import ArgumentParser
import Daemon
import Foundation
import PurgeCore

struct CheckConfig: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a config file and print the resolved settings (secrets are never printed).",
        discussion: """
            Exit status 0 when valid; 78 with FILE:LINE: KEY: problem when not; 66 when unreadable. \
            Credentials are checked for presence only (never printed); missing ones are a warning, \
            or an error (78) with --require-credentials. With a PostgreSQL [state] url, the \
            password's source is named (never the password), and --require-database connects \
            to it (69 when it cannot be used: unreachable, or it refuses the user, the password or the \
            database; 78 when its schema is newer than this build's).
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Fail (exit 78) when no usable credentials are found, e.g. in ExecStartPre=.")
    var requireCredentials = false

    @Flag(name: .long, help: "With a PostgreSQL [state] url: connect to it, and fail (69) when it cannot be used.")
    var requireDatabase = false

    func run() async throws {
        let config = try options.load()
        let credentials = CredentialCheck.check(config, environment: ProcessInfo.processInfo.environment)
        let databaseURL = try FleetCheck.parse(config)
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
        if let databaseURL {
            try await FleetCheck.report(url: databaseURL, requireDatabase: requireDatabase)
        } else if requireDatabase {
            Console.err("--require-database: no [state] url is set; the state is the SQLite file \(config.state.path)")
        }
    }
}
