import ArgumentParser
import ControlProtocol
import Daemon
import Operator
import PurgeCore

struct Flush: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tell the running daemon to close the coalescing window now (call it after a deploy's last write).",
        discussion: """
            With --wait, returns when every URL queued before the call has been submitted (exit 0) or \
            has failed permanently (exit 1); exits 75 when --timeout passes first, 69 when no daemon \
            runs for the config. The daemon compares what inotify reported, read up to the moment of \
            the call (a deploy's writes have returned by then, so their events are in); --full \
            compares the whole tree, as it does by itself after lost events or a root swap. Reaches a `run --dry-run` daemon too. Needs no root: only access to \
            the state directory.
            """
    )

    @OptionGroup var options: ConfigOption

    @Flag(name: .long, help: "Wait until everything queued before the call is submitted or has failed.")
    var wait = false

    @Option(name: .long, help: ArgumentHelp("How long --wait may take (e.g. 30s, 5m).", valueName: "DURATION"))
    var timeout: String = "5m"

    @Flag(name: .long, help: "Compare the whole tree with the manifest, not only what inotify reported.")
    var full = false

    func run() throws {
        let config = try options.load()
        guard let limit = ConfigDuration(parsing: timeout) else {
            throw ValidationError("--timeout \(timeout) is not a duration such as 30s or 5m")
        }
        let answer = try DaemonConnection.send(.flush(wait: wait, full: full), config: config, timeout: limit.duration)
        switch answer {
        case .flushRequested, .submitted:
            if wait { Console.out("submitted") }
        case .failed(let count, let urls):
            // The URLs of this flush's window that failed permanently (the first 20).
            let named = urls.joined(separator: "\n  ")
            Console.err("\(count) URL(s) of this deploy failed permanently; see `purgewatch status`\(named.isEmpty ? "" : ":\n  " + named)")
            throw ExitCode.failure
        case .error(let code, let message):
            throw DaemonConnection.refusal(code, message)
        default:
            Console.err("unexpected answer from the daemon: \(answer)")
            throw ExitCode.failure
        }
    }
}

/// Finds the daemon for a config: the real one, else a dry-run one (SPEC §6).
enum DaemonConnection {
    /// The exit for an error answer: 75 (try again) when the daemon was stopping, busy, or found
    /// the client gone — nothing failed; 76 (EX_PROTOCOL) when it could not read the command,
    /// where trying again never helps; 65 when it refused what the command carried.
    static func refusal(_ code: ControlAnswer.ErrorCode, _ message: String) -> ExitCode {
        switch code {
        case .busy, .stopping, .gone, .noCommand:
            Console.err("the daemon could not answer: \(message); the queue is intact, try again")
            return SysExit.tempFail
        case .badCommand, .unsupportedVersion, .tooLong:
            Console.err("the daemon could not read the command: \(message) (a CLI and a daemon of different releases?)")
            return SysExit.protocolError
        case .refused:
            Console.err("the daemon refused the command: \(message)")
            return SysExit.dataError
        }
    }

    static func send(_ command: ControlCommand, config: SiteConfig, timeout: Duration, realOnly: Bool = false) throws -> ControlAnswer {
        var lastError: ControlSocketError?
        for state in realOnly ? [config.state.path] : [config.state.path, config.dryRunStatePath] {
            let socket = ControlSocket.path(forState: state)
            do {
                return try ControlClient.send(command, to: socket, timeout: timeout)
            } catch let error as ControlSocketError where error.noDaemon {
                lastError = error
                continue
            } catch let error as ControlSocketError where error.timedOut {
                Console.err("timed out after \(timeout) waiting for the daemon (\(socket)); the queue is intact")
                throw SysExit.tempFail
            } catch let error as ControlSocketError where error.earlierRelease {
                // Restarting the daemon fixes it: try again then.
                Console.err("\(error)")
                throw SysExit.tempFail
            }
        }
        var looked = [config.state.path, config.dryRunStatePath].map { ControlSocket.path(forState: $0) }.joined(separator: ", ")
        if config.state.source == .besideConfig {
            looked +=
                "; [state] path is not set and $STATE_DIRECTORY is unset, so the state is looked for beside the config (and at \(SiteConfig.State.systemdPath(configStem: FilePaths.stem(of: config.sourcePath)))): set [state] path to the daemon's"
        }
        Console.err(
            "no purgewatch daemon is running for \(config.sourcePath) (looked at \(looked)): \(lastError?.description ?? "")")
        throw SysExit.unavailable
    }
}
