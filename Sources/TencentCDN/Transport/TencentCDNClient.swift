import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// Tencent Cloud API 3.0 client for one service — CDN (`cdn`, 2018-06-06) or EdgeOne (`teo`,
/// 2022-09-01), ``TencentCloudService`` — TC3-signed JSON POSTs, one rate limit shared by every
/// action, retries with re-signing, and one error type (``TencentCloudError``).
///
/// It sends each request as given and does not split batches; ``ErrorClass/batchTooBig`` tells
/// the caller to. Every attempt is re-signed with a fresh timestamp and waits for the rate
/// limiter; nothing is attempted once the caller's deadline has passed.
public struct TencentCDNClient: Sendable {
    /// The most bytes read of a response body (10 MiB).
    public static let defaultMaxResponseBytes = 10 * 1024 * 1024
    static let contentType = "application/json"

    let endpoint: Endpoint
    private let credentialProvider: any CredentialProvider
    private let httpClient: HTTPClient
    private let logger: Logger
    private let limiter: RateLimiter
    /// The product's API: its TC3 service name and version.
    public let service: TencentCloudService
    private let signer: TC3Signer
    public let retryPolicy: RetryPolicy
    public let requestTimeout: Duration
    public let maxResponseBytes: Int
    private let now: @Sendable () -> Date
    /// Called with the instant the rate limiter granted each attempt (tests check the spacing).
    var attemptObserver: (@Sendable (_ action: String, ContinuousClock.Instant) -> Void)?
    /// Called after each HTTP attempt with the action and `"OK"` or the error code (metrics).
    public var outcomeObserver: (@Sendable (_ action: String, _ code: String) -> Void)?

    /// - Parameters:
    ///   - endpoint: `https://cdn.tencentcloudapi.com` or another https endpoint; `http://` only on loopback.
    ///   - requestsPerSecond: the limit shared by all actions (the API allows 20/s per action).
    ///   - httpClient: a client made with ``makeHTTPClient(connectTimeout:)`` (TLS verification on,
    ///     connect timeout, pooled connections), owned and shut down by the caller.
    ///   - requestTimeout: one attempt's limit, also bounded by the call's deadline.
    ///   - now: the wall clock that timestamps requests and quota resets, injectable for tests.
    /// - Throws: `ClientError.InvalidEndpoint` for a non-https, non-loopback endpoint, or
    ///   `ClientError.InvalidRequest` for a non-positive rate.
    public init(
        service: TencentCloudService = .cdn,
        endpoint: String,
        credentials: any CredentialProvider,
        requestsPerSecond: Double,
        httpClient: HTTPClient,
        logger: Logger,
        retryPolicy: RetryPolicy = .default,
        requestTimeout: Duration = .seconds(30),
        maxResponseBytes: Int = TencentCDNClient.defaultMaxResponseBytes,
        now: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        guard requestsPerSecond > 0, requestsPerSecond.isFinite else {
            throw TencentCloudError.client(
                "InvalidRequest",
                "requests_per_second must be positive, not \(requestsPerSecond)",
                errorClass: .permanent
            )
        }
        self.endpoint = try Endpoint(endpoint)
        self.service = service
        self.signer = TC3Signer(service: service.name)
        self.credentialProvider = credentials
        self.httpClient = httpClient
        self.logger = logger
        self.limiter = RateLimiter(requestsPerSecond: requestsPerSecond)
        self.retryPolicy = retryPolicy
        self.requestTimeout = requestTimeout
        self.maxResponseBytes = maxResponseBytes
        self.now = now
    }

    /// Makes NIO's shared event loop group (which ``makeHTTPClient(connectTimeout:idleConnectionTimeout:)``
    /// uses) one thread instead of one per core: the daemon sends a few requests a second at
    /// most, and every thread keeps a stack and malloc state resident (issue 23). Call before
    /// the first client is made (NIO stops the process if its group was already used); later
    /// calls change nothing.
    public static func useOneNetworkThread() { _ = oneNetworkThread }

    private static let oneNetworkThread: Void = { NIOSingletons.groupLoopCountSuggestion = 1 }()

