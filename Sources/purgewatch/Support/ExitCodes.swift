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
            return try SiteConfig.load(path: config)
        } catch {
            Console.err(error.description)
            throw error.isUnreadable ? SysExit.noInput : SysExit.config
        }
    }
}
