import FleetStore
import Logging
import PurgeCore
import StateStore
import TencentCDN

/// SPEC §9's "one submitter per account": the lease holder plans, sends and polls for every site
/// of its account (and provider), not only its own, so the account's requests go through one
/// token bucket and its quota is planned in one place. This is that extra work: a submitter and
/// a verifier for each other site registered on the account, over the site's rows in the shared
/// state, fenced by the holder's term, with the site's registered settings, sending through the
/// holder's API client (one rate limiter for all of them). Run by the submitter and verifier
/// stages after their own site's pass, one site after another (never two plans at once, so the
/// account's quota ledger is read after the last acceptance was counted).
final class AccountWork {
    struct Site {
        let submitter: Submitter
        let verifier: Verifier
        let registration: SiteRegistration
        /// The site's rows, fenced by the holder's term.
        let store: PostgresQueueStore
    }

    private(set) var sites: [String: Site] = [:]
    /// The term the sites' stores are fenced by.
    private(set) var term: Int64?
    /// Sites whose last pass failed on their own rows (a statement refused, a value unreadable),
    /// skipped until then: one site's trouble never blocks the account's others (nor the
    /// holder's own site, passed after them).
    private(set) var troubled: [Trouble: (reason: String, until: ContinuousClock.Instant)] = [:]

    /// One stage's trouble with one site (the submitter's pass may fail where the verifier's works).
    struct Trouble: Hashable {
        enum Stage: String { case submit, verify }
        let site: String
        let stage: Stage
    }
    let logger: Logger
    let clock: DaemonClock
    /// How long a site in trouble is left alone before its next pass.
    let retryAfter: Duration

    init(logger: Logger, clock: DaemonClock, retryAfter: Duration) {
        self.logger = logger
        self.clock = clock
        self.retryAfter = retryAfter
    }

    /// Makes (or keeps) a worker for each registered site of the account but `own`, fenced by
    /// `term`; drops those no longer registered. `make` builds one. Returns the sites it made
    /// (their previous holder's half-sent batches are the caller's to look at).
    @discardableResult
    func refresh(_ registrations: [SiteRegistration], own: String, term: Int64, make: (SiteRegistration) -> Site?) -> [String] {
        let others = registrations.filter { $0.site != own }
        if term != self.term { sites = [:] }
        self.term = term
        let wanted = Set(others.map(\.site))
        sites = sites.filter { wanted.contains($0.key) }
        troubled = troubled.filter { sites[$0.key.site] != nil }
        var made: [String] = []
        for registration in others where sites[registration.site]?.registration != registration {
            let replacing = sites[registration.site] != nil
            if let site = make(registration) {
                sites[registration.site] = site
                // A worker replaced (its settings changed) may still be sending: only a site new to
                // this term has a previous holder's batches to look at.
                if !replacing { made.append(registration.site) }
            }
        }
        return made
    }

    /// A reload built a new API client: every site sends through it (one rate limiter), each
    /// with its own area and URL encoding (`provider` makes one for a site's configuration).
    func replaceProviders(_ provider: (SiteConfig) -> (any CDNProvider)?) {
        for site in sites.values {
            let made = provider(site.submitter.config)
            site.submitter.provider = made
            site.verifier.provider = made
        }
    }

    /// The lease is gone: nothing more is sent for the other sites.
    func clear() {
        sites = [:]
        term = nil
        troubled = [:]
    }

    /// One submitter pass per site (each plans and sends what is due for its site). Returns
    /// whether any of them planned and sent (the verifier is then woken).
    nonisolated(nonsending) func submitPasses() async throws -> Bool {
        var worked = false
        for name in sites.keys.sorted() {
            let key = Trouble(site: name, stage: .submit)
            guard let site = sites[name], mayPass(key) else { continue }
            site.submitter.request()
            do {
                if try await site.submitter.pass() { worked = true }
                recovered(key)
            } catch {
                try contain(error, of: key)
            }
        }
        return worked
    }

