import AsyncHTTPClient
import Foundation
import TencentEmulator
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

/// The EdgeOne provider against the emulator speaking EdgeOne (SPEC §10): what it sends and how
/// it reads the answers — paging, quota per type, FailedList.
@Suite struct EdgeOneProviderEmulatorTests {
    static let zone = "zone-2noz78a8ev6k"

    static func provider(_ emulator: TencentEmulator, _ http: HTTPClient, prefixMethod: String = "invalidate") throws -> EdgeOneProvider {
        EdgeOneProvider(client: try makeClient(emulator, http, service: .teo), zoneID: zone, prefixMethod: prefixMethod)
    }

    /// Each target's own status, read page by page through TotalCount: a reader that stopped after
    /// the first page would leave targets "in progress" forever.
    @Test func progressIsReadThroughEveryPage() async throws {
        try await withEmulator { emu, http in
            let provider = try Self.provider(emu, http)
            let targets = urls(5)
            emu.failTasks(for: [targets[3]], status: "timeout")
            let receipt = try await provider.purge(targets, kind: .urls, deadline: deadline())
            #expect(receipt.rejected.isEmpty)
            let progress = try await provider.purgeProgress(taskID: receipt.taskID, pageSize: 2, deadline: deadline())
            #expect(progress.map(\.target).sorted() == targets.sorted(), "all five, over three pages")
            #expect(progress.filter { $0.state == .failed }.map(\.target) == [targets[3]])
            #expect(progress.filter { $0.state == .done }.count == 4)
            let pages = emu.requests.filter { $0.action == "DescribePurgeTasks" }
            #expect(pages.count == 3, "\(pages.count) pages")
        }
    }

    /// Quota per type, read from the zone; a type the plan lacks is 0, never a default.
    /// SPEC §9: an in-flight batch is looked up with DescribePurgeTasks before it is sent again —
    /// EdgeOne's form (a time range in ISO 8601, `target` and `type` filters, the job read whole).
    @Test func anAcceptedJobIsFoundByItsExactTargetsAndKind() async throws {
        try await withEmulator { emu, http in
            let provider = try Self.provider(emu, http)
            let sentAt = Date()
            let batch = urls(30, prefix: "https://www.example.com/a/")
            let receipt = try await provider.purge(batch, kind: .urls, deadline: deadline())
            _ = try await provider.purge(urls(5, prefix: "https://www.example.com/b/"), kind: .urls, deadline: deadline())
            #expect(
                try await provider.acceptedTask(for: batch.shuffled(), kind: .urls, sentAt: sentAt, excluding: [], deadline: deadline())
                    == receipt.taskID)
            // Never sent, a part of the batch, or another kind: not found (sent again).
            #expect(
                try await provider.acceptedTask(
                    for: urls(3, prefix: "https://www.example.com/c/"), kind: .urls, sentAt: sentAt, excluding: [], deadline: deadline()) == nil)
            #expect(
                try await provider.acceptedTask(for: Array(batch.prefix(10)), kind: .urls, sentAt: sentAt, excluding: [], deadline: deadline()) == nil
            )
            #expect(try await provider.acceptedTask(for: batch, kind: .directories, sentAt: sentAt, excluding: [], deadline: deadline()) == nil)
            // Sent before this batch was marked sending: an earlier purge of the same URLs, not this one.
            #expect(
                try await provider.acceptedTask(
                    for: batch, kind: .urls, sentAt: sentAt.addingTimeInterval(60), excluding: [], deadline: deadline()) == nil)
            // The same URLs purged again: the job already recorded for the first batch is excluded.
            let again = try await provider.purge(batch, kind: .urls, deadline: deadline())
            #expect(
                try await provider.acceptedTask(for: batch, kind: .urls, sentAt: sentAt, excluding: [receipt.taskID], deadline: deadline())
                    == again.taskID)
            let lookups = emu.requests.filter { $0.action == "DescribePurgeTasks" }
            #expect(lookups.count >= 6 && lookups.allSatisfy { $0.outcome == "ok" || $0.outcome == "accepted" }, "\(lookups.map(\.outcome))")
        }
    }

    @Test func theQuotaIsTheZonesPerTypeAndAMissingTypeIsNone() async throws {
        var configuration = EmulatorConfiguration()
        configuration.edgeOneQuotas = [EdgeOneQuota(type: "purge_url", batch: 500, daily: 2_000, dailyAvailable: 1_234)]
        try await withEmulator(configuration) { emu, http in
            let quota = try await Self.provider(emu, http).purgeQuota(deadline: deadline())
            #expect(quota.contains(PurgeQuotaEntry(area: "", kind: .urls, batch: 500, total: 2_000, available: 1_234)))
            #expect(quota.contains { $0.kind == .directories && $0.available == 0 }, "no purge_prefix on this plan: none left")
        }
    }

    /// Directory purges go as `purge_prefix` with the configured method; a refused target comes
    /// back in the receipt with its class, the rest accepted.
    @Test func prefixPurgesCarryTheMethodAndRefusedTargetsComeBackClassified() async throws {
        try await withEmulator(EmulatorConfiguration(knownDomains: ["www.example.com"])) { emu, http in
            let provider = try Self.provider(emu, http, prefixMethod: "delete")
            _ = try await provider.purge(["https://www.example.com/docs/"], kind: .directories, deadline: deadline())
            #expect(emu.acceptedEdgeOneTargets.map(\.type) == ["purge_prefix"])
            #expect(emu.acceptedEdgeOneTargets.map(\.method) == ["delete"])
            let receipt = try await provider.purge(
                ["https://www.example.com/a.html", "https://other.example.net/b.html"], kind: .urls, deadline: deadline())
            #expect(receipt.rejected.map(\.targets) == [["https://other.example.net/b.html"]])
            #expect(receipt.rejected.first?.errorClass == .permanent)
            #expect(emu.acceptedURLs == ["https://www.example.com/a.html"], "must not: the good target refused with the bad")
        }
    }
}

