/// What a caller should do about a ``TencentCloudError``.
public enum ErrorClass: String, Sendable, Hashable, CaseIterable {
    /// Retry with exponential backoff (transport errors, timeouts, non-200, rate limits, internal errors).
    case transient
    /// Re-sign with a fresh timestamp, refreshing temporary credentials, and retry once
    /// (`AuthFailure.SignatureExpire`, `AuthFailure.TokenFailure` with role credentials).
    case reSign
    /// The daily quota is spent: wait for the reset at 00:00 UTC+8 (``TencentCloudError/resetAt``).
    case quota
    /// The request held more items than the per-request `Batch`: split and resubmit.
    case batchTooBig
    /// Needs a human: credentials, permissions, unknown domains, invalid parameters.
    case permanent
}

extension ErrorClass {
    /// The class of an API error code.
    ///
    /// Every code of the reference table (research notes §d, and the PurgeUrlsCache /
    /// PurgePathCache error lists) is listed explicitly; any other code falls back to its
    /// prefix (`InternalError.*` transient, `LimitExceeded.*` quota unless it names a batch
    /// limit, `AuthFailure.*` permanent, …), and an unknown prefix is permanent.
    public static func classify(code: String) -> ErrorClass {
        if let known = table[code] { return known }
        let prefix = code.split(separator: ".", maxSplits: 1).first.map(String.init) ?? code
        switch prefix {
        case "InternalError", "RequestLimitExceeded", "ServiceUnavailable", "ResourceInsufficient",
            "FailedOperation", "ClientError", "HTTPError":
            return .transient
        case "LimitExceeded":
            return code.contains("BatchLimit") ? .batchTooBig : .quota
        default:
            return .permanent
        }
    }

    /// Explicit classification of every documented code.
    static let table: [String: ErrorClass] = {
        var t: [String: ErrorClass] = [:]
        for code in [
            "RequestLimitExceeded", "RequestLimitExceeded.UinLimitExceeded",
            "RequestLimitExceeded.GlobalRegionUinLimitExceeded", "RequestLimitExceeded.IPLimitExceeded",
            "UnauthorizedOperation.OperationTooOften",
            "InternalError", "InternalError.CamSystemError", "InternalError.CdnQueryParamError",
            "InternalError.CdnQuerySystemError", "InternalError.CdnSystemError", "InternalError.CdnDbError",
            "InternalError.CdnConfigError", "InternalError.Error", "InternalError.ProxyServer",
            "InternalError.RouteError", "InternalError.UnknownError",
            "InvalidParameter.CdnInterfaceError",
            "ServiceUnavailable", "ResourceInsufficient", "FailedOperation",
            // EdgeOne (SPEC §10)
            "LimitExceeded.RateLimitExceeded", "InternalError.BackendError", "InternalError.DomainConfig",
            "InternalError.QuotaSystem",
        ] {
            t[code] = .transient
        }
        for code in ["AuthFailure.SignatureExpire", "AuthFailure.TokenFailure"] {
            t[code] = .reSign
        }
        for code in [
            "LimitExceeded", "LimitExceeded.CdnPurgeUrlExceedDayLimit", "LimitExceeded.CdnPurgeExceedDayLimit",
            "LimitExceeded.CdnPurgePathExceedDayLimit", "LimitExceeded.CdnPushExceedDayLimit",
            "LimitExceeded.DailyQuota",
        ] {
            t[code] = .quota
        }
        for code in [
            "LimitExceeded.CdnPurgeUrlExceedBatchLimit", "LimitExceeded.CdnPurgeExceedBatchLimit",
            "LimitExceeded.CdnPurgePathExceedBatchLimit", "LimitExceeded.BatchQuota",
        ] {
            t[code] = .batchTooBig
        }
        for code in [
            "AuthFailure.InvalidAuthorization", "AuthFailure.SignatureFailure", "AuthFailure.SecretIdNotFound",
            "AuthFailure.InvalidSecretId", "AuthFailure.MFAFailure", "AuthFailure.UnauthorizedOperation",
            "UnauthorizedOperation", "UnauthorizedOperation.CdnCamUnauthorized",
            "UnauthorizedOperation.CdnHostUnauthorized", "UnauthorizedOperation.CdnUserAuthFail",
            "UnauthorizedOperation.CdnUserAuthWait", "UnauthorizedOperation.CdnUserIsSuspended",
            "UnauthorizedOperation.CdnUserIsIsolated", "UnauthorizedOperation.EcdnMigratedCdn",
            "UnauthorizedOperation.OpNoAuth",
            "ResourceNotFound.CdnHostNotExists", "ResourceNotFound.CdnUserNotExists",
            "ResourceUnavailable.CdnHostIsNotOnline",
            "InvalidParameter", "InvalidParameterValue", "InvalidParameter.CdnHostInvalidStatus",
            "InvalidParameter.CdnParamError", "InvalidParameter.CdnPurgeWildcardNotAllowed",
            "InvalidParameter.CdnStatInvalidDate", "InvalidParameter.CdnUrlExceedLength",
            "MissingParameter", "UnknownParameter", "InvalidAction", "NoSuchVersion", "ActionOffline",
            "UnsupportedOperation", "UnsupportedProtocol", "UnsupportedRegion", "RequestSizeLimitExceeded",
            "IpInBlacklist", "IpNotInWhitelist", "ResourceNotFound", "ResourceUnavailable", "ResourceInUse",
            // EdgeOne (SPEC §10)
            "InvalidParameter.DomainNotFound", "InvalidParameter.Target", "InvalidParameter.ParameterError",
            "InvalidParameter.UploadUrl", "InvalidParameter.TaskNotGenerated", "LimitExceeded.PackNotAllow", "UnauthorizedOperation.CamUnauthorized",
            "UnauthorizedOperation.NoPermission", "UnauthorizedOperation.Unknown", "OperationDenied",
        ] {
            t[code] = .permanent
        }
        return t
    }()
}
