import ArgumentParser
import Daemon
import Foundation
import PurgeCore

struct Purge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Queue URLs, or paths mapped through the rules, by hand: same queue, deduplication, quota and retries.",
        discussion: """
            Arguments starting with http:// or https:// are URLs; anything else is a path (relative \
            to the root, or absolute under it, never with a ".." segment). A URL must lie under one \
            of the rules' urls unless --any-url is given, and may contain no space or control \
            character. Any refused argument exits 65 before anything is queued. The running daemon \
            is told at once; without one, the URLs wait for its next start (or `run --once`).
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Wait until they are submitted (exit 0) or failed (exit 1).")
    var wait = false

    @Option(name: .long, help: ArgumentHelp("How long --wait may take.", valueName: "DURATION"))
    var timeout: String = "5m"

    @Flag(name: .long, help: "Accept URLs under none of the rules' urls (another host of the account).")
    var anyURL = false

    @Argument(help: ArgumentHelp("URLs or paths.", valueName: "URL|PATH"))
    var targets: [String]

    func run() throws {
        let config = try options.load()
        guard let limit = ConfigDuration(parsing: timeout) else {
            throw ValidationError("--timeout \(timeout) is not a duration such as 30s or 5m")
        }
        var urls: [(url: String, path: [UInt8]?)] = []
        let mapper = config.mapper
        for raw in RawArguments.bytes(of: targets) {
            switch ManualTarget.resolve(raw, config: config, mapper: mapper, anyURL: anyURL) {
            case .success(let resolved): urls += resolved
            case .failure(let refusal):
                Console.err(refusal.description)
                throw SysExit.dataError
            }
        }
        let added = try ManualQueue.enqueue(urls, config: config)
        Console.out("queued \(added) URL(s) (\(urls.count - added) already pending)")
        do {
            let answer = try DaemonConnection.send(wait ? "flush-wait" : "flush", config: config, timeout: limit.duration)
            if answer.hasPrefix("failed") {
                Console.err("some URLs failed permanently; see `purgewatch status`")
                throw ExitCode.failure
            }
            if wait { Console.out("submitted") }
        } catch let exit as ExitCode where exit == SysExit.unavailable && !wait {
            Console.out("no daemon is running: they will be submitted at its next start (or by `purgewatch run --once`)")
        }
    }
}