/// The provider interface's judgement of a refused request (issue 21: transient, quota, batch
/// too big, target alone, host alone, the account), for both products' codes.
@Suite struct ProviderClassificationTests {
    @Test func bothProductsCodesMapOntoTheSameKinds() async throws {
        try await withEmulator { emu, http in
            let cdn = TencentCDNProvider(client: try makeClient(emu, http), area: nil, urlEncode: false)
            let teo = EdgeOneProvider(client: try makeClient(emu, http, service: .teo), zoneID: "zone-abc")
            func kind(_ provider: some CDNProvider, _ code: String, rejectedURL: String? = nil) -> PurgeFailure.Kind {
                provider.classify(TencentCloudError(code: code, message: "m", rejectedURL: rejectedURL)).kind
            }
            #expect(kind(cdn, "InternalError.CdnSystemError") == .transient)
            #expect(kind(teo, "LimitExceeded.RateLimitExceeded") == .transient)
            #expect(kind(cdn, "LimitExceeded.CdnPurgeUrlExceedDayLimit") == .quota(resetAt: nil))
            #expect(kind(teo, "LimitExceeded.DailyQuota") == .quota(resetAt: nil))
            #expect(kind(cdn, "LimitExceeded.CdnPurgeUrlExceedBatchLimit") == .batchTooBig)
            #expect(kind(teo, "LimitExceeded.BatchQuota") == .batchTooBig)
            #expect(kind(cdn, "ResourceNotFound.CdnHostNotExists") == .hostAlone)
            #expect(kind(teo, "InvalidParameter.DomainNotFound") == .hostAlone)
            #expect(kind(cdn, "InvalidParameter.CdnUrlExceedLength", rejectedURL: "https://x/a") == .targetAlone(named: "https://x/a"))
            #expect(kind(teo, "InvalidParameter.Target") == .targetAlone(named: nil))
            #expect(kind(cdn, "AuthFailure.SecretIdNotFound") == .account)
            #expect(kind(teo, "UnauthorizedOperation.NoPermission") == .account)
            #expect(kind(teo, "InvalidParameter.ParameterError") == .account, "a wrong zone is never bisected")
            struct Odd: Error {}
            #expect(teo.classify(Odd()).kind == .transient, "an unexpected error is retried, never a failure")
        }
    }
}
