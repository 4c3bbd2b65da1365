import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// Temporary credentials of the CVM instance role, from the metadata service.
///
/// Discovers the role name (`GET /latest/meta-data/cam/security-credentials/`), fetches
/// `TmpSecretId`, `TmpSecretKey`, `Token` and `ExpiredTime` for it, and refetches when at most
/// `refreshMargin` (300 s) of validity remain, as the official SDKs do. Concurrent callers share
/// one fetch. If a refresh fails while the cached credentials have not yet expired, they are
/// used and a warning is logged.
public actor CVMRoleCredentialProvider: CredentialProvider {
    public static let defaultMetadataEndpoint = "http://metadata.tencentyun.com"
    static let credentialsPath = "/latest/meta-data/cam/security-credentials/"

    private let base: String
    private let httpClient: HTTPClient
    private let logger: Logger
    private let refreshMargin: TimeInterval
    private let requestTimeout: Duration
    private let now: @Sendable () -> Date
    private var cached: Credentials?
    private var roleName: String?
    private var inFlight: Task<Credentials, any Error>?
    /// How many times credentials were fetched from the metadata service.
    public private(set) var fetchCount = 0

    /// - Parameters:
    ///   - metadataEndpoint: the metadata service base URL (tests point it at 127.0.0.1).
    ///   - refreshMargin: refetch when this little validity remains (at least 300 s is advised).
    ///   - now: the wall clock, injectable for tests.
    public init(
        metadataEndpoint: String = CVMRoleCredentialProvider.defaultMetadataEndpoint,
        httpClient: HTTPClient,
        logger: Logger,
        refreshMargin: TimeInterval = 300,
        requestTimeout: Duration = .seconds(5),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        var base = metadataEndpoint
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
        self.httpClient = httpClient
        self.logger = logger
        self.refreshMargin = refreshMargin
        self.requestTimeout = requestTimeout
        self.now = now
    }

    public func credentials() async throws -> Credentials {
        if let cached, !needsRefresh(cached) { return cached }
        if let inFlight { return try await inFlight.value }
        let task = Task { try await self.fetch() }
        inFlight = task
        defer { inFlight = nil }
        do {
            let fresh = try await task.value
            cached = fresh
            return fresh
        } catch {
            if let cached, let expiry = cached.expiresAt, expiry > now() {
                logger.warning(
                    "CVM role credential refresh failed; using the cached ones until they expire",
                    metadata: ["error": "\(error)", "credentials.expires_at": "\(Int64(expiry.timeIntervalSince1970))"]
                )
                return cached
            }
            throw error
        }
    }

    public func invalidate() async {
        cached = nil
    }

    private func needsRefresh(_ credentials: Credentials) -> Bool {
        guard let expiry = credentials.expiresAt else { return false }
        return expiry.timeIntervalSince(now()) <= refreshMargin
    }

    private struct RoleCredentialsBody: Decodable {
        var tmpSecretId: String?
        var tmpSecretKey: String?
        var token: String?
        var expiredTime: Int64?
        var code: String?

        enum CodingKeys: String, CodingKey {
            case tmpSecretId = "TmpSecretId"
            case tmpSecretKey = "TmpSecretKey"
            case token = "Token"
            case expiredTime = "ExpiredTime"
            case code = "Code"
        }
    }

    private func fetch() async throws -> Credentials {
        let role: String
        if let roleName {
            role = roleName
        } else {
            role = try await discoverRole()
        }
        let (status, body) = try await get(base + Self.credentialsPath + role)
        if status == 404 {
            // The role may have been replaced: rediscover next time.
            roleName = nil
            throw unavailable("metadata service has no credentials for role \(role) (HTTP 404)")
        }
        guard status == 200 else { throw unavailable("metadata service answered HTTP \(status) for role credentials") }
        guard let parsed = try? JSONDecoder().decode(RoleCredentialsBody.self, from: Data(body)) else {
            throw unavailable("metadata service returned malformed role credentials")
        }
        guard parsed.code == nil || parsed.code == "Success", let id = parsed.tmpSecretId,
            let key = parsed.tmpSecretKey,
            let token = parsed.token, let expired = parsed.expiredTime, !id.isEmpty, !key.isEmpty
        else {
            throw unavailable("metadata service role credentials are incomplete (Code \(parsed.code ?? "none"))")
        }
        fetchCount += 1
        let credentials = Credentials(
            secretId: id,
            secretKey: Secret(key),
            token: Secret(token),
            expiresAt: Date(timeIntervalSince1970: TimeInterval(expired))
        )
        logger.debug(
            "fetched CVM role credentials",
            metadata: ["credentials.role": "\(role)", "credentials.expires_at": "\(expired)"]
        )
        return credentials
    }

    private func discoverRole() async throws -> String {
        let (status, body) = try await get(base + Self.credentialsPath)
        if status == 404 {
            throw TencentCloudError.client(
                "NoCredentials",
                "no CAM role is bound to this instance (metadata \(base) answered 404): bind one or configure keys",
                errorClass: .permanent
            )
        }
        guard status == 200 else { throw unavailable("metadata service answered HTTP \(status) for the role name") }
        let name = String(decoding: body, as: UTF8.self).split(whereSeparator: \.isNewline).first.map {
            String($0).trimmingASCIIWhitespace()
        }
        guard let name, !name.isEmpty, !name.contains("/") else {
            throw unavailable("metadata service returned no role name")
        }
        roleName = name
        return name
    }

    private func get(_ url: String) async throws -> (Int, [UInt8]) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        do {
            let response = try await httpClient.execute(request, timeout: TimeAmount(requestTimeout))
            var buffer = try await response.body.collect(upTo: 64 * 1024)
            return (Int(response.status.code), buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch {
            throw unavailable("cannot reach the metadata service at \(base): \(error)")
        }
    }

    private func unavailable(_ message: String) -> TencentCloudError {
        .client("CredentialsUnavailable", message, errorClass: .transient)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
