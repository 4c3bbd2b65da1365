import Foundation
import Testing

@testable import TencentCDN

/// One entry of `Resources/tc3-vectors.json`: the reference vectors produced by Tencent Cloud's
/// official SDK, kept in the test target so that a clone with nothing beside it passes (SPEC §8).
struct TC3Vector: Decodable, Sendable, CustomTestStringConvertible {
    struct Expected: Decodable, Sendable {
        var utcDate: String
        var credentialScope: String
        var hashedPayload: String
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var authorization: String

        enum CodingKeys: String, CodingKey {
            case signature, authorization
            case utcDate = "utc_date"
            case credentialScope = "credential_scope"
            case hashedPayload = "hashed_payload"
            case canonicalRequest = "canonical_request"
            case stringToSign = "string_to_sign"
        }
    }
    var name: String
    var method: String
    var host: String
    var path: String
    var query: String
    var contentType: String
    var payload: String
    var timestamp: Int64
    var secretId: String
    var secretKey: String
    var token: String?
    var service: String
    var action: String
    var version: String
    var requestHeaders: [String: String]
    var expected: Expected

    var testDescription: String { name }

    enum CodingKeys: String, CodingKey {
        case name, method, host, path, query, payload, timestamp, token, service, action, version, expected
        case contentType = "content_type"
        case secretId = "secret_id"
        case secretKey = "secret_key"
        case requestHeaders = "request_headers"
    }

    /// The vectors, or why they could not be loaded (a failing test says so; nothing crashes).
    static let loaded: Result<[TC3Vector], LoadError> = {
        struct File: Decodable { var vectors: [TC3Vector] }
        guard let url = Bundle.module.url(forResource: "tc3-vectors", withExtension: "json") else {
            return .failure(LoadError(message: "tc3-vectors.json is missing from the test target's resources"))
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            return .failure(LoadError(message: "cannot read \(url.path)"))
        }
        do {
            return .success(try JSONDecoder().decode(File.self, from: data).vectors)
        } catch {
            return .failure(LoadError(message: "\(url.path) does not decode: \(error)"))
        }
    }()

    struct LoadError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    static var all: [TC3Vector] { (try? loaded.get()) ?? [] }
}

@Suite("TC3 signing")
struct SigningVectorTests {
    @Test("the reference file holds all 18 vectors")
    func vectorsLoad() throws {
        _ = try TC3Vector.loaded.get()
        #expect(TC3Vector.all.count == 18)
        #expect(TC3Vector.all.filter { $0.method == "POST" }.count == 16)
    }

    @Test("reproduces canonical request, string to sign, signature and Authorization", arguments: TC3Vector.all)
    func reproducesVector(_ v: TC3Vector) {
        let input = TC3SigningInput(
            method: v.method,
            host: v.host,
            path: v.path,
            query: v.query,
            contentType: v.contentType,
            payload: Array(v.payload.utf8),
            unsignedPayload: v.requestHeaders["X-TC-Content-SHA256"] == "UNSIGNED-PAYLOAD"
        )
        let credentials = Credentials(
            secretId: v.secretId,
            secretKey: Secret(v.secretKey),
            token: v.token.map(Secret.init)
        )
        let result = TC3Signer(service: v.service).sign(input, credentials: credentials, timestamp: v.timestamp)
        #expect(result.date == v.expected.utcDate)
        #expect(result.credentialScope == v.expected.credentialScope)
        #expect(result.hashedPayload == v.expected.hashedPayload)
        #expect(result.canonicalRequest == v.expected.canonicalRequest)
        #expect(result.stringToSign == v.expected.stringToSign)
        #expect(result.signature == v.expected.signature)
        #expect(result.authorization == v.expected.authorization)
    }

    @Test("one signer reproduces every vector in turn: its key cache follows key, date and service")
    func sharedSignerCache() {
        var signers: [String: TC3Signer] = [:]
        for v in TC3Vector.all + TC3Vector.all.reversed() {
            let signer = signers[v.service, default: TC3Signer(service: v.service)]
            signers[v.service] = signer
            let input = TC3SigningInput(
                method: v.method,
                host: v.host,
                path: v.path,
                query: v.query,
                contentType: v.contentType,
                payload: Array(v.payload.utf8),
                unsignedPayload: v.requestHeaders["X-TC-Content-SHA256"] == "UNSIGNED-PAYLOAD"
            )
            let result = signer.sign(
                input,
                secretId: v.secretId,
                secretKey: Secret(v.secretKey),
                timestamp: v.timestamp
            )
            #expect(result.signature == v.expected.signature, "\(v.name)")
        }
    }