    /// An `HTTPClient` configured for the API: certificate verification on (the default TLS
    /// configuration), pooled keep-alive connections, no redirects, the given connect timeout.
    public static func makeHTTPClient(
        connectTimeout: Duration = .seconds(5),
        idleConnectionTimeout: Duration = .seconds(60)
    ) -> HTTPClient {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = .init(connect: TimeAmount(connectTimeout))
        configuration.connectionPool = .init(idleTimeout: TimeAmount(idleConnectionTimeout))
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    // MARK: - Sending

    /// Sends `action` with `body` until it succeeds, fails for good, or the deadline passes.
    func perform<Request: Encodable, Response: Decodable>(
        _ action: TencentCDNAction,
        _ request: Request,
        as: Response.Type,
        urls: [String] = [],
        deadline: ContinuousClock.Instant
    ) async throws -> Response {
        try await perform(action: action.rawValue, request, as: Response.self, urls: urls, deadline: deadline)
    }

    /// Sends the action named `action` of this client's service with `body` until it succeeds,
    /// fails for good, or the deadline passes.
    func perform<Request: Encodable, Response: Decodable>(
        action: String,
        _ request: Request,
        as: Response.Type,
        urls: [String] = [],
        deadline: ContinuousClock.Instant
    ) async throws -> Response {
        let payload = try Self.encode(request)
        var attempt = 0
        var reSigns = 0
        var lastError: TencentCloudError?
        var rereadForRotation = false
        var logger = self.logger
        logger[metadataKey: "tencentcloud.action"] = "\(action)"
        while true {
            try Task.checkCancellation()
            attempt += 1
            guard let grantedAt = try await limiter.acquire(before: deadline) else {
                throw deadlineError(action, lastError)
            }
            attemptObserver?(action, grantedAt)
            var usedTemporaryCredentials = false
            var clippedByDeadline = false
            do {
                let credentials = try await credentialProvider.credentials()
                usedTemporaryCredentials = credentials.isTemporary
                let remaining = ContinuousClock.now.duration(to: deadline)
                guard remaining > .zero else { throw deadlineError(action, lastError) }
                let timeout = min(requestTimeout, remaining)
                clippedByDeadline = remaining < requestTimeout
                let body = try await send(action, payload: payload, credentials: credentials, timeout: timeout)
                let response = try ResponseEnvelope.decode(Response.self, from: body)
                outcomeObserver?(action, "OK")
                logger.debug("request succeeded", metadata: ["tencentcloud.attempt": "\(attempt)"])
                return response
            } catch var error as TencentCloudError {
                outcomeObserver?(action, error.code)
                if clippedByDeadline, error.code == "ClientError.Timeout", let lastError {
                    // The attempt was cut short by the caller's deadline: report what was retried.
                    throw deadlineError(action, lastError)
                }
                if error.isURLTooLong { error.rejectedURL = Self.rejectedURL(in: error.message, among: urls) }
                if error.errorClass == .quota { error.resetAt = QuotaClock.nextReset(after: now()) }
                if error.code == "AuthFailure.TokenFailure" && !usedTemporaryCredentials {
                    error.errorClass = .permanent
                }
                // A rotated key (SPEC §6): read every credential source again once before the
                // request is failed for an unknown or wrong key.
                if Self.rotationCodes.contains(error.code) && !rereadForRotation {
                    rereadForRotation = true
                    lastError = error
                    await credentialProvider.invalidate()
                    logger.notice(
                        "request failed with \(error.code): reading the credentials again once (a rotated key?)",
                        metadata: ["tencentcloud.error_code": "\(error.code)", "tencentcloud.attempt": "\(attempt)"])
                    continue
                }
                lastError = error
                let decision = retryPolicy.decide(
                    errorClass: error.errorClass,
                    attempt: attempt,
                    reSignsSoFar: reSigns,
                    now: ContinuousClock.now,
                    deadline: deadline,
                    jitter: Double.random(in: 0..<1)
                )
                var metadata: Logger.Metadata = [
                    "tencentcloud.error_code": "\(error.code)",
                    "tencentcloud.error_class": "\(error.errorClass.rawValue)",
                    "tencentcloud.attempt": "\(attempt)",
                ]
                if let requestId = error.requestId { metadata["tencentcloud.request_id"] = "\(requestId)" }
                switch decision {
                case .retry(let delay, let refresh):
                    if refresh {
                        reSigns += 1
                        await credentialProvider.invalidate()
                    }
                    metadata["tencentcloud.retry_in_ms"] = "\(Self.milliseconds(delay))"
                    logger.warning("request failed, retrying", metadata: metadata)
                    if delay > .zero { try await Task.sleep(for: delay) }
                case .stop(let reason):
                    metadata["tencentcloud.stop_reason"] = "\(reason)"
                    logger.notice("request failed: \(error.message)", metadata: metadata)
                    if reason == .deadline { error.message += " (deadline reached while retrying)" }
                    if reason == .attemptsExhausted { error.message += " (gave up after \(attempt) attempts)" }
                    if reason == .reSignFailedTwice {
                        error.errorClass = .permanent
                        error.message +=
                            " (still failing after refreshing credentials and re-signing;"
                            + " if SignatureExpire: check the host clock/NTP)"
                    }
                    throw error
                }
            }
        }
    }

    /// Loads the credentials now (a reload checks a new client with it before using it).
    /// - Throws: what the credential provider throws (no credentials, an unreadable file).
    @discardableResult
    public func loadCredentials() async throws -> Bool {
        _ = try await credentialProvider.credentials()
        return true
    }

    /// Codes after which the credentials are read again once before the request fails.
    public static let rotationCodes: Set<String> = [
        "AuthFailure.SecretIdNotFound", "AuthFailure.InvalidSecretId", "AuthFailure.SignatureFailure",
    ]

    private func deadlineError(_ action: String, _ last: TencentCloudError?) -> TencentCloudError {
        if var last {
            last.message += " (deadline reached while retrying)"
            return last
        }
        return .client(
            "DeadlineExceeded",
            "\(action) not attempted: the deadline passed",
            errorClass: .transient
        )
    }

    /// One signed attempt; returns the 200 body or throws a classified error.
    private func send(
        _ action: String,
        payload: [UInt8],
        credentials: Credentials,
        timeout: Duration
    ) async throws -> [UInt8] {
        let timestamp = Int64(now().timeIntervalSince1970.rounded(.down))
        let signature = signer.sign(
            TC3SigningInput(host: endpoint.hostHeader, contentType: Self.contentType, payload: payload),
            credentials: credentials,
            timestamp: timestamp
        )
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        for (name, value) in Self.headers(
            action: action,
            version: service.version,
            host: endpoint.hostHeader,
            timestamp: timestamp,
            authorization: signature.authorization,
            token: credentials.token
        ) {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: payload))
        let response: HTTPClientResponse
        var buffer: ByteBuffer
        do {
            response = try await httpClient.execute(request, timeout: TimeAmount(timeout), logger: nil)
            buffer = try await response.body.collect(upTo: maxResponseBytes)
        } catch is NIOTooManyBytesError {
            throw TencentCloudError.client(
                "ResponseTooLarge",
                "\(action) response exceeds \(maxResponseBytes) bytes",
                errorClass: .permanent
            )
        } catch let error as HTTPClientError
            where error == .deadlineExceeded || error == .readTimeout
            || error == .connectTimeout
        {
            throw TencentCloudError.client("Timeout", "\(action) timed out: \(error)")
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw TencentCloudError.client("Network", "\(action) transport failure: \(error)")
        }
        let body = buffer.readBytes(length: buffer.readableBytes) ?? []
        let status = Int(response.status.code)
        guard status == 200 else {
            // Keep the API's code and RequestId when a non-200 carries the envelope, but retry it.
            var error = TencentCloudError(
                code: "HTTPError.\(status)",
                message: "\(action) answered HTTP \(status) \(response.status.reasonPhrase)",
                errorClass: .transient,
                httpStatus: status
            )
            if let apiError = Self.apiError(in: body, status: status) {
                error.requestId = apiError.requestId
                error.message += ": \(apiError.code) \(apiError.message)"
            }
            throw error
        }
        return body
    }

