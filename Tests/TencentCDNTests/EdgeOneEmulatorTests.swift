import AsyncHTTPClient
import Foundation
import NIOCore
import TencentCDN
import TencentEmulator
import Testing

/// Signed API 3.0 calls over the wire with no product client: the bytes a client would send,
/// signed with the TencentCDN module's `TC3Signer`.
struct SignedCaller {
    let emulator: TencentEmulator
    let http: HTTPClient
    var service = "teo"
    var version = "2022-09-01"
    var host = "teo.tencentcloudapi.com"
    /// Added to the real clock when signing: the emulator's clock offset, so the timestamp is fresh.
    var clockOffset: Double = 0

    /// What came back: the HTTP status and the `Response` object (empty for a body that is not JSON).
    struct Answer {
        var status: Int
        var response: [String: Any]
        var code: String? { (response["Error"] as? [String: Any])?["Code"] as? String }
        var message: String { ((response["Error"] as? [String: Any])?["Message"] as? String) ?? "" }
        var jobID: String? { response["JobId"] as? String }
        /// `FailedList` as reason → targets.
        var failed: [String: [String]] {
            var byReason: [String: [String]] = [:]
            for entry in (response["FailedList"] as? [[String: Any]]) ?? [] {
                byReason[entry["Reason"] as? String ?? "", default: []] += entry["Targets"] as? [String] ?? []
            }
            return byReason
        }
    }

    func call(_ action: String, _ params: [String: Any]) async throws -> Answer {
        let body = Array(try JSONSerialization.data(withJSONObject: params, options: [.sortedKeys]))
        let timestamp = Int64(Date().timeIntervalSince1970 + clockOffset)
        let signature = TC3Signer(service: service).sign(
            TC3SigningInput(host: host, payload: body),
            secretId: emulator.secretId,
            secretKey: Secret(emulator.secretKey),
            timestamp: timestamp
        )
        var request = HTTPClientRequest(url: emulator.endpoint + "/")
        request.method = .POST
        for (name, value) in [
            "Host": host, "Content-Type": "application/json", "Authorization": signature.authorization,
            "X-TC-Action": action, "X-TC-Version": version, "X-TC-Timestamp": String(timestamp),
        ] {
            request.headers.add(name: name, value: value)
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(5))
        let bytes = try await response.body.collect(upTo: 1 << 22)
        let object = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
        return Answer(status: Int(response.status.code), response: (object?["Response"] as? [String: Any]) ?? [:])
    }
}

/// The emulator's EdgeOne side (TEO 2022-09-01), driven by signed requests as a client would send
/// them: what must happen, and what must not (nothing consumed, nothing recorded) when it refuses.
@Suite("EdgeOne emulator")
struct EdgeOneEmulatorTests {
    static let zone = "zone-2noz78a8ev6k"
    static let www = "https://www.example.com/"

    /// `count` URLs on the known host, each distinct.
    static func urls(_ count: Int, _ prefix: String = "p") -> [String] {
        (0..<count).map { www + "\(prefix)\($0).html" }
    }

    static func purge(_ targets: [String], type: String = "purge_url", method: String? = nil) -> [String: Any] {
        var params: [String: Any] = ["ZoneId": zone, "Type": type, "Targets": targets]
        params["Method"] = method
        return params
    }

    static func tasks(_ answer: SignedCaller.Answer) -> [[String: Any]] {
        (answer.response["Tasks"] as? [[String: Any]]) ?? []
    }

    /// DescribeContentQuota's `DailyAvailable` for `type`.
    static func dailyAvailable(_ teo: SignedCaller, _ type: String) async throws -> Int? {
        let answer = try await teo.call("DescribeContentQuota", ["ZoneId": zone])
        let all = ((answer.response["PurgeQuota"] as? [[String: Any]]) ?? []) + ((answer.response["PrefetchQuota"] as? [[String: Any]]) ?? [])
        return all.first { $0["Type"] as? String == type }?["DailyAvailable"] as? Int
    }

