import Foundation

/// Loaders for the file and environment sources of the chain. Each reads only what it needs and
/// puts no secret value into an error message.
enum CredentialSources {
    static let secretIdVariable = "TENCENTCLOUD_SECRET_ID"
    static let secretKeyVariable = "TENCENTCLOUD_SECRET_KEY"
    /// tccli's token variable first, then the aliases other tools use.
    static let tokenVariables = ["TENCENTCLOUD_TOKEN", "TENCENTCLOUD_SECURITY_TOKEN", "TENCENTCLOUD_SESSION_TOKEN"]
    static let systemdSecretIdFile = "tencentcloud-secret-id"
    static let systemdSecretKeyFile = "tencentcloud-secret-key"
    static let systemdTokenFile = "tencentcloud-token"

    // MARK: environment

    static func environmentPresent(_ env: [String: String]) -> Bool {
        !(env[secretIdVariable] ?? "").isEmpty && !(env[secretKeyVariable] ?? "").isEmpty
    }

    static func fromEnvironment(_ env: [String: String]) -> Credentials? {
        guard environmentPresent(env), let id = env[secretIdVariable], let key = env[secretKeyVariable] else {
            return nil
        }
        let token = tokenVariables.lazy.compactMap { env[$0] }.first { !$0.isEmpty }
        return Credentials(
            secretId: id.trimmingASCIIWhitespace(),
            secretKey: Secret(key.trimmingASCIIWhitespace()),
            token: token.map { Secret($0.trimmingASCIIWhitespace()) }
        )
    }

    /// Every variable that carries part of the environment credentials.
    static var environmentVariables: [String] { [secretIdVariable, secretKeyVariable] + tokenVariables }

    // MARK: systemd credentials

    static func systemdDirectory(_ env: [String: String]) -> String? {
        guard let dir = env["CREDENTIALS_DIRECTORY"], !dir.isEmpty else { return nil }
        let fm = FileManager.default
        guard fm.fileExists(atPath: dir + "/" + systemdSecretIdFile),
            fm.fileExists(atPath: dir + "/" + systemdSecretKeyFile)
        else { return nil }
        return dir
    }

    static func fromSystemd(directory dir: String) throws -> Credentials {
        let id = try readSecretFile(dir + "/" + systemdSecretIdFile)
        let key = try readSecretFile(dir + "/" + systemdSecretKeyFile)
        let tokenPath = dir + "/" + systemdTokenFile
        let token = FileManager.default.fileExists(atPath: tokenPath) ? try readSecretFile(tokenPath) : nil
        guard !id.isEmpty, !key.isEmpty else {
            throw noCredentials("systemd credential \(dir)/\(systemdSecretIdFile) or \(systemdSecretKeyFile) is empty")
        }
        return Credentials(secretId: id, secretKey: Secret(key), token: token.map(Secret.init))
    }

    // MARK: SDK credentials file

    /// Reads `[default]` `secret_id` / `secret_key` from the SDKs' INI file.
    static func fromCredentialsFile(_ path: String) throws -> Credentials {
        let text = try readSecretFile(path)
        let values = parseINI(text)["default"] ?? [:]
        guard let id = values["secret_id"], !id.isEmpty, let key = values["secret_key"], !key.isEmpty else {
            throw noCredentials(
                "credentials file \(path) has no [default] section with secret_id and secret_key"
            )
        }
        let token = values["token"].flatMap { $0.isEmpty ? nil : Secret($0) }
        return Credentials(secretId: id, secretKey: Secret(key), token: token)
    }

    /// A minimal INI reader: `[section]`, `key = value`, `#`/`;` comment lines; keys lower-cased.
    static func parseINI(_ text: String) -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        var section = ""
        for rawLine in text.split(
            omittingEmptySubsequences: true,
            whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        ) {
            let line = String(rawLine).trimmingASCIIWhitespace()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") && line.hasSuffix("]") {
                section = String(line.dropFirst().dropLast()).trimmingASCIIWhitespace()
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq]).trimmingASCIIWhitespace().lowercased()
            let value = String(line[line.index(after: eq)...]).trimmingASCIIWhitespace()
            result[section, default: [:]][key] = value
        }
        return result
    }

    // MARK: helpers

    static func readSecretFile(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw noCredentials("cannot read \(path): check that it exists and is readable by this user")
        }
        return String(decoding: data, as: UTF8.self).trimmingASCIIWhitespace()
    }

    static func noCredentials(_ message: String) -> TencentCloudError {
        .client("NoCredentials", message, errorClass: .permanent)
    }
}