    private struct EmptyResponse: Decodable {}

    private static func apiError(in body: [UInt8], status: Int) -> TencentCloudError? {
        do {
            _ = try ResponseEnvelope.decode(EmptyResponse.self, from: body, httpStatus: status)
            return nil
        } catch let error as TencentCloudError where !error.code.hasPrefix("ClientError.") {
            return error
        } catch {
            return nil
        }
    }

    static func headers(
        action: TencentCDNAction,
        host: String,
        timestamp: Int64,
        authorization: String,
        token: Secret?
    ) -> [(String, String)] {
        headers(
            action: action.rawValue, version: TencentCDNAction.version, host: host, timestamp: timestamp, authorization: authorization,
            token: token)
    }

    static func headers(
        action: String,
        version: String,
        host: String,
        timestamp: Int64,
        authorization: String,
        token: Secret?
    ) -> [(String, String)] {
        var headers: [(String, String)] = [
            ("Host", host),
            ("Content-Type", contentType),
            ("Authorization", authorization),
            ("X-TC-Action", action),
            ("X-TC-Version", version),
            ("X-TC-Timestamp", String(timestamp)),
            ("X-TC-Language", "en-US"),
            ("X-TC-RequestClient", "purgewatch"),
        ]
        if let token { headers.append(("X-TC-Token", token.revealed())) }
        return headers
    }

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw TencentCloudError.client("InvalidRequest", "cannot encode request: \(error)", errorClass: .permanent)
        }
    }

    /// The request URL that an error message names (longest match first), if any.
    static func rejectedURL(in message: String, among urls: [String]) -> String? {
        urls.filter { !$0.isEmpty && message.contains($0) }.max { $0.count < $1.count }
    }

    static func milliseconds(_ d: Duration) -> Int64 {
        let (s, a) = d.components
        return s * 1000 + a / 1_000_000_000_000_000
    }
}
