import AsyncHTTPClient
import Logging

/// The credential chain of SPEC §3; the first source present wins:
/// 1. `TENCENTCLOUD_SECRET_ID` + `TENCENTCLOUD_SECRET_KEY` (+ `TENCENTCLOUD_TOKEN`);
/// 2. systemd credentials `$CREDENTIALS_DIRECTORY/tencentcloud-secret-id`, `tencentcloud-secret-key`;
/// 3. `credentials_file` (INI, `[default]` `secret_id` / `secret_key`);
/// 4. `cvm_role`: the instance role from the metadata service.
///
/// The source is chosen once, at initialisation, by presence; its secrets are read on the first
/// ``credentials()`` call and re-read after ``invalidate()``.
public struct CredentialChain: CredentialProvider {
    /// The chosen source, `nil` when none is configured.
    public let kind: CredentialSourceKind?
    /// A human-readable, secret-free description of the chosen source.
    public let detail: String?
    private let provider: (any CredentialProvider)?

    /// - Parameter environmentCredentials: the environment's credentials when the caller took them
    ///   out of `environment` (``EnvironmentCredentials/split(_:)``), so that no plain copy of
    ///   the secret stays in a dictionary for the life of the process.
    public init(
        environment: [String: String],
        environmentCredentials: Credentials? = nil,
        credentialsFile: String?,
        cvmRole: Bool,
        metadataEndpoint: String = CVMRoleCredentialProvider.defaultMetadataEndpoint,
        httpClient: HTTPClient,
        logger: Logger
    ) {
        let fromEnvironment = environmentCredentials ?? CredentialSources.fromEnvironment(environment)
        let located = Self.locate(
            environment: environment, environmentCredentials: fromEnvironment, credentialsFile: credentialsFile,
            cvmRole: cvmRole)
        kind = located?.kind
        detail = located?.detail
        switch located?.kind {
        case .environment:
            let credentials = fromEnvironment
            provider = CachingCredentialProvider {
                guard let credentials else { throw CredentialSources.noCredentials("environment credentials vanished") }
                return credentials
            }
        case .systemdCredentials:
            let dir = CredentialSources.systemdDirectory(environment) ?? ""
            provider = CachingCredentialProvider { try CredentialSources.fromSystemd(directory: dir) }
        case .credentialsFile:
            let path = credentialsFile ?? ""
            provider = CachingCredentialProvider { try CredentialSources.fromCredentialsFile(path) }
        case .cvmRole:
            provider = CVMRoleCredentialProvider(
                metadataEndpoint: metadataEndpoint,
                httpClient: httpClient,
                logger: logger
            )
        case nil:
            provider = nil
        }
        if let located {
            logger.debug(
                "credential source chosen",
                metadata: ["credentials.source": "\(located.kind.rawValue)", "credentials.detail": "\(located.detail)"]
            )
        }
    }

    /// Which source the chain would use, by presence only: reads and prints no secret
    /// (for `check-config`).
    public static func locate(
        environment: [String: String],
        environmentCredentials: Credentials? = nil,
        credentialsFile: String?,
        cvmRole: Bool
    ) -> (kind: CredentialSourceKind, detail: String)? {
        if environmentCredentials != nil && !CredentialSources.environmentPresent(environment) {
            return (.environment, "\(CredentialSources.secretIdVariable), \(CredentialSources.secretKeyVariable)")
        }
        if CredentialSources.environmentPresent(environment) {
            let token = CredentialSources.tokenVariables.first { !(environment[$0] ?? "").isEmpty }
            var detail = "\(CredentialSources.secretIdVariable), \(CredentialSources.secretKeyVariable)"
            if let token { detail += ", \(token)" }
            return (.environment, detail)
        }
        if let dir = CredentialSources.systemdDirectory(environment) {
            return (
                .systemdCredentials,
                "\(dir)/\(CredentialSources.systemdSecretIdFile), \(dir)/\(CredentialSources.systemdSecretKeyFile)"
            )
        }
        if let credentialsFile, !credentialsFile.isEmpty {
            return (.credentialsFile, credentialsFile)
        }
        if cvmRole {
            return (.cvmRole, "CVM instance role from the metadata service")
        }
        return nil
    }

    public func credentials() async throws -> Credentials {
        guard let provider else {
            throw CredentialSources.noCredentials(
                "no credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, systemd credentials "
                    + "tencentcloud-secret-id/-key, credentials_file, or cvm_role = true"
            )
        }
        return try await provider.credentials()
    }

    public func invalidate() async {
        await provider?.invalidate()
    }
}

/// The environment's credentials, taken out of the environment (SPEC §6: secrets never linger).
public enum EnvironmentCredentials {
    /// `environment` without the credential variables, and the credentials they held (as
    /// ``Secret``s), if any.
    public static func split(_ environment: [String: String]) -> (rest: [String: String], credentials: Credentials?) {
        let credentials = CredentialSources.fromEnvironment(environment)
        var rest = environment
        for name in CredentialSources.environmentVariables { rest[name] = nil }
        return (rest, credentials)
    }

    /// The names of the variables that carry credentials (to scrub from the process).
    public static var variables: [String] { CredentialSources.environmentVariables }
}