    @Test("a signature scoped to the other product's service is refused, and purges nothing")
    func signatureScopedToTheWrongServiceIsRefused() async throws {
        try await withEmulator { emu, http in
            let good = SignedCaller(emulator: emu, http: http)
            var cdnScoped = good
            cdnScoped.service = "cdn"
            let refused = try await cdnScoped.call("CreatePurgeTask", Self.purge(Self.urls(1)))
            #expect(refused.code == "AuthFailure.SignatureFailure")
            #expect(refused.jobID == nil)
            #expect(emu.acceptedURLs.isEmpty && emu.acceptedEdgeOneTargets.isEmpty, "nothing purged")
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 10_000, "nothing consumed")

            // The other way round: a teo-scoped signature on a CDN request.
            var teoOnCDN = good
            teoOnCDN.version = "2018-06-06"
            #expect(try await teoOnCDN.call("DescribePurgeQuota", [:]).code == "AuthFailure.SignatureFailure")
            // An unknown version is still refused for its version.
            var unknown = good
            unknown.service = "cdn"
            unknown.version = "2099-01-01"
            #expect(try await unknown.call("CreatePurgeTask", Self.purge(Self.urls(1))).code == "NoSuchVersion")
            // Rightly scoped, each product answers.
            var cdn = teoOnCDN
            cdn.service = "cdn"
            #expect(try await cdn.call("DescribePurgeQuota", [:]).code == nil)
            let accepted = try await good.call("CreatePurgeTask", Self.purge(Self.urls(1)))
            #expect(accepted.code == nil && accepted.jobID != nil)
            #expect(emu.acceptedURLs == Self.urls(1))
            let recorded = emu.requests.map { "\($0.action) \($0.version) \($0.outcome) \($0.urlCount)" }
            #expect(
                recorded == [
                    "CreatePurgeTask 2022-09-01 AuthFailure.SignatureFailure 1",
                    "DescribePurgeQuota 2018-06-06 AuthFailure.SignatureFailure 0",
                    "CreatePurgeTask 2099-01-01 NoSuchVersion 1",
                    "DescribePurgeQuota 2018-06-06 accepted 0",
                    "CreatePurgeTask 2022-09-01 accepted 1",
                ])
        }
    }

    @Test("more targets than Batch fail the whole request with BatchQuota; nothing is consumed")
    func overBatchFailsTheRequest() async throws {
        try await withEmulator { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            emu.setEdgeOneQuota(type: "purge_url", batch: 3)
            // Even a bad target does not make a FailedList: the request is refused as a whole.
            let refused = try await teo.call("CreatePurgeTask", Self.purge(Self.urls(3) + ["no-scheme"]))
            #expect(refused.code == "LimitExceeded.BatchQuota")
            #expect(refused.jobID == nil && refused.response["FailedList"] == nil)
            #expect(emu.edgeOneQuota(type: "purge_url") == EdgeOneQuota(type: "purge_url", batch: 3, daily: 10_000))
            #expect(emu.acceptedURLs.isEmpty && emu.acceptedEdgeOneTargets.isEmpty)
            // Exactly Batch is accepted.
            #expect(try await teo.call("CreatePurgeTask", Self.purge(Self.urls(3))).jobID != nil)
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 9_997)
            // Each type has its own batch: purge_all takes one per request.
            #expect(try await teo.call("CreatePurgeTask", Self.purge([], type: "purge_all")).jobID != nil)
            #expect(emu.edgeOneQuota(type: "purge_all")?.dailyAvailable == 9)
        }
    }

    @Test("a bad target and an unknown host go into FailedList; the rest is accepted and consumed")
    func badTargetsFailAlone() async throws {
        try await withEmulator { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            let good = Self.urls(2)
            let noScheme = "www.example.com/no-scheme.html"
            let ftp = "ftp://www.example.com/file"
            let otherHost = "https://unknown.example.net/a.html"
            let backend = Self.www + "backend.html"
            emu.failTargets([backend], reason: "InternalError.BackendError")
            let answer = try await teo.call(
                "CreatePurgeTask", Self.purge([good[0], noScheme, otherHost, good[1], ftp, backend]))
            #expect(answer.code == nil)
            #expect(
                answer.failed == [
                    "InvalidParameter.Target": [noScheme, ftp],
                    "InvalidParameter.DomainNotFound": [otherHost],
                    "InternalError.BackendError": [backend],
                ])
            let reasons = (answer.response["FailedList"] as? [[String: Any]])?.compactMap { $0["Reason"] as? String }
            #expect(reasons == ["InvalidParameter.Target", "InvalidParameter.DomainNotFound", "InternalError.BackendError"])
            let jobID = try #require(answer.jobID)
            #expect(emu.acceptedURLs == good, "only the good targets were purged")
            #expect(emu.acceptedEdgeOneTargets.map(\.target) == good)
            #expect(emu.acceptedEdgeOneTargets.allSatisfy { $0.jobID == jobID && $0.type == "purge_url" && $0.method == "invalidate" })
            #expect(try await Self.dailyAvailable(teo, "purge_url") == 9_998, "failed targets consume nothing")
            let tasks = Self.tasks(
                try await teo.call("DescribePurgeTasks", ["ZoneId": Self.zone, "Filters": [["Name": "job-id", "Values": [jobID]]]]))
            #expect(tasks.compactMap { $0["Target"] as? String } == good, "no task for a failed target")

            // A prefix purge: the same per-target checks, recorded as a directory.
            let prefixes = [Self.www + "docs/", "https://unknown.example.net/docs/"]
            let prefixAnswer = try await teo.call("CreatePurgeTask", Self.purge(prefixes, type: "purge_prefix", method: "delete"))
            #expect(prefixAnswer.failed == ["InvalidParameter.DomainNotFound": [prefixes[1]]])
            #expect(emu.acceptedPaths == [prefixes[0]])
            #expect(emu.acceptedURLs == good, "a prefix is not a URL purge")
            #expect(
                emu.acceptedEdgeOneTargets.last
                    == EdgeOneTarget(jobID: prefixAnswer.jobID ?? "", type: "purge_prefix", method: "delete", target: prefixes[0]))

            // Every target failed: still a JobId (with no task) and the FailedList; nothing consumed.
            let allFailed = try await teo.call("CreatePurgeTask", Self.purge([noScheme, otherHost]))
            #expect(allFailed.code == nil)
            let emptyJob = try #require(allFailed.jobID)
            #expect(allFailed.failed == ["InvalidParameter.Target": [noScheme], "InvalidParameter.DomainNotFound": [otherHost]])
            #expect(try await Self.dailyAvailable(teo, "purge_url") == 9_998)
            let none = try await teo.call("DescribePurgeTasks", ["ZoneId": Self.zone, "Filters": [["Name": "job-id", "Values": [emptyJob]]]])
            #expect(none.response["TotalCount"] as? Int == 0)

            // No failure: an empty FailedList, not a missing one.
            let clean = try await teo.call("CreatePurgeTask", Self.purge(Self.urls(1, "clean")))
            #expect((clean.response["FailedList"] as? [Any])?.isEmpty == true)
            // A cleared injection no longer fails its target.
            emu.failTargets([], reason: "InternalError.BackendError")
            #expect(try await teo.call("CreatePurgeTask", Self.purge([backend])).failed.isEmpty)
        }
    }

    @Test("parameters: zone, type, method and targets are checked before anything is consumed")
    func parametersAreChecked() async throws {
        try await withEmulator { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            let url = Self.urls(1)
            var otherZone = Self.purge(url)
            otherZone["ZoneId"] = "zone-other"
            let unknownZone = try await teo.call("CreatePurgeTask", otherZone)
            #expect(unknownZone.code == "InvalidParameter.ParameterError" && unknownZone.message.contains("zone-other"))
            #expect(try await teo.call("CreatePurgeTask", Self.purge(url, type: "purge_everything")).code == "InvalidParameter.ParameterError")
            #expect(try await teo.call("CreatePurgeTask", Self.purge(url, method: "flush")).code == "InvalidParameter.ParameterError")
            #expect(try await teo.call("CreatePurgeTask", Self.purge([])).code == "MissingParameter")
            #expect(try await teo.call("NoSuchAction", ["ZoneId": Self.zone]).code == "InvalidAction")
            #expect(emu.acceptedEdgeOneTargets.isEmpty)
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 10_000)
        }
    }

    @Test("short of DailyAvailable: DailyQuota for the whole request, nothing consumed; failed targets do not count")
    func dailyQuotaWhenShort() async throws {
        try await withEmulator { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            emu.setEdgeOneQuota(type: "purge_url", available: 2)
            let bad = "https://unknown.example.net/x.html"
            let refused = try await teo.call("CreatePurgeTask", Self.purge(Self.urls(3) + [bad]))
            #expect(refused.code == "LimitExceeded.DailyQuota")
            #expect(refused.jobID == nil)
            #expect(emu.acceptedURLs.isEmpty, "nothing purged")
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 2, "nothing consumed")
            // Two good targets fit, the bad one is not counted against the quota.
            let fits = try await teo.call("CreatePurgeTask", Self.purge(Self.urls(2) + [bad]))
            #expect(fits.code == nil && fits.failed == ["InvalidParameter.DomainNotFound": [bad]])
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 0)
            // Another type's quota is its own.
            #expect(try await teo.call("CreatePurgeTask", Self.purge([Self.www + "docs/"], type: "purge_prefix")).code == nil)
            #expect(try await teo.call("CreatePurgeTask", Self.purge(Self.urls(1, "more"))).code == "LimitExceeded.DailyQuota")
            #expect(emu.acceptedURLs == Self.urls(2))
        }
    }

    @Test("each target is a task: processing, then success, or the status chosen for it")
    func tasksProgress() async throws {
        try await withEmulator(EmulatorConfiguration(taskCompletionDelay: .seconds(60))) { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            let targets = Self.urls(5)
            emu.failTasks(for: [targets[1]], status: "failed")
            emu.failTasks(for: [targets[2]], status: "timeout")
            emu.failTasks(for: [targets[3]], status: "canceled")
            let jobID = try #require(try await teo.call("CreatePurgeTask", Self.purge(targets)).jobID)
            // Chosen after the task was created: applies as well (as CDN's failURLs does).
            emu.failURLs([targets[4]])
            let describe: [String: Any] = ["ZoneId": Self.zone, "Filters": [["Name": "job-id", "Values": [jobID]]]]
            let early = Self.tasks(try await teo.call("DescribePurgeTasks", describe))
            #expect(early.count == 5)
            #expect(early.allSatisfy { $0["Status"] as? String == "processing" }, "none finished before the delay")
            #expect(early.allSatisfy { $0["FailType"] == nil }, "no failure while processing")

            emu.setTaskCompletionDelay(.zero)
            let done = Self.tasks(try await teo.call("DescribePurgeTasks", describe))
            let statuses = Dictionary(uniqueKeysWithValues: done.map { ($0["Target"] as? String ?? "", $0["Status"] as? String ?? "") })
            #expect(
                statuses == [
                    targets[0]: "success", targets[1]: "failed", targets[2]: "timeout", targets[3]: "canceled", targets[4]: "failed",
                ])
            for task in done {
                #expect(task["JobId"] as? String == jobID && task["Type"] as? String == "purge_url")
                #expect(task["Method"] as? String == "invalidate")
                let failed = ["failed", "timeout"].contains(task["Status"] as? String ?? "")
                #expect((task["FailType"] != nil) == failed, "FailType only on a failed target: \(task)")
                let iso = ISO8601DateFormatter()
                let created = try #require((task["CreateTime"] as? String).flatMap(iso.date(from:)))
                let updated = try #require((task["UpdateTime"] as? String).flatMap(iso.date(from:)))
                #expect(abs(created.timeIntervalSinceNow) < 60 && updated >= created)
            }
        }
    }

    @Test("DescribePurgeTasks pages with Offset and Limit over TotalCount, filtered by job-id or time")
    func describePaging() async throws {
        try await withEmulator { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            let first = Self.urls(25, "a")
            let second = Self.urls(3, "b")
            let job1 = try #require(try await teo.call("CreatePurgeTask", Self.purge(first)).jobID)
            let job2 = try #require(try await teo.call("CreatePurgeTask", Self.purge(second)).jobID)
            func describe(_ extra: [String: Any]) async throws -> SignedCaller.Answer {
                try await teo.call("DescribePurgeTasks", extra.merging(["ZoneId": Self.zone]) { sent, _ in sent })
            }
            let byJob1: [String: Any] = ["Filters": [["Name": "job-id", "Values": [job1]]]]
            let page1 = try await describe(byJob1)
            #expect(page1.response["TotalCount"] as? Int == 25)
            #expect(Self.tasks(page1).count == 20, "Limit defaults to 20")
            let page2 = try await describe(byJob1.merging(["Offset": 20, "Limit": 20]) { $1 })
            #expect(page2.response["TotalCount"] as? Int == 25)
            #expect(Self.tasks(page2).count == 5)
            let paged = (Self.tasks(page1) + Self.tasks(page2)).compactMap { $0["Target"] as? String }
            #expect(paged == first, "every target once, none of the other job's")
            #expect(Self.tasks(try await describe(byJob1.merging(["Offset": 25]) { $1 })).isEmpty)
            let small = try await describe(byJob1.merging(["Offset": 3, "Limit": 2]) { $1 })
            #expect(Self.tasks(small).compactMap { $0["Target"] as? String } == Array(first[3..<5]))

            let both = try await describe(["Filters": [["Name": "job-id", "Values": [job1, job2]]], "Limit": 1000])
            #expect(both.response["TotalCount"] as? Int == 28)
            let iso = ISO8601DateFormatter()
            let window = try await describe([
                "StartTime": iso.string(from: Date().addingTimeInterval(-60)), "EndTime": iso.string(from: Date().addingTimeInterval(60)),
            ])
            #expect(window.response["TotalCount"] as? Int == 28)
            let past = try await describe([
                "StartTime": iso.string(from: Date().addingTimeInterval(-7_200)), "EndTime": iso.string(from: Date().addingTimeInterval(-3_600)),
            ])
            #expect(past.response["TotalCount"] as? Int == 0)
            for (type, count) in [("purge_url", 28), ("purge_prefix", 0)] {
                let typed = try await describe([
                    "Filters": [["Name": "job-id", "Values": [job1, job2]], ["Name": "type", "Values": [type]]], "Offset": 20,
                ])
                #expect(typed.response["TotalCount"] as? Int == count, "TotalCount counts every match, whatever the page: \(type)")
            }

            // What is refused.
            #expect(try await describe(byJob1.merging(["Limit": 1001]) { $1 }).code == "InvalidParameter.ParameterError")
            #expect(try await describe([:]).code == "InvalidParameter.ParameterError", "a time range or a job-id filter is required")
            #expect(try await describe(["StartTime": iso.string(from: Date())]).code == "InvalidParameter.ParameterError")
            #expect(try await teo.call("DescribePurgeTasks", byJob1).code == "MissingParameter", "ZoneId is required")
            #expect(try await describe(byJob1.merging(["ZoneId": "zone-other"]) { $1 }).code == "InvalidParameter.ParameterError")
        }
    }

    @Test("DescribeContentQuota reports each type's Batch, Daily and DailyAvailable, moving with what is accepted")
    func contentQuota() async throws {
        try await withEmulator { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            func quota() async throws -> [String: [Int]] {
                let answer = try await teo.call("DescribeContentQuota", ["ZoneId": Self.zone])
                var byType: [String: [Int]] = [:]
                for list in ["PurgeQuota", "PrefetchQuota"] {
                    for entry in (answer.response[list] as? [[String: Any]]) ?? [] {
                        byType["\(list) \(entry["Type"] as? String ?? "")"] = ["Batch", "Daily", "DailyAvailable"].map { entry[$0] as? Int ?? -1 }
                    }
                }
                return byType
            }
            #expect(
                try await quota() == [
                    "PurgeQuota purge_url": [1000, 10_000, 10_000], "PurgeQuota purge_prefix": [100, 1000, 1000],
                    "PurgeQuota purge_host": [100, 1000, 1000], "PurgeQuota purge_all": [1, 10, 10],
                    "PurgeQuota purge_cache_tag": [100, 1000, 1000], "PrefetchQuota prefetch_url": [1000, 10_000, 10_000],
                ])
            _ = try await teo.call("CreatePurgeTask", Self.purge(Self.urls(3) + ["bad"]))
            _ = try await teo.call("CreatePurgeTask", Self.purge(["www.example.com", "other.example.net"], type: "purge_host"))
            _ = try await teo.call("CreatePurgeTask", Self.purge(["tag-a", "tag-b"], type: "purge_cache_tag"))
            let after = try await quota()
            #expect(after["PurgeQuota purge_url"] == [1000, 10_000, 9_997])
            #expect(after["PurgeQuota purge_host"] == [100, 1000, 999], "the unknown host is not counted")
            #expect(after["PurgeQuota purge_cache_tag"] == [100, 1000, 998])
            #expect(after["PurgeQuota purge_prefix"] == [100, 1000, 1000], "other types untouched")
            #expect(after["PrefetchQuota prefetch_url"] == [1000, 10_000, 10_000])
            emu.setEdgeOneQuota(type: "purge_prefix", available: 7, batch: 5)
            #expect(try await quota()["PurgeQuota purge_prefix"] == [5, 1000, 7])
            #expect(try await teo.call("DescribeContentQuota", ["ZoneId": "zone-other"]).code == "InvalidParameter.ParameterError")
        }
    }

    @Test("CreatePrefetchTask validates as purge_url and spends only the prefetch_url quota")
    func prefetch() async throws {
        try await withEmulator { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            let good = Self.urls(2, "warm")
            let bad = "https://unknown.example.net/x.html"
            let answer = try await teo.call("CreatePrefetchTask", ["ZoneId": Self.zone, "Targets": good + [bad, "relative.html"]])
            #expect(answer.code == nil)
            #expect(answer.failed == ["InvalidParameter.DomainNotFound": [bad], "InvalidParameter.Target": ["relative.html"]])
            let jobID = try #require(answer.jobID)
            #expect(emu.prefetchedURLs == good)
            #expect(emu.acceptedURLs.isEmpty && emu.acceptedEdgeOneTargets.isEmpty, "a prefetch purges nothing")
            #expect(emu.edgeOneQuota(type: "prefetch_url")?.dailyAvailable == 9_998)
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 10_000)
            let filter: [String: Any] = ["ZoneId": Self.zone, "Filters": [["Name": "job-id", "Values": [jobID]]]]
            let tasks = Self.tasks(try await teo.call("DescribePrefetchTasks", filter))
            #expect(tasks.compactMap { $0["Target"] as? String } == good)
            #expect(tasks.allSatisfy { $0["Status"] as? String == "success" && $0["Type"] as? String == "prefetch_url" })
            #expect(Self.tasks(try await teo.call("DescribePurgeTasks", filter)).isEmpty, "prefetches are not purge tasks")

            emu.setEdgeOneQuota(type: "prefetch_url", available: 1)
            let short = try await teo.call("CreatePrefetchTask", ["ZoneId": Self.zone, "Targets": Self.urls(2, "late")])
            #expect(short.code == "LimitExceeded.DailyQuota")
            #expect(emu.prefetchedURLs == good, "nothing prefetched")
            #expect(emu.edgeOneQuota(type: "prefetch_url")?.dailyAvailable == 1, "nothing consumed")
            emu.setEdgeOneQuota(type: "prefetch_url", batch: 1)
            #expect(
                try await teo.call("CreatePrefetchTask", ["ZoneId": Self.zone, "Targets": Self.urls(2, "late")]).code == "LimitExceeded.BatchQuota")
        }
    }

    @Test("faults and the per-action rate limit apply to EdgeOne actions, with EdgeOne's code")
    func faultsAndRateLimit() async throws {
        try await withEmulator { emu, http in
            let teo = SignedCaller(emulator: emu, http: http)
            emu.failNext(with: .internalError, action: "CreatePurgeTask")
            #expect(try await teo.call("CreatePurgeTask", Self.purge(Self.urls(1))).code == "InternalError")
            emu.failNext(with: .apiError(code: "UnauthorizedOperation.NoPermission", message: "no"))
            #expect(try await teo.call("CreatePurgeTask", Self.purge(Self.urls(1))).code == "UnauthorizedOperation.NoPermission")
            emu.failNext(with: .http(502))
            #expect(try await teo.call("CreatePurgeTask", Self.purge(Self.urls(1))).status == 502)
            emu.failNext(with: .drop)
            await #expect(throws: (any Error).self) { _ = try await teo.call("CreatePurgeTask", Self.purge(Self.urls(1))) }
            emu.setRandomFaults(rate: 1, seed: 7, faults: [.internalError], actions: ["DescribeContentQuota"])
            #expect(try await teo.call("DescribeContentQuota", ["ZoneId": Self.zone]).code == "InternalError")
            emu.clearFaults()
            #expect(emu.acceptedURLs.isEmpty, "no faulted request was processed")
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 10_000)

            emu.setRequestsPerSecondPerAction(2)
            emu.resetRecords()
            var codes: [String?] = []
            for _ in 0..<3 { codes.append(try await teo.call("DescribeContentQuota", ["ZoneId": Self.zone]).code) }
            #expect(codes == [nil, nil, "LimitExceeded.RateLimitExceeded"])
            // Another action has its own budget.
            #expect(try await teo.call("CreatePurgeTask", Self.purge(Self.urls(1))).code == nil)
        }
    }

    // MARK: The quota day (issue 22)

    /// The next 16:00:00 UTC (00:00 UTC+8) after now, as an offset from the real clock.
    static func offsetToNextQuotaDay() -> Double {
        let now = Date().timeIntervalSince1970
        let next = ((now + 8 * 3_600) / 86_400).rounded(.down) * 86_400 + 86_400 - 8 * 3_600
        return next - now
    }

    @Test("with dailyRollover every quota returns to its total at 00:00 UTC+8 of the emulator's clock", arguments: [true, false])
    func dailyRollover(enabled: Bool) async throws {
        try await withEmulator(EmulatorConfiguration(dailyRollover: enabled)) { emu, http in
            let midnight = Self.offsetToNextQuotaDay()
            emu.setClockOffset(seconds: midnight - 10)
            var teo = SignedCaller(emulator: emu, http: http)
            teo.clockOffset = midnight - 10
            var cdn = teo
            cdn.service = "cdn"
            cdn.version = "2018-06-06"
            cdn.host = "cdn.tencentcloudapi.com"
            for area in ["mainland", "overseas"] { emu.setQuota(area: area, urls: 0, paths: 1) }
            emu.setPushQuota(area: "mainland", available: 0)
            emu.setEdgeOneQuota(type: "purge_url", available: 0)
            emu.setEdgeOneQuota(type: "prefetch_url", available: 5)
            _ = try await teo.call("CreatePurgeTask", Self.purge([Self.www + "docs/"], type: "purge_prefix"))

            // Ten seconds before the turn, requests see the quota as set.
            #expect(try await Self.dailyAvailable(teo, "purge_url") == 0)
            #expect(try await cdn.call("PurgeUrlsCache", ["Urls": Self.urls(1)]).code == "LimitExceeded.CdnPurgeUrlExceedDayLimit")

            // Ten seconds after it (the emulator's clock moved, not slept through).
            emu.setClockOffset(seconds: midnight + 10)
            teo.clockOffset = midnight + 10
            cdn.clockOffset = midnight + 10
            let purgeURL = try await Self.dailyAvailable(teo, "purge_url")
            let cdnQuota = try await cdn.call("DescribePurgeQuota", [:])
            let available = ((cdnQuota.response["UrlPurge"] as? [[String: Any]]) ?? []).compactMap { $0["Available"] as? Int }
            let paths = ((cdnQuota.response["PathPurge"] as? [[String: Any]]) ?? []).compactMap { $0["Available"] as? Int }
            let push = try await cdn.call("DescribePushQuota", [:])
            let pushAvailable = ((push.response["UrlPush"] as? [[String: Any]]) ?? []).first { $0["Area"] as? String == "mainland" }?["Available"]
            if enabled {
                #expect(purgeURL == 10_000)
                #expect(emu.edgeOneQuota(type: "prefetch_url")?.dailyAvailable == 10_000)
                #expect(emu.edgeOneQuota(type: "purge_prefix")?.dailyAvailable == 1000)
                #expect(available == [10_000, 10_000] && paths == [100, 100])
                #expect(pushAvailable as? Int == 1000)
                // A quota set by hand after the turn holds for the rest of that day.
                emu.setEdgeOneQuota(type: "purge_url", available: 3)
                #expect(try await Self.dailyAvailable(teo, "purge_url") == 3)
                #expect(try await cdn.call("PurgeUrlsCache", ["Urls": Self.urls(1)]).code == nil)
            } else {
                #expect(purgeURL == 0, "without rollover nothing returns by itself")
                #expect(emu.edgeOneQuota(type: "prefetch_url")?.dailyAvailable == 5)
                #expect(emu.edgeOneQuota(type: "purge_prefix")?.dailyAvailable == 999)
                #expect(available == [0, 0] && paths == [1, 1])
                #expect(pushAvailable as? Int == 0)
            }
        }
    }

    @Test("turning the rollover on does not roll over a midnight already passed")
    func rolloverCountsFromWhenItIsTurnedOn() async throws {
        try await withEmulator { emu, _ in
            let midnight = Self.offsetToNextQuotaDay()
            emu.setClockOffset(seconds: midnight - 10)
            emu.setEdgeOneQuota(type: "purge_url", available: 0)
            emu.setClockOffset(seconds: midnight + 10)
            emu.setDailyRollover(true)
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 0)
            emu.setClockOffset(seconds: midnight + 86_400 + 10)
            #expect(emu.edgeOneQuota(type: "purge_url")?.dailyAvailable == 10_000, "the next midnight is")
        }
    }
}
