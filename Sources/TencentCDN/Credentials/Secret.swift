/// A secret string (SecretKey, session token) whose every printed form is `<redacted>`.
///
/// `description`, `debugDescription`, string interpolation, `dump` and `Mirror` all show
/// `<redacted>`. The value is readable only inside this module (`revealed()`), where the signer
/// derives its key and the transport sets `X-TC-Token`.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    public init(_ value: String) {
        self.value = value
    }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }

    /// Whether the secret is the empty string (a missing value, for validation).
    public var isEmpty: Bool { value.isEmpty }

    /// The secret itself. Only the signer and the transport call this.
    func revealed() -> String { value }
}
