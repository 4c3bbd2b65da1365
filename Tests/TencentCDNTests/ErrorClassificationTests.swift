import Foundation
import Testing

@testable import TencentCDN

@Suite("Error classes")
struct ErrorClassificationTests {
    static let transient = [
        "RequestLimitExceeded", "RequestLimitExceeded.UinLimitExceeded",
        "RequestLimitExceeded.GlobalRegionUinLimitExceeded", "RequestLimitExceeded.IPLimitExceeded",
        "UnauthorizedOperation.OperationTooOften", "InternalError", "InternalError.CamSystemError",
        "InternalError.CdnQueryParamError", "InternalError.CdnQuerySystemError", "InternalError.CdnSystemError",
        "InternalError.CdnDbError", "InternalError.CdnConfigError", "InternalError.Error", "InternalError.ProxyServer",
        "InternalError.RouteError", "InternalError.UnknownError", "InvalidParameter.CdnInterfaceError",
        "ServiceUnavailable", "ResourceInsufficient", "FailedOperation",
    ]
    static let reSign = ["AuthFailure.SignatureExpire", "AuthFailure.TokenFailure"]
    static let quota = [
        "LimitExceeded", "LimitExceeded.CdnPurgeUrlExceedDayLimit", "LimitExceeded.CdnPurgeExceedDayLimit",
        "LimitExceeded.CdnPurgePathExceedDayLimit", "LimitExceeded.CdnPushExceedDayLimit",
    ]
    static let batchTooBig = [
        "LimitExceeded.CdnPurgeUrlExceedBatchLimit", "LimitExceeded.CdnPurgeExceedBatchLimit",
        "LimitExceeded.CdnPurgePathExceedBatchLimit",
    ]
    static let permanent = [
        "AuthFailure.InvalidAuthorization", "AuthFailure.SignatureFailure", "AuthFailure.SecretIdNotFound",
        "AuthFailure.InvalidSecretId", "AuthFailure.MFAFailure", "AuthFailure.UnauthorizedOperation",
        "UnauthorizedOperation", "UnauthorizedOperation.CdnCamUnauthorized",
        "UnauthorizedOperation.CdnHostUnauthorized",
        "UnauthorizedOperation.CdnUserAuthFail", "UnauthorizedOperation.CdnUserAuthWait",
        "UnauthorizedOperation.CdnUserIsSuspended", "UnauthorizedOperation.CdnUserIsIsolated",
        "UnauthorizedOperation.EcdnMigratedCdn", "UnauthorizedOperation.OpNoAuth",
        "ResourceNotFound.CdnHostNotExists", "ResourceNotFound.CdnUserNotExists",
        "ResourceUnavailable.CdnHostIsNotOnline",
        "InvalidParameter.CdnHostInvalidStatus", "InvalidParameter.CdnParamError",
        "InvalidParameter.CdnPurgeWildcardNotAllowed", "InvalidParameter.CdnStatInvalidDate",
        "InvalidParameter.CdnUrlExceedLength", "InvalidParameter", "InvalidParameterValue", "MissingParameter",
        "UnknownParameter", "InvalidAction", "NoSuchVersion", "ActionOffline", "UnsupportedOperation",
        "UnsupportedProtocol", "UnsupportedRegion", "RequestSizeLimitExceeded", "IpInBlacklist", "IpNotInWhitelist",
    ]

    @Test(
        "every code of the reference table has its class",
        arguments: [
            (ErrorClass.transient, transient), (.reSign, reSign), (.quota, quota), (.batchTooBig, batchTooBig),
            (.permanent, permanent),
        ]
    )
    func referenceTable(_ expected: ErrorClass, _ codes: [String]) {
        for code in codes {
            #expect(ErrorClass.classify(code: code) == expected, "\(code)")
            #expect(ErrorClass.table[code] == expected, "\(code) is listed explicitly")
        }
    }

    @Test(
        "unknown codes default by prefix",
        arguments: [
            ("InternalError.SomethingNew", ErrorClass.transient), ("RequestLimitExceeded.NewLimit", .transient),
            ("FailedOperation.Whatever", .transient), ("ServiceUnavailable.Later", .transient),
            ("LimitExceeded.CdnPurgeSomethingDayLimit", .quota), ("LimitExceeded.CdnNewBatchLimit", .batchTooBig),
            ("AuthFailure.SomethingElse", .permanent), ("UnauthorizedOperation.NewThing", .permanent),
            ("InvalidParameter.Cdn404", .permanent), ("ResourceNotFound.X", .permanent), ("TotallyUnknown", .permanent),
            ("HTTPError.502", .transient), ("ClientError.Timeout", .transient),
        ]
    )
    func prefixDefaults(_ code: String, _ expected: ErrorClass) {
        #expect(ErrorClass.classify(code: code) == expected)
    }

    static let resets: [(Int64, Int64)] = [
        (1_700_000_000, 1_700_064_000),  // 2023-11-14 22:13 UTC → 2023-11-15 16:00 UTC
        (1_700_049_599, 1_700_064_000),  // 15:59:59 → the same day's 16:00
        (1_700_064_000, 1_700_064_000 + 86_400),  // exactly at the reset → the next one
        (1_700_006_400, 1_700_064_000),  // 00:00 UTC → 16:00 the same day
    ]

