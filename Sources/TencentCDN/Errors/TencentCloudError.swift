import Foundation

/// Any failure of a Tencent Cloud API call: an API error envelope, a non-200 status, a transport
/// failure, a malformed response or a credential problem.
///
/// API errors keep Tencent's `Code` (`InternalError.CdnDbError`). Failures that never reached the
/// API use client-side codes: `ClientError.Timeout`, `ClientError.Network`,
/// `ClientError.MalformedResponse`, `ClientError.ResponseTooLarge`, `ClientError.DeadlineExceeded`,
/// `ClientError.Credentials`, `ClientError.InvalidEndpoint`, `ClientError.InvalidRequest`, and
/// `HTTPError.<status>` for a non-200 response. Messages never contain secrets.
public struct TencentCloudError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: String
    public var message: String
    public var requestId: String?
    public var errorClass: ErrorClass
    public var httpStatus: Int?
    /// For ``ErrorClass/quota``: when the daily quota resets (next 00:00 UTC+8).
    public var resetAt: Date?
    /// For `InvalidParameter.CdnUrlExceedLength`: the request's URL the API named, so the caller
    /// can fail that URL alone. `nil` when the message did not identify it.
    public var rejectedURL: String?

    public init(
        code: String,
        message: String,
        requestId: String? = nil,
        errorClass: ErrorClass? = nil,
        httpStatus: Int? = nil,
        resetAt: Date? = nil,
        rejectedURL: String? = nil
    ) {
        self.code = code
        self.message = message
        self.requestId = requestId
        self.errorClass = errorClass ?? ErrorClass.classify(code: code)
        self.httpStatus = httpStatus
        self.resetAt = resetAt
        self.rejectedURL = rejectedURL
    }

    /// Whether the API rejected a URL as too long (`InvalidParameter.CdnUrlExceedLength`).
    public var isURLTooLong: Bool { code == "InvalidParameter.CdnUrlExceedLength" }

    /// Codes that concern one host or one URL of a request, not the account or the credentials
    /// (SPEC §6): they fail only what they are about and never pause the other work.
    public static let scopedCodes: Set<String> = [
        "ResourceNotFound.CdnHostNotExists", "ResourceUnavailable.CdnHostIsNotOnline",
        "UnauthorizedOperation.CdnHostUnauthorized", "InvalidParameter.CdnUrlExceedLength",
        "InvalidParameter.CdnParamError", "InvalidParameter.CdnHostInvalidStatus",
        "InvalidParameter.CdnPurgeWildcardNotAllowed",
        // EdgeOne (SPEC §10): a bad target, a host not in the zone.
        "InvalidParameter.Target", "InvalidParameter.DomainNotFound",
    ]

    /// `InvalidParameter.*` codes that concern the whole request (EdgeOne's zone or type), not
    /// some of its targets: they fail the account's work (and pause) instead of bisecting.
    public static let requestCodes: Set<String> = ["InvalidParameter.ParameterError"]

    /// Whether this failure concerns one host or URL (``scopedCodes``, or any other
    /// `InvalidParameter.*` code: a parameter of the request, so some of its URLs) rather than
    /// the account.
    public var isScopedToTargets: Bool {
        !Self.requestCodes.contains(code) && (Self.scopedCodes.contains(code) || code.hasPrefix("InvalidParameter."))
    }

    /// The scoped codes that concern a whole host: a batch of one host fails as a whole.
    public static let hostCodes: Set<String> = [
        "ResourceNotFound.CdnHostNotExists", "ResourceUnavailable.CdnHostIsNotOnline",
        "UnauthorizedOperation.CdnHostUnauthorized", "InvalidParameter.CdnHostInvalidStatus",
        "InvalidParameter.CdnPurgeWildcardNotAllowed", "InvalidParameter.DomainNotFound",
    ]

    /// Whether this failure concerns a whole host (``hostCodes``) rather than one URL.
    public var concernsHost: Bool { Self.hostCodes.contains(code) }

    public var description: String {
        var s = "\(code): \(message) [class \(errorClass.rawValue)"
        if let requestId { s += ", RequestId \(requestId)" }
        if let httpStatus { s += ", HTTP \(httpStatus)" }
        if let resetAt { s += ", quota resets \(Self.iso8601(resetAt))" }
        if let rejectedURL { s += ", URL \(rejectedURL)" }
        return s + "]"
    }

    static func iso8601(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }
}

extension TencentCloudError {
    public static func client(_ kind: String, _ message: String, errorClass: ErrorClass? = nil) -> TencentCloudError {
        TencentCloudError(code: "ClientError.\(kind)", message: message, errorClass: errorClass)
    }
}
