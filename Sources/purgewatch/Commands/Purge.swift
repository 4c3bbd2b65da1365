import ArgumentParser
import Daemon
import Foundation
import PurgeCore

struct Purge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Queue URLs, or paths mapped through the rules, by hand: same queue, deduplication, quota and retries.",
        discussion: """
            Arguments starting with http:// or https:// are URLs; anything else is a path (relative \
            to the root, or absolute under it). The running daemon is told at once; without one, \
            the URLs wait for its next start (or `run --once`).
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Wait until they are submitted (exit 0) or failed (exit 1).")
    var wait = false

    @Option(name: .long, help: ArgumentHelp("How long --wait may take.", valueName: "DURATION"))
    var timeout: String = "5m"

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
            let text = String(decoding: raw, as: UTF8.self)
            if text.hasPrefix("http://") || text.hasPrefix("https://") {
                guard !text.contains(" ") else {
                    Console.err("\(text) is not a valid URL (percent-encode it)")
                    throw SysExit.dataError
                }
                urls.append((text, nil))
                continue
            }
            guard let path = config.relativePath(forArgument: raw) else {
                Console.err("\(RelativePath.escaped(raw)) is not under the site root \(config.site.root)")
                throw SysExit.dataError
            }
            let mapping = mapper.map(path)
            if mapping.urls.isEmpty {
                Console.err("\(path) maps to no URL (\(mapping.excluded ? "excluded" : "no rule matches")); see `purgewatch explain`")
                throw SysExit.dataError
            }
            urls += mapping.urls.map { ($0, path.bytes) }
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