    @Test("quota reset is the next 16:00 UTC (00:00 UTC+8)", arguments: resets)
    func quotaReset(_ now: Int64, _ expected: Int64) {
        let reset = QuotaClock.nextReset(after: Date(timeIntervalSince1970: TimeInterval(now)))
        #expect(Int64(reset.timeIntervalSince1970) == expected)
    }

    @Test("the quota day is the UTC+8 calendar day")
    func quotaDay() {
        #expect(QuotaClock.quotaDay(of: Date(timeIntervalSince1970: 1_704_038_399)) == "2023-12-31")
        #expect(QuotaClock.quotaDay(of: Date(timeIntervalSince1970: 1_704_038_400)) == "2024-01-01")
    }
}

@Suite("Response envelopes")
struct ResponseEnvelopeTests {
    @Test("an error envelope becomes a TencentCloudError with code, message, request id and class")
    func errorEnvelope() {
        let body = #"{"Response":{"Error":{"Code":"InternalError.CdnDbError","Message":"db"},"RequestId":"r-1"}}"#
        do {
            _ = try ResponseEnvelope.decode(PurgeResponse.self, from: Array(body.utf8))
            Issue.record("no error thrown")
        } catch let error as TencentCloudError {
            #expect(error.code == "InternalError.CdnDbError")
            #expect(error.message == "db")
            #expect(error.requestId == "r-1")
            #expect(error.errorClass == .transient)
            #expect(error.httpStatus == 200)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("unknown response fields are ignored")
    func unknownFields() throws {
        let body = #"{"Response":{"TaskId":"t-1","RequestId":"r","NewField":[1,2],"Nested":{"x":1}},"Extra":true}"#
        let r = try ResponseEnvelope.decode(PurgeResponse.self, from: Array(body.utf8))
        #expect(r == PurgeResponse(taskId: "t-1", requestId: "r"))
    }

    @Test("quota and task pages decode")
    func quotaAndTasks() throws {
        let quota =
            #"{"Response":{"UrlPurge":[{"Area":"mainland","Batch":1000,"Total":10000,"Available":9990}],"PathPurge":[{"Area":"overseas","Batch":20,"Total":100,"Available":100,"Unused":0}],"RequestId":"q"}}"#
        let q = try ResponseEnvelope.decode(PurgeQuota.self, from: Array(quota.utf8))
        #expect(q.urlPurge == [.init(area: "mainland", batch: 1000, total: 10000, available: 9990)])
        #expect(q.pathPurge.first?.batch == 20)
        let tasks =
            #"{"Response":{"PurgeLogs":[{"TaskId":"t","Url":"https://a/","Status":"done","PurgeType":"url","FlushType":"delete","CreateTime":"2023-11-15 06:13:20"},{"TaskId":"t","Url":"https://b/","Status":"weird"}],"TotalCount":2,"RequestId":"d"}}"#
        let page = try ResponseEnvelope.decode(DescribePurgeTasksResponse.self, from: Array(tasks.utf8))
        #expect(page.totalCount == 2)
        #expect(page.purgeLogs?.map(\.status) == [.done, .other("weird")])
    }

    @Test(
        "a malformed body is an error, not a crash",
        arguments: [
            "", "not json", "[]", #"{"Response":null}"#, #"{"Response":{"TaskId":5,"RequestId":"r"}}"#,
            #"{"Response":{"RequestId":"r"}}"#, #"{"Other":{}}"#, "{\"Response\":{\"TaskId\":\"x\"",
            #"{"Response":{"Error":{"Message":"no code"}}}"#,
        ]
    )
    func malformed(_ body: String) {
        #expect(throws: TencentCloudError.self) {
            _ = try ResponseEnvelope.decode(PurgeResponse.self, from: Array(body.utf8))
        }
        do {
            _ = try ResponseEnvelope.decode(PurgeResponse.self, from: Array(body.utf8))
        } catch let error as TencentCloudError {
            #expect(error.code == "ClientError.MalformedResponse")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("request bodies are compact JSON with the API's names; unset options are omitted")
    func requestBodies() throws {
        let urls = try TencentCDNClient.encode(
            PurgeUrlsCacheRequest(urls: ["https://www.example.com/a b/"], area: "", urlEncode: false)
        )
        #expect(String(decoding: urls, as: UTF8.self) == #"{"Urls":["https://www.example.com/a b/"]}"#)
        let full = try TencentCDNClient.encode(
            PurgeUrlsCacheRequest(urls: ["https://x/中"], area: "overseas", urlEncode: true)
        )
        #expect(
            String(decoding: full, as: UTF8.self) == #"{"Area":"overseas","UrlEncode":true,"Urls":["https://x/中"]}"#
        )
        let paths = try TencentCDNClient.encode(PurgePathCacheRequest(paths: ["https://x/d/"], flushType: .flush))
        #expect(String(decoding: paths, as: UTF8.self) == #"{"FlushType":"flush","Paths":["https://x/d/"]}"#)
        #expect(String(decoding: try TencentCDNClient.encode(DescribePurgeQuotaRequest()), as: UTF8.self) == "{}")
        let tasks = try TencentCDNClient.encode(DescribePurgeTasksRequest(taskId: "t", offset: 100, limit: 100))
        #expect(String(decoding: tasks, as: UTF8.self) == #"{"Limit":100,"Offset":100,"TaskId":"t"}"#)
    }
}
