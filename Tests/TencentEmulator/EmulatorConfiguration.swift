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
        signatureWindow: Double = 300
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
    }
}

/// One request the emulator received, whatever became of it.
public struct RecordedRequest: Sendable, Hashable {
    /// `X-TC-Action` as sent (empty when missing).
    public var action: String
    /// Arrival, on the continuous clock (for rate checks).
    public var arrival: ContinuousClock.Instant
    /// Arrival, on the wall clock.
    public var date: Date
    /// URLs or paths in the request body.
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
