import Foundation

/// A Tencent Cloud API 3.0 emulator on 127.0.0.1 for tests that speaks both products: CDN and
/// EdgeOne (TEO), each request answered as the product its `X-TC-Version` names.
///
/// - **CDN** (`2018-06-06`, TC3 service `cdn`): PurgeUrlsCache, PurgePathCache, DescribePurgeTasks,
///   DescribePurgeQuota, PushUrlsCache and DescribePushQuota with the documented validation (scheme
///   required, known domains, ≤ `Batch` items per request, daily quota per area, URL length); one
///   bad URL fails the whole request. Tasks go `process` → `done`, or `fail` for chosen URLs.
/// - **EdgeOne** (`2022-09-01`, TC3 service `teo`): CreatePurgeTask, CreatePrefetchTask,
///   DescribePurgeTasks, DescribePrefetchTasks and DescribeContentQuota for one zone
///   (``EmulatorConfiguration/zoneID``), with a quota per type; a bad target goes into
///   `FailedList` and the rest is accepted. Each target is a task, `processing` → `success`, or
///   `failed` / `timeout` / `canceled` for chosen targets.
///
/// Both check TC3 signatures with the emulator's own implementation (a signature scoped to the other
/// product's service fails), limit each action to 20 requests/s (`RequestLimitExceeded` for CDN,
/// `LimitExceeded.RateLimitExceeded` for EdgeOne), inject faults on demand and record every request
/// and accepted URL. Another `X-TC-Version` gets `NoSuchVersion`. With
/// ``EmulatorConfiguration/dailyRollover`` every quota returns to its total at 00:00 UTC+8 of the
/// emulator's clock. All members are thread-safe.
///
/// ```swift
/// let emu = try await TencentEmulator.start()
/// defer { Task { await emu.shutdown() } }
/// // point the client at emu.endpoint with emu.secretId / emu.secretKey
/// ```
public final class TencentEmulator: Sendable {
    private let server: HTTPServer
    let state: Locked<EmulatorState>

    /// The secret id and key the emulator accepts by default.
    public let secretId: String
    public let secretKey: String

    private init(server: HTTPServer, state: Locked<EmulatorState>, configuration: EmulatorConfiguration) {
        self.server = server
        self.state = state
        self.secretId = configuration.secretId
        self.secretKey = configuration.secretKey
    }

    /// Starts an emulator on 127.0.0.1 with an ephemeral port.
    public static func start(_ configuration: EmulatorConfiguration = EmulatorConfiguration()) async throws
        -> TencentEmulator
    {
        let state = Locked(EmulatorState(config: configuration))
        let server = try await HTTPServer.start { request in
            switch state.withLock({ $0.handle(request) }) {
            case .drop:
                return .drop
            case .reply(let status, let body, let contentType, let delay):
                return .respond(status: status, contentType: contentType, body: body, delay: delay)
            }
        }
        return TencentEmulator(server: server, state: state, configuration: configuration)
    }

    /// Stops listening and closes every connection.
    public func shutdown() async {
        await server.shutdown()
    }

    public var port: Int { server.port }
    /// `http://127.0.0.1:PORT`.
    public var endpoint: String { "http://127.0.0.1:\(server.port)" }

    // MARK: What reached the "CDN"

    /// Every URL accepted by PurgeUrlsCache or by an EdgeOne `purge_url` CreatePurgeTask, in order,
    /// duplicates kept.
    public var acceptedURLs: [String] { state.withLock { $0.acceptedURLs } }
    /// Every directory accepted by PurgePathCache or by an EdgeOne `purge_prefix` CreatePurgeTask, in
    /// order, duplicates kept.
    public var acceptedPaths: [String] { state.withLock { $0.acceptedPaths } }
    /// Every request received, in arrival order.
    public var requests: [RecordedRequest] { state.withLock { $0.requests } }
    /// TCP connections accepted so far (connection reuse shows as fewer connections than requests).
    public var connectionCount: Int { server.connectionCount }
    /// Every fault injected so far, in order.
    public var injectedFaults: [Fault] { state.withLock { $0.injectedFaults } }
    /// The current quota of `area` (after a due daily rollover).
    public func quota(area: String) -> EmulatedQuota? {
        state.withLock {
            $0.rollOverIfDue(now: $0.now)
            return $0.quotas[area]
        }
    }

    /// Forgets accepted URLs, paths, targets, requests and injected faults (quotas and tasks stay).
    public func resetRecords() {
        state.withLock {
            $0.acceptedURLs = []
            $0.acceptedPaths = []
            $0.pushedURLs = []
            $0.acceptedEdgeOneTargets = []
            $0.prefetchedURLs = []
            $0.requests = []
            $0.injectedFaults = []
        }
    }

    // MARK: Faults

