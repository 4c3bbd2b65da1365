import Crypto
import Foundation

/// The emulator's own TC3-HMAC-SHA256 check, written apart from the client's signer: it rebuilds
/// the canonical request from what arrived on the socket (method, URI, the headers named in
/// `SignedHeaders`, the body bytes) and compares signatures.
struct TC3Verifier: Sendable {
    struct Key: Sendable {
        var secretKey: String
        /// Temporary credentials must send this `X-TC-Token`.
        var token: String?
    }

    enum Outcome: Equatable {
        case valid(secretId: String)
        case invalid(code: String, message: String)
    }

    var keys: [String: Key]
    var window: TimeInterval = 300

    /// Checks `request` against a credential scope for `expectedService` (`cdn` or `teo`): a signature
    /// scoped to another service fails with `AuthFailure.SignatureFailure`.
    func verify(_ request: ReceivedRequest, service expectedService: String, now: Date) -> Outcome {
        guard let authorization = request.header("Authorization") else {
            return .invalid(code: "AuthFailure.InvalidAuthorization", message: "Authorization header is missing.")
        }
        guard let parsed = Self.parse(authorization) else {
            return .invalid(code: "AuthFailure.InvalidAuthorization", message: "Authorization header is malformed.")
        }
        let scopeParts = parsed.credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scopeParts.count == 4, scopeParts[3] == "tc3_request" else {
            return .invalid(code: "AuthFailure.InvalidAuthorization", message: "Credential scope is malformed.")
        }
        let (secretId, date, service) = (scopeParts[0], scopeParts[1], scopeParts[2])
        guard let timestampText = request.header("X-TC-Timestamp"), let timestamp = Int(timestampText) else {
            return .invalid(code: "MissingParameter", message: "X-TC-Timestamp is missing.")
        }
        if abs(now.timeIntervalSince1970 - Double(timestamp)) > window {
            return .invalid(
                code: "AuthFailure.SignatureExpire",
                message: "Signature expired: the timestamp is more than 5 minutes off server time."
            )
        }
        guard let key = keys[secretId] else {
            return .invalid(code: "AuthFailure.SecretIdNotFound", message: "The SecretId is not found.")
        }
        let signed = parsed.signedHeaders.split(separator: ";").map { String($0) }
        guard signed.contains("content-type"), signed.contains("host"), signed == signed.sorted() else {
            return .invalid(
                code: "AuthFailure.InvalidAuthorization",
                message: "SignedHeaders must include content-type and host, sorted."
            )
        }
        guard service == expectedService, date == Self.utcDay(timestamp) else {
            return .invalid(
                code: "AuthFailure.SignatureFailure",
                message: "The credential scope does not match the request."
            )
        }
        var canonicalHeaders = ""
        for name in signed {
            guard let value = request.header(name) else {
                return .invalid(code: "AuthFailure.SignatureFailure", message: "Signed header \(name) was not sent.")
            }
            canonicalHeaders += name + ":" + value.trimmingCharacters(in: .whitespaces).lowercased() + "\n"
        }
        let pathAndQuery = request.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = pathAndQuery.first.map(String.init) ?? "/"
        let query = pathAndQuery.count > 1 ? String(pathAndQuery[1]) : ""
        let payloadHash: String
        if request.header("X-TC-Content-SHA256") == "UNSIGNED-PAYLOAD" {
            payloadHash = Self.sha256Hex(Data("UNSIGNED-PAYLOAD".utf8))
        } else {
            payloadHash = Self.sha256Hex(Data(request.body))
        }
        let canonicalRequest = [
            request.method, path, query, canonicalHeaders, parsed.signedHeaders, payloadHash,
        ].joined(separator: "\n")
        let stringToSign = [
            "TC3-HMAC-SHA256", timestampText, "\(date)/\(service)/tc3_request",
            Self.sha256Hex(Data(canonicalRequest.utf8)),
        ].joined(separator: "\n")
        var k = SymmetricKey(data: Data(("TC3" + key.secretKey).utf8))
        for step in [date, service, "tc3_request"] {
            k = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(step.utf8), using: k)))
        }
        let expected = HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: k)
            .map { String(format: "%02x", $0) }.joined()
        guard expected == parsed.signature else {
            return .invalid(
                code: "AuthFailure.SignatureFailure",
                message: "The provided credentials could not be validated. Please check your signature is correct."
            )
        }
        if let token = key.token, request.header("X-TC-Token") != token {
            return .invalid(code: "AuthFailure.TokenFailure", message: "The token is invalid or expired.")
        }
        return .valid(secretId: secretId)
    }

    private struct ParsedAuthorization {
        var credential: String
        var signedHeaders: String
        var signature: String
    }

    private static func parse(_ header: String) -> ParsedAuthorization? {
        let prefix = "TC3-HMAC-SHA256 "
        guard header.hasPrefix(prefix) else { return nil }
        var fields: [String: String] = [:]
        for part in header.dropFirst(prefix.count).components(separatedBy: ", ") {
            guard let eq = part.firstIndex(of: "=") else { return nil }
            fields[String(part[..<eq])] = String(part[part.index(after: eq)...])
        }
        guard let c = fields["Credential"], let s = fields["SignedHeaders"], let sig = fields["Signature"] else {
            return nil
        }
        return ParsedAuthorization(credential: c, signedHeaders: s, signature: sig)
    }

    static func utcDay(_ timestamp: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 0)
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(timestamp)))
    }

    static func sha256Hex(_ data: Data) -> String {
        SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
}
