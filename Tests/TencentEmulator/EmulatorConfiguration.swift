import Foundation

/// How an emulator starts; everything can also be changed while it runs.
public struct EmulatorConfiguration: Sendable {
    /// The API key the emulator accepts (more with ``TencentEmulator/addCredential(secretId:secretKey:token:)``).
    public var secretId: String
    public var secretKey: String
    /// Domains the account "owns"; URLs on other hosts fail with `ResourceNotFound.CdnHostNotExists`.
    /// Empty accepts every host.
    public var knownDomains: Set<String>
    /// Acceleration areas, each with its own quota.
    public var areas: [String]
    public var urlBatch: Int
    public var urlDailyQuota: Int
    public var pathBatch: Int
    public var pathDailyQuota: Int
    /// Longer URLs fail with `InvalidParameter.CdnUrlExceedLength` (the message names the URL).
    public var maxURLLength: Int
    /// Per action, in any one-second window (the API's documented 20/s).
    public var requestsPerSecondPerAction: Int
    /// How long a task stays `process` before it is `done` (or `fail`).
    public var taskCompletionDelay: Duration
    /// Largest `Limit` DescribePurgeTasks accepts.
    public var maxDescribeLimit: Int
    /// Accepted clock skew of `X-TC-Timestamp`, seconds.
    public var signatureWindow: Double
    /// The one EdgeOne zone the account holds; any other `ZoneId` fails with
    /// `InvalidParameter.ParameterError`.
    public var zoneID: String
    /// EdgeOne's quota per type (DescribeContentQuota), `DailyAvailable` starting at `Daily`.
    public var edgeOneQuotas: [EdgeOneQuota]
    /// Whether every quota (CDN URL, directory and prefetch quotas of each area, EdgeOne's
    /// `DailyAvailable` of each type) returns to its total at 00:00 UTC+8 of the emulator's clock
    /// (`Date()` plus ``TencentEmulator/setClockOffset(seconds:)``). Checked lazily, on each request
    /// and each quota read or change; off by default, so a quota set by hand stays as set.
    public var dailyRollover: Bool

    public init(
        secretId: String = "AKIDEMULATOR00000000000000000000",
        secretKey: String = "emulatorSecretKey0000000000000000",
        knownDomains: Set<String> = ["www.example.com", "example.com", "static.example.com"],
        areas: [String] = ["mainland", "overseas"],
        urlBatch: Int = 1000,
        urlDailyQuota: Int = 10_000,
        pathBatch: Int = 20,
        pathDailyQuota: Int = 100,
        maxURLLength: Int = 1024,
        requestsPerSecondPerAction: Int = 20,
        taskCompletionDelay: Duration = .zero,
        maxDescribeLimit: Int = 1000,
        signatureWindow: Double = 300,
        zoneID: String = "zone-2noz78a8ev6k",
        edgeOneQuotas: [EdgeOneQuota] = EdgeOneQuota.defaults,
        dailyRollover: Bool = false
    ) {
        self.secretId = secretId
        self.secretKey = secretKey
        self.knownDomains = knownDomains
        self.areas = areas
        self.urlBatch = urlBatch
        self.urlDailyQuota = urlDailyQuota
        self.pathBatch = pathBatch
        self.pathDailyQuota = pathDailyQuota
        self.maxURLLength = maxURLLength
        self.requestsPerSecondPerAction = requestsPerSecondPerAction
        self.taskCompletionDelay = taskCompletionDelay
        self.maxDescribeLimit = maxDescribeLimit
        self.signatureWindow = signatureWindow
        self.zoneID = zoneID
        self.edgeOneQuotas = edgeOneQuotas
        self.dailyRollover = dailyRollover
    }
}

/// One request the emulator received, whatever became of it.
public struct RecordedRequest: Sendable, Hashable {
    /// `X-TC-Action` as sent (empty when missing).
    public var action: String
    /// `X-TC-Version` as sent (empty when missing): `2018-06-06` for CDN, `2022-09-01` for EdgeOne.
    public var version: String
    /// Arrival, on the continuous clock (for rate checks).
    public var arrival: ContinuousClock.Instant
    /// Arrival, on the wall clock.
    public var date: Date
    /// URLs or paths in the request body (`Urls`, `Paths`, or EdgeOne's `Targets`).
    public var urlCount: Int
    /// `"accepted"` for a successful answer, else the API error code answered, or `"HTTP 502"` /
    /// `"dropped"` for those faults.
    public var outcome: String
    /// The fault injected, if any.
    public var fault: Fault?
    /// `X-TC-Timestamp` as sent.
    public var timestamp: Int?
    public var requestId: String
}

/// One area's URL and directory quota.
public struct EmulatedQuota: Sendable, Hashable {
    public var urlBatch: Int
    public var urlTotal: Int
    public var urlAvailable: Int
    public var pathBatch: Int
    public var pathTotal: Int
    public var pathAvailable: Int
}

/// One EdgeOne quota type, as DescribeContentQuota reports it (`Quota{Type, Batch, Daily, DailyAvailable}`).
public struct EdgeOneQuota: Sendable, Hashable {
    /// `purge_url`, `purge_prefix`, `purge_host`, `purge_all`, `purge_cache_tag` or `prefetch_url`.
    public var type: String
    /// Most targets per request (more fail the request with `LimitExceeded.BatchQuota`).
    public var batch: Int
    /// Targets per day.
    public var daily: Int
    /// What is left of `daily` today (short of a request's accepted targets: `LimitExceeded.DailyQuota`).
    public var dailyAvailable: Int

    /// - Parameter dailyAvailable: defaults to `daily`.
    public init(type: String, batch: Int, daily: Int, dailyAvailable: Int? = nil) {
        self.type = type
        self.batch = batch
        self.daily = daily
        self.dailyAvailable = dailyAvailable ?? daily
    }

    /// CreatePurgeTask's types, in DescribeContentQuota's order.
    public static let purgeTypes = ["purge_url", "purge_prefix", "purge_host", "purge_all", "purge_cache_tag"]

    /// The emulator's plan: URL purges and prefetches 1,000 per request and 10,000 a day, prefix,
    /// host and cache-tag purges 100 and 1,000, whole-zone purges 1 and 10.
    public static let defaults: [EdgeOneQuota] = [
        EdgeOneQuota(type: "purge_url", batch: 1000, daily: 10_000),
        EdgeOneQuota(type: "purge_prefix", batch: 100, daily: 1000),
        EdgeOneQuota(type: "purge_host", batch: 100, daily: 1000),
        EdgeOneQuota(type: "purge_all", batch: 1, daily: 10),
        EdgeOneQuota(type: "purge_cache_tag", batch: 100, daily: 1000),
        EdgeOneQuota(type: "prefetch_url", batch: 1000, daily: 10_000),
    ]
}

/// One target an EdgeOne CreatePurgeTask accepted (each is its own task in DescribePurgeTasks).
public struct EdgeOneTarget: Sendable, Hashable {
    /// The `JobId` answered for the request that carried it.
    public var jobID: String
    /// `purge_url`, `purge_prefix`, `purge_host`, `purge_all` or `purge_cache_tag`.
    public var type: String
    /// `invalidate` (the default) or `delete`.
    public var method: String
    /// The target as sent (for `purge_all`, the zone id).
    public var target: String

    public init(jobID: String, type: String, method: String, target: String) {
        self.jobID = jobID
        self.type = type
        self.method = method
        self.target = target
    }
}
