import AsyncHTTPClient
import Foundation
import Logging
import TencentEmulator
import Testing

@testable import TencentCDN

func urls(_ count: Int, prefix: String = "https://www.example.com/p/") -> [String] {
    (0..<count).map { "\(prefix)\($0).html" }
}

/// The TencentCloudError `body` throws; records an issue if it throws nothing or something else.
func captureError(
    _ body: () async throws -> Void,
    sourceLocation: SourceLocation = #_sourceLocation
) async -> TencentCloudError? {
    do {
        try await body()
        Issue.record("expected a TencentCloudError", sourceLocation: sourceLocation)
    } catch let error as TencentCloudError {
        return error
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

@Suite("Client against the emulator")
struct ClientEmulatorTests {
    @Test("a 2,500-URL purge goes out as 3 requests of at most Batch (1,000) URLs")
    func batchesOf1000() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            let quota = try await client.describePurgeQuota(deadline: deadline())
            let batch = quota.urlPurge.map(\.batch).min() ?? 1000
            #expect(batch == 1000)
            let all = urls(2500)
            var taskIds: [String] = []
            for start in stride(from: 0, to: all.count, by: batch) {
                let r = try await client.purgeURLs(
                    Array(all[start..<min(all.count, start + batch)]),
                    area: nil,
                    urlEncode: false,
                    deadline: deadline()
                )
                taskIds.append(r.taskId)
            }
            let purges = emu.requests.filter { $0.action == "PurgeUrlsCache" }
            #expect(purges.map(\.urlCount) == [1000, 1000, 500])
            #expect(purges.allSatisfy { $0.outcome == "accepted" })
            #expect(emu.acceptedURLs == all)
            #expect(Set(taskIds).count == 3)
            // Counted against both areas (no Area given).
            #expect(emu.quota(area: "mainland")?.urlAvailable == 7500)
            #expect(emu.quota(area: "overseas")?.urlAvailable == 7500)
        }
    }

    @Test("30% injected transient faults still deliver every URL; duplicates come only from timed-out requests")
    func randomFaults() async throws {
        try await withEmulator { emu, http in
            emu.setRandomFaults(
                rate: 0.3,
                seed: 0x5EED,
                faults: [
                    .internalError, .http(500), .http(502), .drop, .slow(2.0),
                    .apiError(code: "RequestLimitExceeded", message: "slow down"),
                    .apiError(code: "InternalError.CdnDbError", message: "db"),
                ],
                actions: ["PurgeUrlsCache"]
            )
            let (logger, log) = makeCapturingLogger()
            let client = try makeClient(emu, http, logger: logger, requestsPerSecond: 15, requestTimeout: .seconds(1))
            let all = urls(2500)
            for start in stride(from: 0, to: all.count, by: 100) {
                _ = try await client.purgeURLs(
                    Array(all[start..<start + 100]),
                    area: nil,
                    urlEncode: false,
                    deadline: deadline(60)
                )
            }
            let accepted = emu.acceptedURLs
            let faults = emu.injectedFaults
            let slow = faults.filter { if case .slow = $0 { return true } else { return false } }.count
            let timeouts = log.all.filter { $0.contains("tencentcloud.error_code=ClientError.Timeout") }.count
            #expect(faults.count >= 5, "the seed injects faults (\(faults.count), \(slow) slow)")
            #expect(slow >= 1, "the seed includes at least one timeout")
            // Every URL reached the CDN.
            #expect(Set(accepted) == Set(all))
            // Duplicates come only from requests the emulator accepted but whose answer the client
            // gave up on (timed out) and re-sent: at least every slow fault, at most every timeout.
            let acceptedRequests = emu.requests.filter { $0.action == "PurgeUrlsCache" && $0.outcome == "accepted" }
            #expect(accepted.count == acceptedRequests.count * 100)
            let duplicatedRequests = acceptedRequests.count - 25
            #expect(duplicatedRequests >= slow)
            #expect(duplicatedRequests <= timeouts, "\(duplicatedRequests) duplicated requests, \(timeouts) timeouts")
            var counts: [String: Int] = [:]
            for url in accepted { counts[url, default: 0] += 1 }
            #expect(counts.values.allSatisfy { $0 >= 1 && $0 <= 1 + timeouts })
            // On an unloaded machine only the slow faults time out: exactly one extra copy each.
            if timeouts == slow { #expect(accepted.count == all.count + slow * 100) }
            // Every attempt was signed afresh: the emulator verified all of them (no auth failures).
            #expect(!emu.requests.contains { $0.outcome.hasPrefix("AuthFailure") })
        }
    }

    @Test("HTTP 500/502, dropped connections and InternalError are retried until delivered once")
    func transientFaults() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            emu.failNext(1, with: .http(502))
            emu.failNext(1, with: .drop)
            emu.failNext(1, with: .internalError)
            emu.failNext(1, with: .http(500))
            let r = try await client.purgeURLs(
                ["https://www.example.com/a"],
                area: "mainland",
                urlEncode: false,
                deadline: deadline()
            )
            #expect(!r.taskId.isEmpty)
            #expect(emu.acceptedURLs == ["https://www.example.com/a"])
            #expect(emu.requests.map(\.outcome) == ["HTTP 502", "dropped", "InternalError", "HTTP 500", "accepted"])
            // Each attempt carried its own signature; retries got a fresh timestamp, never an older one.
            let stamps = emu.requests.compactMap(\.timestamp)
            #expect(stamps == stamps.sorted())
        }
    }

    @Test("a malformed 200 body is a transient error, retried; an oversized body is permanent")
    func malformedAndOversized() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            emu.failNext(2, with: .malformedBody)
            let quota = try await client.describePurgeQuota(deadline: deadline())
            #expect(quota.urlPurge.count == 2)
            #expect(emu.requests.map(\.outcome) == ["malformed", "malformed", "accepted"])

            emu.resetRecords()
            emu.failNext(100, with: .malformedBody)
            let once = RetryPolicy(baseDelay: .milliseconds(1), maxDelay: .milliseconds(2), maxAttempts: 3)
            let giving = try makeClient(emu, http, retryPolicy: once)
            if let error = await captureError({ _ = try await giving.describePurgeQuota(deadline: deadline()) }) {
                #expect(error.code == "ClientError.MalformedResponse")
                #expect(error.errorClass == .transient)
                #expect(error.message.contains("gave up after 3 attempts"))
            }
            #expect(emu.requests.count == 3)

            emu.clearFaults()
            emu.resetRecords()
            let capped = try TencentCDNClient(
                endpoint: emu.endpoint,
                credentials: StaticCredentialProvider(
                    Credentials(secretId: emu.secretId, secretKey: Secret(emu.secretKey))
                ),
                requestsPerSecond: 100,
                httpClient: http,
                logger: quietLogger,
                retryPolicy: fastRetry,
                maxResponseBytes: 64
            )
            if let error = await captureError({ _ = try await capped.describePurgeQuota(deadline: deadline()) }) {
                #expect(error.code == "ClientError.ResponseTooLarge")
                #expect(error.errorClass == .permanent)
            }
            #expect(emu.requests.count == 1)
        }
    }

    @Test("requests reuse one keep-alive connection")
    func connectionReuse() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            for i in 0..<10 {
                _ = try await client.purgeURLs(
                    ["https://www.example.com/c\(i)"],
                    area: nil,
                    urlEncode: false,
                    deadline: deadline()
                )
            }
            #expect(emu.requests.count == 10)
            #expect(emu.connectionCount == 1)
        }
    }

    @Test("non-ASCII URLs are signed over the exact UTF-8 bytes sent and arrive unchanged")
    func nonASCII() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            let raw = "https://www.example.com/文档/首页.html"
            let encoded = "https://www.example.com/%E6%96%87%E6%A1%A3/a%20b.html"
            _ = try await client.purgeURLs([raw], area: nil, urlEncode: true, deadline: deadline())
            _ = try await client.purgeURLs(
                [encoded, "https://www.example.com/q?x=1&y=/z"],
                area: nil,
                urlEncode: false,
                deadline: deadline()
            )
            #expect(emu.acceptedURLs == [raw, encoded, "https://www.example.com/q?x=1&y=/z"])
        }
    }

    @Test("a response slower than the request timeout is retried; the emulator counts the duplicate")
    func slowResponse() async throws {
        try await withEmulator { emu, http in
            let (logger, log) = makeCapturingLogger()
            let client = try makeClient(emu, http, logger: logger, requestTimeout: .milliseconds(500))
            emu.failNext(1, with: .slow(10))
            let start = ContinuousClock.now
            _ = try await client.purgeURLs(
                ["https://www.example.com/slow"],
                area: nil,
                urlEncode: false,
                deadline: deadline()
            )
            // The client did not wait for the slow answer...
            #expect(ContinuousClock.now - start < .seconds(8))
            // ...so the URL arrived twice (more only if the machine is so loaded that a normal
            // answer also took longer than the timeout).
            let timeouts = log.all.filter { $0.contains("tencentcloud.error_code=ClientError.Timeout") }.count
            let accepted = emu.acceptedURLs
            #expect(accepted.count >= 2 && accepted.count <= 1 + timeouts)
            #expect(Set(accepted) == ["https://www.example.com/slow"])
        }
    }

    @Test("AuthFailure.SignatureFailure reads the credentials again once, then is permanent (SPEC §6: rotated keys)")
    func signatureFailure() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            // One refusal (a key rotated meanwhile): the credentials are read again and the
            // request goes through on the second attempt.
            emu.failNext(1, with: .authFailure("AuthFailure.SignatureFailure"))
            _ = try await client.purgeURLs(["https://www.example.com/a"], area: nil, urlEncode: false, deadline: deadline())
            #expect(emu.requests.count == 2)
            #expect(emu.acceptedURLs == ["https://www.example.com/a"])
            // A key that stays wrong: one re-read, one more request, then a permanent failure.
            let wrongKey = try makeClient(
                emu,
                http,
                credentials: StaticCredentialProvider(Credentials(secretId: emu.secretId, secretKey: Secret("wrong")))
            )
            if let error = await captureError({
                _ = try await wrongKey.purgeURLs(
                    ["https://www.example.com/b"],
                    area: nil,
                    urlEncode: false,
                    deadline: deadline()
                )
            }) {
                #expect(error.code == "AuthFailure.SignatureFailure")
                #expect(error.errorClass == .permanent)
                #expect(error.requestId != nil)
            }
            #expect(emu.requests.count == 4)
            #expect(emu.acceptedURLs == ["https://www.example.com/a"])
        }
    }

    @Test("AuthFailure.SignatureExpire is re-signed and retried once; a skewed clock then fails for good")
    func signatureExpire() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            emu.failNext(1, with: .authFailure("AuthFailure.SignatureExpire"))
            _ = try await client.describePurgeQuota(deadline: deadline())
            #expect(emu.requests.map(\.outcome) == ["AuthFailure.SignatureExpire", "accepted"])

            emu.resetRecords()
            let skewed = try makeClient(emu, http, now: { Date().addingTimeInterval(-400) })
            if let error = await captureError({ _ = try await skewed.describePurgeQuota(deadline: deadline()) }) {
                #expect(error.code == "AuthFailure.SignatureExpire")
                #expect(error.errorClass == .permanent)
                #expect(error.message.contains("NTP"))
            }
            #expect(emu.requests.count == 2)
        }
    }

    @Test("AuthFailure.TokenFailure with role credentials refreshes them and retries once")
    func tokenFailureRefreshesRoleCredentials() async throws {
        try await withEmulator { emu, http in
            let expiry = Int64(Date().timeIntervalSince1970) + 7200
            let metadata = try await FakeMetadataService.start(
                credentials: .init(secretId: "AKIDroleTmp", secretKey: "roleKey", token: "token-1", expiredTime: expiry)
            )
            emu.addCredential(secretId: "AKIDroleTmp", secretKey: "roleKey", token: "token-1")
            let chain = CredentialChain(
                environment: [:],
                credentialsFile: nil,
                cvmRole: true,
                metadataEndpoint: metadata.endpoint,
                httpClient: http,
                logger: quietLogger
            )
            let client = try makeClient(emu, http, credentials: chain)
            _ = try await client.purgeURLs(
                ["https://www.example.com/1"],
                area: nil,
                urlEncode: false,
                deadline: deadline()
            )
            // The service rotates the session token; the old one is now refused.
            emu.addCredential(secretId: "AKIDroleTmp", secretKey: "roleKey", token: "token-2")
            metadata.setCredentials(
                .init(secretId: "AKIDroleTmp", secretKey: "roleKey", token: "token-2", expiredTime: expiry)
            )
            _ = try await client.purgeURLs(
                ["https://www.example.com/2"],
                area: nil,
                urlEncode: false,
                deadline: deadline()
            )
            #expect(emu.requests.map(\.outcome) == ["accepted", "AuthFailure.TokenFailure", "accepted"])
            #expect(metadata.credentialFetches == 2)
            #expect(emu.acceptedURLs == ["https://www.example.com/1", "https://www.example.com/2"])
            await metadata.shutdown()

            // With long-lived keys there is nothing to refresh: permanent at once.
            emu.resetRecords()
            let fixed = try makeClient(emu, http)
            emu.failNext(1, with: .authFailure("AuthFailure.TokenFailure"))
            if let error = await captureError({ _ = try await fixed.describePurgeQuota(deadline: deadline()) }) {
                #expect(error.errorClass == .permanent)
            }
            #expect(emu.requests.count == 1)
        }
    }

    @Test("quota exhaustion is the quota class, with the next 00:00 UTC+8 reset, and not retried")
    func quotaExhausted() async throws {
        try await withEmulator { emu, http in
            emu.setQuota(area: "mainland", urls: 5)
            let client = try makeClient(emu, http)
            let before = Date()
            if let error = await captureError({
                _ = try await client.purgeURLs(urls(10), area: "mainland", urlEncode: false, deadline: deadline())
            }) {
                #expect(error.code == "LimitExceeded.CdnPurgeUrlExceedDayLimit")
                #expect(error.errorClass == .quota)
                #expect(error.resetAt == QuotaClock.nextReset(after: before))
                if let reset = error.resetAt {
                    #expect(Int64(reset.timeIntervalSince1970) % 86_400 == 16 * 3600)
                    #expect(reset > before && reset.timeIntervalSince(before) <= 86_400)
                }
            }
            #expect(emu.requests.count == 1)
            // The other area still has room, and the quota call reports what is left.
            _ = try await client.purgeURLs(urls(10), area: "overseas", urlEncode: false, deadline: deadline())
            let quota = try await client.describePurgeQuota(deadline: deadline())
            #expect(quota.urlPurge.first { $0.area == "mainland" }?.available == 5)
            #expect(quota.urlPurge.first { $0.area == "overseas" }?.available == 9990)
        }
    }

    @Test("more URLs than Batch is the batch-too-big class; a too-long URL is identified")
    func batchAndLength() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            if let error = await captureError({
                _ = try await client.purgeURLs(urls(1001), area: nil, urlEncode: false, deadline: deadline())
            }) {
                #expect(error.errorClass == .batchTooBig)
            }
            emu.setMaxURLLength(80)
            let long = "https://www.example.com/" + String(repeating: "x", count: 100)
            if let error = await captureError({
                _ = try await client.purgeURLs(
                    ["https://www.example.com/ok", long],
                    area: nil,
                    urlEncode: false,
                    deadline: deadline()
                )
            }) {
                #expect(error.isURLTooLong)
                #expect(error.rejectedURL == long)
                #expect(error.errorClass == .permanent)
            }
            if let error = await captureError({
                _ = try await client.purgeURLs(
                    ["https://unknown.example.org/a"],
                    area: nil,
                    urlEncode: false,
                    deadline: deadline()
                )
            }) {
                #expect(error.code == "ResourceNotFound.CdnHostNotExists")
                #expect(error.errorClass == .permanent)
            }
            if let error = await captureError({
                _ = try await client.purgeURLs(
                    ["www.example.com/no-scheme"],
                    area: nil,
                    urlEncode: false,
                    deadline: deadline()
                )
            }) {
                #expect(error.code == "InvalidParameter.CdnParamError")
            }
            #expect(emu.requests.count == 4)
            #expect(emu.acceptedURLs.isEmpty)
        }
    }

    @Test("the configured rate is never exceeded across actions")
    func rateLimit() async throws {
        try await withEmulator { emu, http in
            let rate = 10.0
            let sent = SendLog()
            var observed = try makeClient(emu, http, requestsPerSecond: rate)
            observed.attemptObserver = { _, instant in sent.append(instant) }
            let client = observed
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<24 {
                    group.addTask {
                        if i % 2 == 0 {
                            _ = try await client.describePurgeQuota(deadline: deadline())
                        } else {
                            _ = try await client.purgeURLs(
                                ["https://www.example.com/r\(i)"],
                                area: nil,
                                urlEncode: false,
                                deadline: deadline()
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
            // What the client sent: no window of one second holds more than `rate` attempts.
            let starts = sent.all.sorted()
            #expect(starts.count == 24)
            for (i, start) in starts.enumerated() {
                let inWindow = starts[i...].prefix { $0 < start + .seconds(1) }.count
                #expect(Double(inWindow) <= rate, "\(inWindow) attempts within a second")
            }
            #expect(starts.last! - starts.first! >= .milliseconds(2300))
            // What the emulator saw, independently of the client's own log: every request, spread
            // at the rate. Its arrival stamps carry the machine's scheduling — a stall of the test
            // process holds a few requests and stamps them together (once, 13 landed in a second
            // on a loaded 2-core run) — so the spread is judged by the median gap between
            // arrivals (>= 90 ms at 10/s), which a few held requests do not move and a client that
            // bursts (gaps of ~0) or runs at 12.5/s or faster (<= 80 ms) would.
            let arrivals = emu.requests.map(\.arrival).sorted()
            #expect(arrivals.count == 24)
            #expect(emu.requests.allSatisfy { $0.outcome == "accepted" })
            let gaps = zip(arrivals.dropFirst(), arrivals).map { $0 - $1 }.sorted()
            let median = gaps[gaps.count / 2]
            #expect(median >= .milliseconds(90), "the median gap between arrivals is \(median), below 1/rate")
        }
    }

    @Test("the emulator's own per-action limit answers RequestLimitExceeded, which is retried")
    func emulatorRateLimit() async throws {
        try await withEmulator { emu, http in
            emu.setRequestsPerSecondPerAction(2)
            let patient = RetryPolicy(baseDelay: .milliseconds(100), maxDelay: .milliseconds(800), maxAttempts: 40)
            let client = try makeClient(emu, http, requestsPerSecond: 100, retryPolicy: patient)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<6 {
                    group.addTask { _ = try await client.describePurgeQuota(deadline: deadline(30)) }
                }
                try await group.waitForAll()
            }
            let outcomes = emu.requests.map(\.outcome)
            #expect(outcomes.filter { $0 == "accepted" }.count == 6)
            #expect(outcomes.contains("RequestLimitExceeded"))
            let accepted = emu.requests.filter { $0.outcome == "accepted" }.map(\.arrival)
            for (k, start) in accepted.enumerated() {
                #expect(accepted[k...].prefix { $0 < start + .seconds(1) }.count <= 2)
            }
        }
    }

    @Test("the deadline bounds retries")
    func deadlineBoundsRetries() async throws {
        try await withEmulator { emu, http in
            emu.failNext(1000, with: .internalError)
            let unbounded = RetryPolicy(baseDelay: .milliseconds(20), maxDelay: .milliseconds(60), maxAttempts: .max)
            let client = try makeClient(emu, http, requestsPerSecond: 15, retryPolicy: unbounded)
            let start = ContinuousClock.now
            if let error = await captureError({
                // 6 s: a loaded CI machine has taken 3.5 s to get the first request out.
                _ = try await client.describePurgeQuota(deadline: .now + .seconds(6))
            }) {
                #expect(error.code == "InternalError")
                #expect(error.errorClass == .transient)
                #expect(error.message.contains("deadline"))
            }
            // Bounded by the deadline (plus one attempt's timeout on a loaded machine).
            #expect(ContinuousClock.now - start < .seconds(10))
            #expect(emu.requests.count >= 2, "\(emu.requests.map { "\($0.outcome) \($0.arrival - start)" })")
            // A deadline already past sends nothing.
            let before = emu.requests.count
            if let error = await captureError({ _ = try await client.describePurgeQuota(deadline: .now - .seconds(1)) }) {
                #expect(error.code == "ClientError.DeadlineExceeded")
            }
            #expect(emu.requests.count == before)
        }
    }

    @Test("DescribePurgeTasks pages through TotalCount; tasks go process → done, or fail for chosen URLs")
    func describeTasks() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            let batch = urls(250)
            emu.failURLs([batch[3], batch[200]])
            emu.setTaskCompletionDelay(.seconds(60))
            let r = try await client.purgeURLs(batch, area: nil, urlEncode: false, deadline: deadline())
            let running = try await client.describePurgeTasks(taskId: r.taskId, deadline: deadline())
            #expect(running.count == 250)
            #expect(running.allSatisfy { $0.status == .process && $0.taskId == r.taskId })
            #expect(emu.requests.filter { $0.action == "DescribePurgeTasks" }.count == 3)

            emu.setTaskCompletionDelay(.zero)
            let finished = try await client.describePurgeTasks(taskId: r.taskId, pageSize: 40, deadline: deadline())
            #expect(finished.map(\.url) == batch)
            #expect(Set(finished.filter { $0.status == .fail }.map(\.url)) == [batch[3], batch[200]])
            #expect(finished.filter { $0.status == .done }.count == 248)
            #expect(emu.requests.filter { $0.action == "DescribePurgeTasks" }.count == 3 + 7)
            #expect(try await client.describePurgeTasks(taskId: "no-such-task", deadline: deadline()).isEmpty)
        }
    }

    @Test("PurgePathCache sends directories with FlushType")
    func purgePaths() async throws {
        try await withEmulator { emu, http in
            let client = try makeClient(emu, http)
            let r = try await client.purgePaths(
                ["https://www.example.com/blog/"],
                flushType: .flush,
                area: "overseas",
                urlEncode: false,
                deadline: deadline()
            )
            #expect(emu.acceptedPaths == ["https://www.example.com/blog/"])
            let tasks = try await client.describePurgeTasks(taskId: r.taskId, deadline: deadline())
            #expect(tasks.first?.flushType == "flush")
            #expect(tasks.first?.purgeType == "path")
            #expect(emu.quota(area: "overseas")?.pathAvailable == 99)
            #expect(emu.quota(area: "mainland")?.pathAvailable == 100)
            if let error = await captureError({
                _ = try await client.purgePaths(
                    urls(21),
                    flushType: .delete,
                    area: nil,
                    urlEncode: false,
                    deadline: deadline()
                )
            }) {
                #expect(error.errorClass == .batchTooBig)
            }
        }
    }

    @Test("transport failures are transient: a closed port retries until the deadline")
    func connectionRefused() async throws {
        let emu = try await TencentEmulator.start()
        let endpoint = emu.endpoint
        await emu.shutdown()
        let http = TencentCDNClient.makeHTTPClient(connectTimeout: .milliseconds(200))
        let client = try TencentCDNClient(
            endpoint: endpoint,
            credentials: StaticCredentialProvider(Credentials(secretId: "a", secretKey: Secret("b"))),
            requestsPerSecond: 100,
            httpClient: http,
            logger: quietLogger,
            retryPolicy: fastRetry
        )
        if let error = await captureError({
            _ = try await client.describePurgeQuota(deadline: .now + .milliseconds(300))
        }) {
            #expect(error.code == "ClientError.Network" || error.code == "ClientError.Timeout")
            #expect(error.errorClass == .transient)
        }
        try await http.shutdown()
    }

    @Test("the client refuses plain http to a non-loopback host, and a non-positive rate")
    func refusesInsecureEndpoint() async throws {
        let http = TencentCDNClient.makeHTTPClient()
        let creds = StaticCredentialProvider(Credentials(secretId: "a", secretKey: Secret("b")))
        #expect(throws: TencentCloudError.self) {
            _ = try TencentCDNClient(
                endpoint: "http://cdn.tencentcloudapi.com",
                credentials: creds,
                requestsPerSecond: 10,
                httpClient: http,
                logger: quietLogger
            )
        }
        #expect(throws: TencentCloudError.self) {
            _ = try TencentCDNClient(
                endpoint: "https://cdn.tencentcloudapi.com",
                credentials: creds,
                requestsPerSecond: 0,
                httpClient: http,
                logger: quietLogger
            )
        }
        #expect(throws: Never.self) {
            _ = try TencentCDNClient(
                endpoint: "https://cdn.intl.tencentcloudapi.com",
                credentials: creds,
                requestsPerSecond: 10,
                httpClient: http,
                logger: quietLogger
            )
        }
        try await http.shutdown()
    }
}

