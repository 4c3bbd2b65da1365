import ArgumentParser
import ControlProtocol
import Daemon
import Foundation
import Operator
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
        // A running daemon takes the URLs through its socket (a deploy user needs only the
        // socket); only when none runs does purge write the state itself, under its lock.
        // Only the real daemon: URLs handed to a --dry-run daemon would never be purged.
        var answer: ControlAnswer?
        do {
            answer = try ControlClient.send(
                ManualQueue.command(urls), to: ControlSocket.path(forState: config.state.path), timeout: .seconds(10))
        } catch let error as ControlSocketError where error.noDaemon {
            answer = nil
        } catch let error as ControlSocketError where error.earlierRelease {
            Console.err("\(error)")
            throw SysExit.tempFail
        }
        if let answer {
            if case .error(let code, let message) = answer { throw DaemonConnection.refusal(code, message) }
            guard case .queued(let added, let total) = answer else {
                Console.err("the daemon refused the URLs: \(answer)")
                throw ExitCode.failure
            }
            Console.out("queued \(added) URL(s) (\(total - added) already pending) with the running daemon")
            if wait {
                switch try DaemonConnection.send(.flush(wait: true, full: false), config: config, timeout: limit.duration, realOnly: true) {
                case .failed(let count, let urls):
                    Console.err("some URLs failed permanently: \(([String(count)] + urls).joined(separator: " ")); see `purgewatch status`")
                    throw ExitCode.failure
                case .error(let code, let message):
                    // The daemon stopped before the URLs went out: they wait in its queue.
                    throw DaemonConnection.refusal(code, message)
                default:
                    Console.out("submitted")
                }
            }
            return
        }
        if config.state.url != nil {
            // The fleet's queue is in PostgreSQL: this origin's SQLite file is only its manifest,
            // and a URL queued there would never be sent.
            Console.err(
                "no daemon is running on this origin: start it (systemctl start purgewatch@SITE), or run `purge` on another origin of the fleet; nothing was queued"
            )
            throw SysExit.unavailable
        }
        let added: Int
        do {
            added = try ManualQueue.enqueue(urls, config: config)
        } catch let error as DaemonError {
            Console.err("\(error)")
            throw SysExit.tempFail
        }
        Console.out("queued \(added) URL(s) (\(urls.count - added) already pending)")
        if wait {
            Console.err("no daemon is running: nothing to wait for; they are submitted at its next start (or by `purgewatch run --once`)")
            throw SysExit.unavailable
        }
        Console.out("no daemon is running: they will be submitted at its next start (or by `purgewatch run --once`)")
    }
}
