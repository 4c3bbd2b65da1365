import FleetStore
import SiteWatch
import StateStore

/// How a comparison's changes become durable (SPEC §1): the manifest moves on only once the
/// changes' URLs are durably queued, so a change is never acknowledged and lost.
///
/// The manifest is always the origin's own SQLite file — it is a stat cache of this origin's
/// disk, read at every comparison, and another origin's rows mean nothing here — while the queue
/// is the state store's: the same file for one origin (``OneTransactionCommit``), or a store
/// shared by a fleet (``QueueFirstCommit``, SPEC §9).
protocol ChangeCommit: Sendable {
    /// Writes `detection`'s manifest rows and queues `urls`. Returns how many rows were added (a
    /// URL already pending is not queued twice). Throws, having moved the manifest on for none
    /// of them, if the URLs could not be queued.
    nonisolated(nonsending) func commit(_ detection: Detection, by detector: Detector, urls: [NewQueueRow], nowMilliseconds: Int64)
        async throws -> Int
}

/// The manifest and the queue in one SQLite file: one transaction writes both.
struct OneTransactionCommit: ChangeCommit {
    let db: StateDatabase

    nonisolated(nonsending) func commit(_ detection: Detection, by detector: Detector, urls: [NewQueueRow], nowMilliseconds: Int64)
        async throws -> Int
    {
        try await detector.commit(detection, in: db) { tx in try tx.enqueue(urls, nowMilliseconds: nowMilliseconds) }
    }
}

/// The queue in another store than the manifest (a fleet's shared PostgreSQL): the URLs are
/// queued — committed — first, then the manifest moves on in its own transaction. A stop between
/// the two leaves the manifest behind, so the change is found again and queued again: at least
/// once, never lost; a URL still pending is not queued twice (the store's uniqueness), one
/// already sent is purged again. "Committed" must mean durable: the queue store's commit must
/// survive a power loss before the manifest's does (PostgreSQL's default `synchronous_commit =
/// on`; an SQLite queue would need `synchronous = FULL`).
struct QueueFirstCommit: ChangeCommit {
    let queue: any QueueStore
    let manifest: StateDatabase
    /// In a fleet, the shared store and this origin's name: what the comparison found at each
    /// changed path is recorded with the URLs, in their transaction (SPEC §9).
    var observer: FleetObserver?

    /// Where a fleet origin's reports go.
    struct FleetObserver: Sendable {
        let store: PostgresQueueStore
        let origin: String
    }

    nonisolated(nonsending) func commit(_ detection: Detection, by detector: Detector, urls: [NewQueueRow], nowMilliseconds: Int64)
        async throws -> Int
    {
        let added: Int
        if let observer {
            added = try await observer.store.enqueue(
                urls, observations: Self.observations(of: detection), origin: observer.origin, nowMilliseconds: nowMilliseconds)
        } else {
            added = try await queue.enqueue(urls, nowMilliseconds: nowMilliseconds)
        }
        try await detector.commit(detection, in: manifest)
        return added
    }

    /// What the comparison found at each changed path: the new bytes' hash, or deleted. Every
    /// change counts, whether or not `[purge] on` queues a URL for its kind: convergence is about
    /// the bytes an origin serves.
    static func observations(of detection: Detection) -> [Observation] {
        var hashes: [[UInt8]: [UInt8]] = [:]
        for part in detection.manifestUpsertParts {
            for entry in part { hashes[entry.path] = entry.hash }
        }
        return detection.changes.compactMap { change in
            if change.kind == .deleted { return Observation(path: change.path.bytes, content: .deleted) }
            return hashes[change.path.bytes].map { Observation(path: change.path.bytes, content: .bytes($0)) }
        }
    }
}

/// A fleet's commit before its shared state is reachable (it was away at start): nothing is
/// queued and the manifest does not move, so every change is found again once the store is
/// adopted (``QueueFirstCommit`` replaces this one). Never the origin's own SQLite queue: its
/// rows would never be sent.
struct AwayFleetCommit: ChangeCommit {
    let handoff: FleetStateHandoff

    nonisolated(nonsending) func commit(_ detection: Detection, by detector: Detector, urls: [NewQueueRow], nowMilliseconds: Int64)
        async throws -> Int
    {
        throw FleetStateAway(reason: handoff.away ?? "not connected yet")
    }
}

/// The fleet's shared state has not been reached since the start: storage trouble that lasts
/// until it is (the stages retry; nothing is lost).
struct FleetStateAway: StoreTrouble {
    let reason: String
    var isBusy: Bool { false }
    var isUnavailable: Bool { true }
    var remedy: String { "start the fleet's PostgreSQL server or make [state] url reachable; the daemon connects by itself" }
    var description: String { "the fleet's shared state has not been reachable since the start: \(reason)" }
}