/// SPEC §9: a batch whose sender died mid-request is looked up with DescribePurgeTasks before it
/// is sent again (`CDNProvider.acceptedTask`).
@Suite("Looking an in-flight purge up")
struct AcceptedTaskLookupTests {
    @Test("the task of exactly these URLs is found; a batch never sent, or another batch's URLs, is not")
    func findsTheTaskOfExactlyTheseTargets() async throws {
        try await withEmulator { emu, http in
            let provider = TencentCDNProvider(client: try makeClient(emu, http), area: nil, urlEncode: false)
            let sentAt = Date()
            let batch = urls(30, prefix: "https://www.example.com/a/")
            let receipt = try await provider.purge(batch, kind: .urls, deadline: deadline())
            _ = try await provider.purge(urls(5, prefix: "https://www.example.com/b/"), kind: .urls, deadline: deadline())
            let found = try await provider.acceptedTask(for: batch.shuffled(), kind: .urls, sentAt: sentAt, excluding: [], deadline: deadline())
            #expect(found == receipt.taskID)
            // Not sent: nothing to find. Part of a batch: not that batch.
            #expect(
                try await provider.acceptedTask(
                    for: urls(3, prefix: "https://www.example.com/c/"), kind: .urls, sentAt: sentAt, excluding: [], deadline: deadline())
                    == nil)
            #expect(
                try await provider.acceptedTask(for: Array(batch.prefix(10)), kind: .urls, sentAt: sentAt, excluding: [], deadline: deadline()) == nil
            )
            // A directory purge of the same target is another kind.
            #expect(try await provider.acceptedTask(for: batch, kind: .directories, sentAt: sentAt, excluding: [], deadline: deadline()) == nil)
            // The same URLs purged again (a laggard caught up): the task already recorded for the
            // first batch is not this one's.
            let again = try await provider.purge(batch, kind: .urls, deadline: deadline())
            #expect(
                try await provider.acceptedTask(for: batch, kind: .urls, sentAt: sentAt, excluding: [receipt.taskID], deadline: deadline())
                    == again.taskID)
            #expect(
                try await provider.acceptedTask(
                    for: batch, kind: .urls, sentAt: sentAt, excluding: [receipt.taskID, again.taskID], deadline: deadline()) == nil)
            // The request carried the API's times, in UTC+8, and the URL as the keyword.
            #expect(emu.requests.filter { $0.action == "DescribePurgeTasks" }.count >= 4)
        }
    }

    @Test("the API's times are UTC+8 `YYYY-MM-DD HH:MM:SS`, as Foundation's formatter writes them")
    func beijingTimestamps() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(secondsFromGMT: 8 * 3600)
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        for seconds in [0.0, 59.9, 57_599, 57_600, 1_700_000_000, 1_798_761_599, 4_102_444_800] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(QuotaClock.beijingTimestamp(date) == formatter.string(from: date), "\(seconds)")
        }
    }
}