    /// The next `count` requests (of `action`, or any) get `fault`.
    public func failNext(_ count: Int = 1, with fault: Fault, action: String? = nil) {
        state.withLock { s in
            for _ in 0..<max(0, count) { s.queuedFaults.append((fault, action)) }
        }
    }

    /// Cancels queued and random faults.
    public func clearFaults() {
        state.withLock {
            $0.queuedFaults = []
            $0.randomFaults = nil
        }
    }

    /// Each request (of `actions`, or any) gets one of `faults` with probability `rate`,
    /// drawn from a generator seeded with `seed`. A rate of 0 turns random faults off.
    public func setRandomFaults(rate: Double, seed: UInt64, faults: [Fault], actions: Set<String>? = nil) {
        state.withLock {
            $0.randomFaults = rate > 0 ? (rate, faults, actions) : nil
            $0.rng = SplitMix64(seed: seed)
        }
    }

    // MARK: Account

    /// Sets today's remaining URL and directory quota of `area` (and the per-request batches); with
    /// ``EmulatorConfiguration/dailyRollover``, until the next 00:00 UTC+8 of the emulator's clock.
    public func setQuota(area: String, urls: Int? = nil, paths: Int? = nil, batch: Int? = nil, pathBatch: Int? = nil) {
        state.withLock { s in
            s.rollOverIfDue(now: s.now)
            var q =
                s.quotas[area]
                ?? EmulatedQuota(
                    urlBatch: s.config.urlBatch,
                    urlTotal: s.config.urlDailyQuota,
                    urlAvailable: s.config.urlDailyQuota,
                    pathBatch: s.config.pathBatch,
                    pathTotal: s.config.pathDailyQuota,
                    pathAvailable: s.config.pathDailyQuota
                )
            if let urls {
                q.urlAvailable = urls
                q.urlTotal = max(q.urlTotal, urls)
            }
            if let paths {
                q.pathAvailable = paths
                q.pathTotal = max(q.pathTotal, paths)
            }
            if let batch { q.urlBatch = batch }
            if let pathBatch { q.pathBatch = pathBatch }
            s.quotas[area] = q
            if !s.config.areas.contains(area) { s.config.areas.append(area) }
        }
    }

    /// Every URL prefetched with PushUrlsCache, in order, with the area asked.
    public var pushedURLs: [(url: String, area: String)] { state.withLock { $0.pushedURLs } }

    /// Sets an area's prefetch quota (PushUrlsCache / DescribePushQuota).
    public func setPushQuota(area: String, available: Int, batch: Int = 500) {
        state.withLock {
            $0.rollOverIfDue(now: $0.now)
            $0.pushQuotas[area] = (batch, max(available, 1_000), available)
        }
    }

    /// Any request holding one of `urls` fails with `InvalidParameter.CdnParamError`, naming none.
    public func rejectWithoutNaming(_ urls: Set<String>) {
        state.withLock { $0.unnamedBadURLs = urls }
    }

    /// DescribePurgeTasks reports these URLs (or paths) as `fail` once their task completes (and, for
    /// EdgeOne targets not chosen with ``failTasks(for:status:)``, as `failed`). Replaces the last set.
    public func failURLs(_ urls: Set<String>) {
        state.withLock { $0.failURLs = urls }
    }

    /// How long new and existing tasks stay `process`.
    public func setTaskCompletionDelay(_ delay: Duration) {
        state.withLock { $0.config.taskCompletionDelay = delay }
    }

    public func setKnownDomains(_ domains: Set<String>) {
        state.withLock { $0.config.knownDomains = domains }
    }

    public func setMaxURLLength(_ length: Int) {
        state.withLock { $0.config.maxURLLength = length }
    }

    public func setRequestsPerSecondPerAction(_ limit: Int) {
        state.withLock { $0.config.requestsPerSecondPerAction = limit }
    }

    /// Turns the daily rollover (``EmulatorConfiguration/dailyRollover``) on or off. Turned on, it
    /// counts from the emulator's current day: a 00:00 UTC+8 passed before is not rolled over.
    public func setDailyRollover(_ enabled: Bool) {
        state.withLock {
            $0.rollOverIfDue(now: $0.now)
            $0.config.dailyRollover = enabled
        }
    }

    /// Shifts the emulator's clock (for `AuthFailure.SignatureExpire`, and the quota day).
    public func setClockOffset(seconds: Double) {
        state.withLock { $0.clockOffset = seconds }
    }

    /// Accepts another key; with `token`, requests must send it as `X-TC-Token`
    /// (else `AuthFailure.TokenFailure`). Calling it again for the same id replaces the key.
    public func addCredential(secretId: String, secretKey: String, token: String? = nil) {
        state.withLock { $0.verifier.keys[secretId] = .init(secretKey: secretKey, token: token) }
    }

    /// Stops accepting `secretId` (`AuthFailure.SecretIdNotFound`).
    public func removeCredential(secretId: String) {
        state.withLock { $0.verifier.keys[secretId] = nil }
    }
}