    @Test("the client sends the vector's headers, with X-TC-Token only for temporary credentials")
    func clientHeaders() throws {
        for v in TC3Vector.all where v.method == "POST" && v.service == "cdn" {
            guard let action = TencentCDNAction(rawValue: v.action) else { continue }
            let headers = Dictionary(
                TencentCDNClient.headers(
                    action: action,
                    host: v.host,
                    timestamp: v.timestamp,
                    authorization: v.expected.authorization,
                    token: v.token.map(Secret.init)
                ),
                uniquingKeysWith: { a, _ in a }
            )
            for name in [
                "Host", "Content-Type", "X-TC-Action", "X-TC-Version", "X-TC-Timestamp", "Authorization", "X-TC-Token",
            ] {
                #expect(headers[name] == v.requestHeaders[name], "\(v.name): \(name)")
            }
            #expect(headers["X-TC-Language"] == "en-US")
        }
    }

    @Test(
        "the scope date is the UTC date of the timestamp",
        arguments: [
            (Int64(1_551_113_065), "2019-02-25"), (1_704_067_199, "2023-12-31"), (1_704_067_200, "2024-01-01"),
            (1_704_038_400, "2023-12-31"), (0, "1970-01-01"), (951_782_400, "2000-02-29"),
            (4_102_444_800, "2100-01-01"),
        ]
    )
    func utcDate(_ timestamp: Int64, _ expected: String) {
        #expect(UTCDate.string(fromUnixSeconds: timestamp) == expected)
    }

    @Test("a non-default port is part of the signed host; a default one is not")
    func endpointHost() throws {
        #expect(try Endpoint("http://127.0.0.1:8080").hostHeader == "127.0.0.1:8080")
        #expect(try Endpoint("https://cdn.tencentcloudapi.com").hostHeader == "cdn.tencentcloudapi.com")
        #expect(try Endpoint("https://cdn.tencentcloudapi.com:443/").hostHeader == "cdn.tencentcloudapi.com")
        #expect(try Endpoint("https://cdn.example.test:8443").hostHeader == "cdn.example.test:8443")
        #expect(try Endpoint("http://localhost:9").url == "http://localhost:9/")
        #expect(try Endpoint("http://[::1]:9").hostHeader == "[::1]:9")
        #expect(try Endpoint("HTTPS://CDN.TencentCloudAPI.com").url == "https://cdn.tencentcloudapi.com/")
        #expect(try Endpoint("https://cdn.tencentcloudapi.com:").hostHeader == "cdn.tencentcloudapi.com", "an empty port is none")
        #expect(try Endpoint("https://[2001:db8::1]:8443").hostHeader == "[2001:db8::1]:8443")
        #expect(try Endpoint("http://127.0.0.1:80/").url == "http://127.0.0.1/")
    }

    @Test(
        "plain http is refused except on loopback",
        arguments: [
            "http://cdn.tencentcloudapi.com", "http://10.0.0.1:80", "ftp://127.0.0.1", "cdn.tencentcloudapi.com",
            "http://128.0.0.1",
            // Only scheme://host[:port], parsed without Foundation's URL (issue 23): what
            // URLComponents refused, or the old check did, is refused still.
            "https://user@cdn.tencentcloudapi.com", "https://user:pw@cdn.tencentcloudapi.com", "https://cdn.tencentcloudapi.com/v3",
            "https://cdn.tencentcloudapi.com?x=1", "https://cdn.tencentcloudapi.com#f", "https://", "https://:443",
            "https://cdn.tencentcloudapi.com:99999", "https://cdn.tencentcloudapi.com:+80", "https://cdn.tencentcloudapi.com:x",
            "https://cdn .tencentcloudapi.com", "https://cdn.tencentcloudapi.com\n", "https://bücher.example", "https://[::1",
            "https://[::1]x", "https:cdn.tencentcloudapi.com", "", "https://2001:db8::1", "https://a:b:443", "https://::1",
            "https://[cdn.tencentcloudapi.com]", "http://[127.0.0.1]", "https://[]", "https://cdn\\x.com", "https://cdn%41.com",
            "https://cdn\u{0}.com", "https://cdn_x.com", "://", ":",
        ]
    )
    func insecureEndpoints(_ endpoint: String) {
        let error = #expect(throws: TencentCloudError.self) { try Endpoint(endpoint) }
        #expect(error?.code == "ClientError.InvalidEndpoint")
    }
}
