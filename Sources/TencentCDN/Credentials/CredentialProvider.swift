/// Supplies the credentials each request is signed with.
///
/// Implementations cache what they load; ``invalidate()`` drops the cache so the next call loads
/// afresh (the client calls it after `AuthFailure.TokenFailure`).
public protocol CredentialProvider: Sendable {
    /// The credentials to sign the next request with.
    /// - Throws: ``TencentCloudError`` with a `ClientError.NoCredentials` (permanent) or
    ///   `ClientError.CredentialsUnavailable` (transient) code.
    func credentials() async throws -> Credentials
    /// Forgets cached credentials.
    func invalidate() async
}

/// Where credentials came from, in the order of the chain (SPEC §3).
public enum CredentialSourceKind: String, Sendable, CaseIterable {
    /// `TENCENTCLOUD_SECRET_ID` + `TENCENTCLOUD_SECRET_KEY` (+ `TENCENTCLOUD_TOKEN`).
    case environment
    /// `$CREDENTIALS_DIRECTORY/tencentcloud-secret-id` and `tencentcloud-secret-key`.
    case systemdCredentials
    /// The SDKs' INI file, `[default]` `secret_id` / `secret_key`.
    case credentialsFile
    /// The CVM instance role, from the metadata service.
    case cvmRole
}

/// Fixed credentials (tests, or a caller that manages keys itself).
public struct StaticCredentialProvider: CredentialProvider {
    private let value: Credentials

    public init(_ credentials: Credentials) {
        self.value = credentials
    }

    public func credentials() async throws -> Credentials { value }
    public func invalidate() async {}
}

/// Loads credentials once with `load` and caches them until invalidated.
actor CachingCredentialProvider: CredentialProvider {
    private let load: @Sendable () throws -> Credentials
    private var cached: Credentials?

    init(load: @escaping @Sendable () throws -> Credentials) {
        self.load = load
    }

    func credentials() async throws -> Credentials {
        if let cached { return cached }
        let loaded = try load()
        cached = loaded
        return loaded
    }

    func invalidate() async { cached = nil }
}
