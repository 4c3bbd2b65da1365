import Foundation

/// A Tencent Cloud API key pair, with the session token of temporary (STS / CVM role) credentials.
public struct Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The SecretId (`AKID…`). Not a secret, but shown shortened in descriptions.
    public var secretId: String
    public var secretKey: Secret
    /// Sent as `X-TC-Token`; present for temporary credentials only.
    public var token: Secret?
    /// When temporary credentials stop working; `nil` for long-lived keys.
    public var expiresAt: Date?

    public init(secretId: String, secretKey: Secret, token: Secret? = nil, expiresAt: Date? = nil) {
        self.secretId = secretId
        self.secretKey = secretKey
        self.token = token
        self.expiresAt = expiresAt
    }

    /// Whether these are temporary credentials (they carry a token).
    public var isTemporary: Bool { token != nil }

    /// The SecretId with its middle elided, e.g. `AKID…1234`.
    public var maskedSecretId: String {
        guard secretId.count > 8 else { return "…" }
        return String(secretId.prefix(4)) + "…" + String(secretId.suffix(4))
    }

    public var description: String {
        var s = "Credentials(secretId: \(maskedSecretId), secretKey: <redacted>"
        if token != nil { s += ", token: <redacted>" }
        if let expiresAt { s += ", expiresAt: \(Int64(expiresAt.timeIntervalSince1970))" }
        return s + ")"
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["secretId": maskedSecretId], displayStyle: .struct)
    }
}
