/// A failure the emulator injects instead of (or around) a normal answer.
public enum Fault: Sendable, Hashable, CustomStringConvertible {
    /// HTTP 200 with `{"Error":{"Code":"InternalError"}}`; the request is not processed.
    case internalError
    /// HTTP 200 with any API error code; the request is not processed.
    case apiError(code: String, message: String)
    /// A bare HTTP status (500, 502, …) with a non-JSON body; the request is not processed.
    case http(Int)
    /// The request **is processed** (its URLs accepted), but the answer waits this many seconds,
    /// past the client's timeout: a retry then delivers the URLs twice.
    case slow(Double)
    /// The connection is closed without an answer; the request is not processed.
    case drop
    /// HTTP 200 with an `AuthFailure.*` code, whatever the signature; not processed.
    case authFailure(String)
    /// HTTP 200, `Content-Type: application/json`, and a body that is not JSON; not processed.
    case malformedBody

    public var description: String {
        switch self {
        case .internalError: return "internalError"
        case .apiError(let code, _): return "apiError(\(code))"
        case .http(let status): return "http(\(status))"
        case .slow(let seconds): return "slow(\(seconds)s)"
        case .drop: return "drop"
        case .authFailure(let code): return "authFailure(\(code))"
        case .malformedBody: return "malformedBody"
        }
    }

    /// Whether the request still reaches the emulated CDN.
    public var processesRequest: Bool {
        if case .slow = self { return true }
        return false
    }
}
