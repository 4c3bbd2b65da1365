import Foundation
import Testing

@testable import TencentCDN

/// SPEC §10's EdgeOne rules that need no server: the error codes' classes, what a `FailedList`
/// reason means, what a task's `Status` means. The provider against the emulator is tested in
/// the client/emulator suites.
@Suite struct EdgeOneProviderTests {
    /// SPEC §10, sentence by sentence.
    @Test func theSpecsErrorCodesHaveTheirClassesAndScopes() {
        #expect(ErrorClass.classify(code: "LimitExceeded.DailyQuota") == .quota, "parks URLs until the reset")
        #expect(ErrorClass.classify(code: "LimitExceeded.BatchQuota") == .batchTooBig, "splits the batch")
        #expect(ErrorClass.classify(code: "LimitExceeded.RateLimitExceeded") == .transient, "must not: read as a day's quota")
        for code in ["InternalError.BackendError", "InternalError.DomainConfig", "InternalError.ProxyServer", "InternalError.QuotaSystem"] {
            #expect(ErrorClass.classify(code: code) == .transient, "\(code)")
        }
        let target = TencentCloudError(code: "InvalidParameter.Target", message: "bad target")
        #expect(target.errorClass == .permanent && target.isScopedToTargets && !target.concernsHost, "fails the URL alone")
        let host = TencentCloudError(code: "InvalidParameter.DomainNotFound", message: "no such domain")
        #expect(host.errorClass == .permanent && host.isScopedToTargets && host.concernsHost, "fails its host alone")
        for code in ["AuthFailure.SignatureFailure", "UnauthorizedOperation.CamUnauthorized", "UnauthorizedOperation.NoPermission"] {
            let error = TencentCloudError(code: code, message: "")
            #expect(error.errorClass == .permanent && !error.isScopedToTargets, "\(code): the account, with the pause")
        }
        // A zone or type problem concerns every request: never bisected down to single URLs.
        #expect(!TencentCloudError(code: "InvalidParameter.ParameterError", message: "").isScopedToTargets)
        #expect(ErrorClass.classify(code: "LimitExceeded.PackNotAllow") == .permanent, "must not: wait a day for a plan limit")
    }

    @Test(
        arguments: [
            ("InternalError.BackendError", ErrorClass.transient),
            ("InvalidParameter.DomainNotFound", .permanent),
            ("InvalidParameter.Target", .permanent),
            ("LimitExceeded.DailyQuota", .quota),
            ("InvalidParameter.Target: the URL is malformed", .permanent),
            ("internal error, please retry", .transient),
            ("request timed out", .transient),
            ("the domain is not under this zone", .permanent),
            ("", .permanent),
        ] as [(String, ErrorClass)])
    func aFailedListReasonIsClassified(reason: String, expected: ErrorClass) {
        #expect(EdgeOneProvider.classify(reason: reason) == expected)
    }

    @Test func aTargetsStatusIsDoneFailedOrStillRunning() {
        #expect(EdgeOneProvider.state(of: "success") == .done)
        for status in ["failed", "timeout", "canceled"] { #expect(EdgeOneProvider.state(of: status) == .failed, "\(status)") }
        #expect(EdgeOneProvider.state(of: "processing") == .inProgress)
        #expect(EdgeOneProvider.state(of: "somethingNew") == .inProgress, "must not: an unknown status read as done")
    }

    /// Only targets that were sent count as refused (a FailedList naming anything else is ignored);
    /// groups keep their reason.
    @Test func aReceiptNamesTheRefusedTargetsThatWereSent() throws {
        let body = Data(
            """
            {"JobId": "job-1", "RequestId": "r-1", "FailedList": [
              {"Reason": "InvalidParameter.DomainNotFound", "Targets": ["https://other.example.net/a"]},
              {"Reason": "InternalError.BackendError", "Targets": ["https://www.example.com/b", "https://never.sent/x"]},
              {"Reason": "nothing of ours", "Targets": ["https://never.sent/y"]}
            ]}
            """.utf8)
        let response = try JSONDecoder().decode(CreateTaskResponse.self, from: body)
        let receipt = EdgeOneProvider.receipt(
            response, sent: ["https://other.example.net/a", "https://www.example.com/b", "https://www.example.com/c"])
        #expect(receipt.taskID == "job-1" && receipt.requestID == "r-1")
        #expect(
            receipt.rejected == [
                RejectedTargets(reason: "InvalidParameter.DomainNotFound", targets: ["https://other.example.net/a"], errorClass: .permanent),
                RejectedTargets(reason: "InternalError.BackendError", targets: ["https://www.example.com/b"], errorClass: .transient),
            ])
        let clean = try JSONDecoder().decode(CreateTaskResponse.self, from: Data(#"{"JobId": "j", "RequestId": "r", "FailedList": null}"#.utf8))
        #expect(EdgeOneProvider.receipt(clean, sent: ["https://www.example.com/c"]).rejected.isEmpty)
    }
}
