import Crypto
import Foundation

/// What TC3 signs: the request as it goes on the wire.
///
/// The signer hashes `payload` exactly as given and puts `contentType` and `host` into the
/// canonical headers verbatim (lower-cased and trimmed), so the caller must send the very same
/// bytes and header values.
public struct TC3SigningInput: Sendable {
    /// `POST` (what the client sends) or `GET`.
    public var method: String
    /// The `Host` header value, with `:port` when the port is not the scheme's default.
    public var host: String
    /// The canonical URI; always `/` for API 3.0.
    public var path: String
    /// The query string exactly as sent (`""` for POST).
    public var query: String
    /// The `Content-Type` header value exactly as sent.
    public var contentType: String
    /// The exact body bytes.
    public var payload: [UInt8]
    /// Hash the literal `UNSIGNED-PAYLOAD` instead of the body (sent with `X-TC-Content-SHA256`).
    public var unsignedPayload: Bool

    public init(
        method: String = "POST",
        host: String,
        path: String = "/",
        query: String = "",
        contentType: String = "application/json",
        payload: [UInt8],
        unsignedPayload: Bool = false
    ) {
        self.method = method
        self.host = host
        self.path = path
        self.query = query
        self.contentType = contentType
        self.payload = payload
        self.unsignedPayload = unsignedPayload
    }
}

/// Every intermediate value of one TC3 signature; `authorization` is the header to send.
public struct TC3Signature: Sendable, Equatable {
    public var date: String
    public var credentialScope: String
    public var hashedPayload: String
    public var canonicalRequest: String
    public var stringToSign: String
    public var signature: String
    public var authorization: String
}

/// TC3-HMAC-SHA256, Tencent Cloud API 3.0's request signature.
///
/// Implements the "Signature v3" page (tencentcloud.com/document/product/228/31723):
/// canonical request → string to sign → `TC3`+key HMAC chain over date, service and
/// `tc3_request` → hex HMAC of the string to sign. Only `content-type` and `host` are signed,
/// as the official SDKs do. The scope date is the UTC date of the timestamp.
public struct TC3Signer: Sendable, CustomReflectable {
    public static let algorithm = "TC3-HMAC-SHA256"
    public static let signedHeaders = "content-type;host"
    static let unsignedPayloadMarker = "UNSIGNED-PAYLOAD"
    static let unsignedPayloadHash = Hex.encode(SHA256.hash(data: Data(unsignedPayloadMarker.utf8)))

    /// The credential scope's service: always `cdn` for this client, whatever the endpoint host.
    public var service: String
    private let keyCache = SigningKeyCache()

    public init(service: String = "cdn") {
        self.service = service
    }

    public var customMirror: Mirror { Mirror(self, children: ["service": service], displayStyle: .struct) }

    /// Signs `input` at `timestamp` (Unix seconds, the value sent as `X-TC-Timestamp`).
    public func sign(_ input: TC3SigningInput, credentials: Credentials, timestamp: Int64) -> TC3Signature {
        sign(input, secretId: credentials.secretId, secretKey: credentials.secretKey, timestamp: timestamp)
    }

    /// Signs `input` at `timestamp` with an explicit key pair.
    public func sign(_ input: TC3SigningInput, secretId: String, secretKey: Secret, timestamp: Int64) -> TC3Signature {
        let date = keyCache.date(fromUnixSeconds: timestamp)
        let scope = date + "/" + service + "/tc3_request"
        let hashedPayload =
            input.unsignedPayload
            ? Self.unsignedPayloadHash
            : input.payload.withUnsafeBytes { Hex.encode(SHA256.hash(data: $0)) }
        var canonicalRequest = ""
        canonicalRequest.reserveCapacity(160 + input.query.utf8.count + input.host.utf8.count)
        canonicalRequest += Self.canonicalMethod(input.method)
        canonicalRequest += "\n"
        canonicalRequest += input.path
        canonicalRequest += "\n"
        canonicalRequest += input.query
        canonicalRequest += "\ncontent-type:"
        canonicalRequest += Self.canonicalValue(input.contentType)
        canonicalRequest += "\nhost:"
        canonicalRequest += Self.canonicalValue(input.host)
        canonicalRequest += "\n\n"
        canonicalRequest += Self.signedHeaders
        canonicalRequest += "\n"
        canonicalRequest += hashedPayload
        var stringToSign = Self.algorithm + "\n" + String(timestamp) + "\n" + scope + "\n"
        stringToSign += canonicalRequest.withUTF8 { Hex.encode(SHA256.hash(data: UnsafeRawBufferPointer($0))) }
        let service = self.service
        let signingKey = keyCache.key(secretKey: secretKey, date: date, service: service) {
            Self.signingKey(secretKey: secretKey, date: date, service: service)
        }
        let signature = stringToSign.withUTF8 {
            Hex.encode(HMAC<SHA256>.authenticationCode(for: UnsafeRawBufferPointer($0), using: signingKey))
        }
        let authorization =
            "\(Self.algorithm) Credential=\(secretId)/\(scope), SignedHeaders=\(Self.signedHeaders), Signature=\(signature)"
        return TC3Signature(
            date: date,
            credentialScope: scope,
            hashedPayload: hashedPayload,
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            signature: signature,
            authorization: authorization
        )
    }

    /// kSigning = HMAC(HMAC(HMAC("TC3"+key, date), service), "tc3_request").
    static func signingKey(secretKey: Secret, date: String, service: String) -> SymmetricKey {
        let kSecret = SymmetricKey(data: Array(("TC3" + secretKey.revealed()).utf8))
        let kDate = HMAC<SHA256>.authenticationCode(for: Array(date.utf8), using: kSecret)
        let kService = HMAC<SHA256>.authenticationCode(for: Array(service.utf8), using: SymmetricKey(data: kDate))
        let kSigning = HMAC<SHA256>.authenticationCode(
            for: Array("tc3_request".utf8),
            using: SymmetricKey(data: kService)
        )
        return SymmetricKey(data: kSigning)
    }

    /// Lower-cased and trimmed; returned as is (no allocation) when it already is.
    private static func canonicalValue(_ value: String) -> String {
        let utf8 = value.utf8
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        if let first = utf8.first, let last = utf8.last, !isSpace(first), !isSpace(last),
            !utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A })
        {
            return value
        }
        return value.trimmingASCIIWhitespace().lowercased()
    }

    private static func canonicalMethod(_ method: String) -> String {
        method == "POST" || method == "GET" ? method : method.uppercased()
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\n" || first == "\r" {
            scalars.removeFirst()
        }
        while let last = scalars.last, last == " " || last == "\t" || last == "\n" || last == "\r" {
            scalars.removeLast()
        }
        return String(scalars)
    }
}