    nonisolated(nonsending) func verifyPasses() async throws {
        for name in sites.keys.sorted() {
            let key = Trouble(site: name, stage: .verify)
            guard let site = sites[name], mayPass(key) else { continue }
            do {
                _ = try await site.verifier.pass(pausedUntil: site.submitter.pausedUntil)
                recovered(key)
            } catch {
                try contain(error, of: key)
            }
        }
    }

    nonisolated(nonsending) func nextSubmitDue() async -> ContinuousClock.Instant? {
        var due = troubled.filter { $0.key.stage == .submit }.values.map(\.until)
        for (name, site) in sites where troubled[Trouble(site: name, stage: .submit)] == nil {
            if let next = await site.submitter.nextDue() { due.append(next) }
        }
        return due.min()
    }

    nonisolated(nonsending) func nextVerifyDue() async -> ContinuousClock.Instant? {
        var due = troubled.filter { $0.key.stage == .verify }.values.map(\.until)
        for (name, site) in sites where troubled[Trouble(site: name, stage: .verify)] == nil {
            if let next = await site.verifier.nextDue(pausedUntil: site.submitter.pausedUntil) { due.append(next) }
        }
        return due.min()
    }

    /// Whether a site's pass may run now (not in trouble, or its retry is due).
    private func mayPass(_ key: Trouble) -> Bool {
        guard let trouble = troubled[key] else { return true }
        return clock.now() >= trouble.until
    }

    private func recovered(_ key: Trouble) {
        guard let trouble = troubled.removeValue(forKey: key) else { return }
        logger.notice("site \(key.site) of the account is worked again (\(key.stage.rawValue); was: \(trouble.reason))")
    }

    /// An error of one site's pass: what concerns every site — the lease lost, the database away
    /// or busy, the stop — goes up to the stage; anything else stays with that site, which is
    /// left alone for ``retryAfter``.
    private func contain(_ error: any Error, of key: Trouble) throws {
        if error is CancellationError { throw error }
        if let store = error as? PostgresStoreError, store.code == .fenced { throw error }
        if let trouble = error as? any StoreTrouble, trouble.isUnavailable || trouble.isBusy { throw error }
        let reason = "\(error)"
        if troubled[key]?.reason != reason {
            logger.error(
                "cannot work site \(key.site) of the account (\(key.stage.rawValue): \(reason)): its queue waits, the account's other sites go on; tried again every \(retryAfter)"
            )
        }
        troubled[key] = (reason, clock.now().advanced(by: retryAfter))
    }

    /// The configuration another site of the account is submitted with: this daemon's, with the
    /// site's registered purge settings (area, URL encoding, directory fallback).
    static func config(for registration: SiteRegistration, from own: SiteConfig) -> SiteConfig {
        var config = own
        if let area = registration.settings["area"].flatMap(SiteConfig.Area.init(rawValue:)) { config.purge.area = area }
        if let encode = registration.settings["url_encode"].flatMap(Bool.init) { config.purge.urlEncode = encode }
        if let fallback = registration.settings["directory_fallback"].flatMap(Bool.init) { config.purge.directoryFallback = fallback }
        return config
    }

    /// Another site's convergence settings, as its origins registered them.
    static func identity(for registration: SiteRegistration, own: FleetIdentity) -> FleetIdentity {
        var fleet = SiteConfig.Fleet(
            origin: own.origin, site: registration.site, account: own.account,
            converge: ConfigDuration(milliseconds: own.convergeMilliseconds),
            originTimeout: ConfigDuration(milliseconds: own.originTimeoutMilliseconds))
        if let converge = registration.settings["converge_ms"].flatMap(Int64.init) { fleet.converge = ConfigDuration(milliseconds: converge) }
        if let timeout = registration.settings["origin_timeout_ms"].flatMap(Int64.init) {
            fleet.originTimeout = ConfigDuration(milliseconds: timeout)
        }
        return FleetIdentity(fleet, instance: String(own.holder.split(separator: "/").last ?? ""))
    }
}
