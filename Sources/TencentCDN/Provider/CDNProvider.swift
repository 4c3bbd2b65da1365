/// What the submitter and the verifier purge with (SPEC §6, §10): one product's API behind one
/// interface, so everything before them — watching, detection, rules, queue, coalescing, state —
/// is the same whatever the product.
///
/// Errors are ``TencentCloudError``s: both products speak Tencent Cloud API 3.0, whose error
/// envelope, classes (``ErrorClass``) and scopes (``TencentCloudError/isScopedToTargets``,
/// ``TencentCloudError/concernsHost``) hold for either; the products' codes do not overlap.
/// An implementation retries what its transport retries (``RetryPolicy``) and throws what is left.
public protocol CDNProvider: Sendable {
    /// `"cdn"` or `"edgeone"`: named in logs, `status` and metrics.
    var product: String { get }

    /// Purges `targets` — URLs, or directories (`https://host/dir/`) — in one request of at most
    /// the quota's batch size. A provider that accepts some targets and refuses others says so in
    /// ``PurgeReceipt/rejected``; a refusal of the whole request is thrown.
    func purge(_ targets: [String], kind: PurgeKind, deadline: ContinuousClock.Instant) async throws -> PurgeReceipt

    /// Today's purge quota: per area (`""` when the product has none) and kind, the batch size,
    /// the daily total and what is left.
    func purgeQuota(deadline: ContinuousClock.Instant) async throws -> [PurgeQuotaEntry]

    /// How each target of an accepted purge stands (a target missing from the answer is not
    /// known yet).
    func purgeProgress(taskID: String, deadline: ContinuousClock.Instant) async throws -> [TargetProgress]

    /// Room for prefetching after a purge: the per-request batch and what is left today.
    func prefetchRoom(deadline: ContinuousClock.Instant) async throws -> (batch: Int, available: Int)

    /// Fetches `urls` into the edge's cache (an optimisation: callers drop what fails).
    func prefetch(_ urls: [String], deadline: ContinuousClock.Instant) async throws -> PurgeReceipt

    /// Reads the credentials now (a reload checks a new provider before using it).
    func loadCredentials() async throws
}

/// What one purge request names: single URLs, or directories (every URL under each).
public enum PurgeKind: String, Sendable, Hashable, CaseIterable {
    case urls
    case directories
}

/// A purge (or prefetch) request the provider accepted.
public struct PurgeReceipt: Sendable, Equatable {
    /// The provider's handle for polling (CDN's TaskId, EdgeOne's JobId).
    public var taskID: String
    public var requestID: String
    /// Targets the provider refused while accepting the rest (EdgeOne's `FailedList`): each
    /// fails alone, or is sent again when its reason is passing.
    public var rejected: [RejectedTargets]
    /// Refused targets the answer named that match none that were sent (logged: they stay in
    /// the batch, whose task may then never report them).
    public var unknownRefused: [String] = []

    public init(taskID: String, requestID: String, rejected: [RejectedTargets] = []) {
        self.taskID = taskID
        self.requestID = requestID
        self.rejected = rejected
    }
}

/// Targets of an accepted request that the provider refused, with its reason.
public struct RejectedTargets: Sendable, Equatable {
    /// The provider's reason as given (an error code, or its text).
    public var reason: String
    public var targets: [String]
    /// What to do about them: ``ErrorClass/transient`` is sent again; anything else fails them.
    public var errorClass: ErrorClass

    public init(reason: String, targets: [String], errorClass: ErrorClass) {
        self.reason = reason
        self.targets = targets
        self.errorClass = errorClass
    }
}

/// One line of a provider's purge quota.
public struct PurgeQuotaEntry: Sendable, Equatable {
    /// `mainland` / `overseas` for CDN; `""` for a product without areas (EdgeOne).
    public var area: String
    public var kind: PurgeKind
    public var batch: Int
    public var total: Int
    public var available: Int

    public init(area: String, kind: PurgeKind, batch: Int, total: Int, available: Int) {
        self.area = area
        self.kind = kind
        self.batch = batch
        self.total = total
        self.available = available
    }
}

/// How one target of an accepted purge stands.
public struct TargetProgress: Sendable, Equatable {
    public enum State: String, Sendable, Equatable {
        /// Still being purged (or queued at the provider).
        case inProgress
        case done
        /// Failed, timed out or was cancelled: the target may be sent again.
        case failed
    }

    public var target: String
    public var state: State

    public init(target: String, state: State) {
        self.target = target
        self.state = state
    }
}
