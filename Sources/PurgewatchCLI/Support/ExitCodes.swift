import ArgumentParser
import Foundation
import PurgeCore

/// sysexits.h codes used at the CLI edge (SPEC §2).
enum SysExit {
    static let usage = ExitCode(64)  // EX_USAGE
    static let dataError = ExitCode(65)  // EX_DATAERR
    static let noInput = ExitCode(66)  // EX_NOINPUT
    static let unavailable = ExitCode(69)  // EX_UNAVAILABLE
    static let tempFail = ExitCode(75)  // EX_TEMPFAIL
    static let protocolError = ExitCode(76)  // EX_PROTOCOL
    static let config = ExitCode(78)  // EX_CONFIG
}

enum Console {
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func err(_ text: String) {
        FileHandle.standardError.write(Data(("purgewatch: " + text + "\n").utf8))
    }
}

extension ConfigOption {
    /// Loads the config, or prints the located error and exits 78 (66 when unreadable).
    func load() throws -> SiteConfig {
        do {
            var loaded = try SiteConfig.load(path: config)
            // No [state] path and no $STATE_DIRECTORY (a root shell beside a systemd-run daemon):
            // the default beside the config would be a second database the daemon never reads.
            // When that one does not exist but the unit's does, use the unit's, and say so.
            if loaded.state.source == .besideConfig {
                let systemd = SiteConfig.State.systemdPath(configStem: FilePaths.stem(of: loaded.sourcePath))
                let fm = FileManager.default
                if !fm.fileExists(atPath: loaded.state.path) && fm.fileExists(atPath: systemd) {
                    Console.err(
                        "purgewatch: [state] path is not set and $STATE_DIRECTORY is unset; no state at \(loaded.state.path), using the systemd unit's \(systemd)"
                    )
                    loaded.state = .init(path: systemd, source: .stateDirectory)
                }
            }
            return loaded
        } catch {
            Console.err(error.description)
            throw error.isUnreadable ? SysExit.noInput : SysExit.config
        }
    }
}
