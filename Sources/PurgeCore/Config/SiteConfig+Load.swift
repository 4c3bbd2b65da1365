import Foundation

extension SiteConfig {
    /// Reads and parses a config file.
    ///
    /// - Throws: ``ConfigError`` (with `isUnreadable` when the file cannot be read).
    public static func load(
        path: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(ConfigError) -> SiteConfig {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = (error as NSError).localizedFailureReason ?? "\(error.localizedDescription)"
            throw ConfigError(file: path, line: nil, keyPath: "", message: "cannot read: \(reason)", isUnreadable: true)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, line: nil, keyPath: "", message: "not valid UTF-8 (TOML files are UTF-8)")
        }
        return try ConfigParser.parse(
            text: text,
            sourcePath: path,
            workingDirectory: FileManager.default.currentDirectoryPath,
            environment: environment,
            hostName: hostName()
        )
    }
}

/// The machine's name as `uname -n` and `hostname` say it (`gethostname(2)`: no DNS lookup, unlike
/// Foundation's `ProcessInfo.hostName`), `[fleet] origin`'s default.
private func hostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
    return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
