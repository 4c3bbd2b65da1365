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

    public init(
        environment: [String: String],
        credentialsFile: String?,
        cvmRole: Bool,
        metadataEndpoint: String = CVMRoleCredentialProvider.defaultMetadataEndpoint,
        httpClient: HTTPClient,
        logger: Logger
    ) {
        let located = Self.locate(environment: environment, credentialsFile: credentialsFile, cvmRole: cvmRole)
        kind = located?.kind
        detail = located?.detail
        switch located?.kind {
        case .environment:
            provider = Self.fromEnvironment(environment)
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

    private static func fromEnvironment(_ environment: [String: String]) -> any CredentialProvider {
        let credentials = CredentialSources.fromEnvironment(environment)
        return CachingCredentialProvider {
            guard let credentials else { throw CredentialSources.noCredentials("environment credentials vanished") }
            return credentials
        }
    }

    /// Which source the chain would use, by presence only: reads and prints no secret
    /// (for `check-config`).
    public static func locate(
        environment: [String: String],
        credentialsFile: String?,
        cvmRole: Bool
    ) -> (kind: CredentialSourceKind, detail: String)? {
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
