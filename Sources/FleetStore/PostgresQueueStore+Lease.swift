import PostgresNIO
import StateStore

/// The store's answer to a claim of an account's submitter lease.
public struct LeaseClaim: Sendable, Hashable {
    /// Whether the claimant holds the lease now.
    public var granted: Bool
    /// Who holds it (`site/origin`): the claimant when granted.
    public var holder: String
    /// The holder's term: the fencing token its writes carry.
    public var term: Int64
    /// When it lapses unless renewed (wall-clock milliseconds).
    public var expiresAtMilliseconds: Int64

    public init(granted: Bool, holder: String, term: Int64, expiresAtMilliseconds: Int64) {
        self.granted = granted
        self.holder = holder
        self.term = term
        self.expiresAtMilliseconds = expiresAtMilliseconds
    }
}

/// The quota ledger the sites of an account share (SPEC §9, "one account, one budget"): one per
/// account and provider, since a CDN quota is the account's per area and an EdgeOne quota is its
/// zone's — `provider` names it as the daemon does (`cdn`, `edgeone zone-…`).
public struct QuotaLedger: Sendable, Hashable {
    public var account: String
    public var provider: String

    public init(account: String, provider: String) {
        self.account = account
        self.provider = provider
    }
}

/// What a submitter's writes are fenced by: its account, its name and its term.
public struct LeaseFence: Sendable, Hashable {
    public var account: String
    public var holder: String
    public var term: Int64

    public init(account: String, holder: String, term: Int64) {
        self.account = account
        self.holder = holder
        self.term = term
    }
}

/// One submitter per account (SPEC §9): a lease row per account with a term.
///
/// - A claim is one statement: it takes a lease that is free or has lapsed (raising the term), or
///   renews the claimant's own (keeping the term while it has not lapsed); a lease another holds
///   and that has not lapsed is left alone, and the claim says who holds it. Two daemons claiming
///   at once cannot both win: the row's primary key and `ON CONFLICT … WHERE` decide.
/// - A fenced store (``fenced(by:)``) checks, at the start of every transaction, that its term is
///   still the account's, and locks the lease row `FOR SHARE` until it commits: a claim that would
///   take the lease over waits for that transaction, and every later one of the old holder finds
///   the term changed and writes nothing (``PostgresStoreError/Code/fenced``).
/// Times are the callers' wall clocks, as everywhere in this store.
///
/// A holder's name must be unique to one process's life (`site/origin/instance`, the instance
/// drawn at start): a daemon restarted under the same site and origin is then another holder, so
/// a paused old process cannot pass the fence of its successor's term. The lease's own units
/// (claim, release, read) are never fenced, even on a fenced store.
extension PostgresQueueStore {
    /// Takes, renews or — when another daemon holds it and it has not lapsed — fails to take the
    /// lease of `account` for `holder`, until `nowMilliseconds + ttlMilliseconds`.
    public nonisolated(nonsending) func claimLease(account: String, holder: String, ttlMilliseconds: Int64, nowMilliseconds: Int64)
        async throws -> LeaseClaim
    {
        let until = nowMilliseconds + ttlMilliseconds
        return try await transaction(fenced: false) { unit in
            for try await term in try await unit.run(
                """
                INSERT INTO submitter_lease AS l (account, holder, term, expires_at) VALUES (\(account), \(holder), 1, \(until))
                ON CONFLICT (account) DO UPDATE SET
                    term = CASE WHEN l.holder = excluded.holder AND l.expires_at > \(nowMilliseconds) THEN l.term ELSE l.term + 1 END,
                    holder = excluded.holder,
                    expires_at = excluded.expires_at
                WHERE l.holder = excluded.holder OR l.expires_at <= \(nowMilliseconds)
                RETURNING l.term
                """
            ).decode(Int64.self) {
                return LeaseClaim(granted: true, holder: holder, term: term, expiresAtMilliseconds: until)
            }
            for try await (current, term, expires) in try await unit.run(
                "SELECT holder, term, expires_at FROM submitter_lease WHERE account = \(account)"
            ).decode((String, Int64, Int64).self) {
                return LeaseClaim(granted: false, holder: current, term: term, expiresAtMilliseconds: expires)
            }
            throw PostgresStoreError(code: .unexpected, message: "the lease of account \(account) vanished during a claim")
        }
    }

    /// Gives the lease up (a graceful stop), so another daemon takes it at its next claim rather
    /// than after it lapses; nothing happens unless `fence` still holds it.
    public nonisolated(nonsending) func releaseLease(_ fence: LeaseFence) async throws {
        try await transaction(fenced: false) { unit in
            try await unit.run(
                """
                UPDATE submitter_lease SET expires_at = 0
                WHERE account = \(fence.account) AND holder = \(fence.holder) AND term = \(fence.term)
                """)
        }
    }

    /// Who holds the lease of `account` now (nil: nobody ever did), lapsed or not — for `status`.
    /// A read, not a claim: `granted` is always false.
    public nonisolated(nonsending) func lease(account: String) async throws -> LeaseClaim? {
        try await read { try await $0.lease(account: account) }
    }
}

extension PostgresUnit {
    func lease(account: String) async throws -> LeaseClaim? {
        for try await (holder, term, expires) in try await run(
            "SELECT holder, term, expires_at FROM submitter_lease WHERE account = \(account)"
        ).decode((String, Int64, Int64).self) {
            return LeaseClaim(granted: false, holder: holder, term: term, expiresAtMilliseconds: expires)
        }
        return nil
    }

    /// The first statement of a fenced transaction: the fence's term is still the account's (the
    /// row locked until the transaction ends), or nothing of it is written.
    func checkFence(_ fence: LeaseFence) async throws {
        for try await _ in try await run(
            """
            SELECT 1 FROM submitter_lease
            WHERE account = \(fence.account) AND holder = \(fence.holder) AND term = \(fence.term) FOR SHARE
            """
        ).decode(Int.self) {
            return
        }
        throw PostgresStoreError(
            code: .fenced,
            message:
                "\(fence.holder) no longer holds the submitter lease of account \(fence.account) (term \(fence.term) is stale): another daemon submits now, nothing was written"
        )
    }
}
