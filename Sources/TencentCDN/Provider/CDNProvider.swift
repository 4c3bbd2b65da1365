import Foundation

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

    /// What an error thrown by ``purge(_:kind:deadline:)`` means for the request's targets.
    func classify(_ error: any Error) -> PurgeFailure

    /// The task of a purge of exactly these targets that the provider accepted around `sentAt`,
    /// if it finds one: a request whose answer was lost (its sender died) is looked up before it
    /// is sent again (SPEC §9). Nil: none found, or the provider cannot look (send it again).
    /// - Parameter excluding: tasks already recorded for other batches (an earlier purge of the
    ///   same targets is not this one).
    func acceptedTask(
        for targets: [String], kind: PurgeKind, sentAt: Date, excluding known: Set<String>, deadline: ContinuousClock.Instant
    ) async throws -> String?
}

extension CDNProvider {
    public func acceptedTask(
        for targets: [String], kind: PurgeKind, sentAt: Date, excluding known: Set<String>, deadline: ContinuousClock.Instant
    ) async throws -> String? { nil }
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

/// What a refused request means, in the provider's own judgement (``CDNProvider/classify(_:)``):
/// the submitter acts on this and on nothing product-specific (SPEC §6, §10).
public struct PurgeFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Passing: sent again on the backoff.
        case transient
        /// The day's quota is used up: wait for the reset (nil: the next 00:00 UTC+8).
        case quota(resetAt: Date?)
        /// More targets than a request may carry: split.
        case batchTooBig
        /// Some target of the request (the one named, when the API named it): it fails alone.
        case targetAlone(named: String?)
        /// A whole host of the request (not on the account or zone): its targets fail alone.
        case hostAlone
        /// The account or its credentials: everything waits (the pause of SPEC §6).
        case account
    }

    public var kind: Kind
    /// The API's (or the client's) code, as `failures` shows it.
    public var code: String
    public var message: String
    public var requestID: String?

    public init(kind: Kind, code: String, message: String, requestID: String? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.requestID = requestID
    }

    public var description: String { "\(code): \(message)" }
}

extension CDNProvider {
    /// Tencent Cloud API 3.0's judgement, shared by both products: a ``TencentCloudError``'s
    /// class and scope; anything else (a bug, an unexpected error) is passing.
    public func classify(_ error: any Error) -> PurgeFailure {
        guard let error = error as? TencentCloudError else {
            return PurgeFailure(kind: .transient, code: "ClientError.Unexpected", message: "\(error)")
        }
        let kind: PurgeFailure.Kind
        switch error.errorClass {
        case .transient, .reSign: kind = .transient
        case .quota: kind = .quota(resetAt: error.resetAt)
        case .batchTooBig: kind = .batchTooBig
        case .permanent:
            kind =
                error.concernsHost
                ? .hostAlone : error.isScopedToTargets ? .targetAlone(named: error.isURLTooLong ? error.rejectedURL : nil) : .account
        }
        return PurgeFailure(kind: kind, code: error.code, message: error.message, requestID: error.requestId)
    }
}
