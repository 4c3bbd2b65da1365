import Daemon
import FleetStore
import Foundation
import Logging
import PurgeCore
import StateStore

/// `status` on a fleet's origin (SPEC §9): the site's queue from the shared state, its origins
/// (live, last seen, what they lag on) and the account's submitter.
extension StatusReport {
    public struct Fleet: Sendable {
        public struct Origin: Sendable {
            public var name: String
            public var live: Bool
            public var lastSeen: Date
            /// Paths whose newest version it does not hold yet: within `converge` (the purge
            /// waits for it), and past `converge` (purged without it; purged again when it catches up).
            public var lagging: Int
            public var laggingPastConverge: Int
        }

        public var site: String
        public var origin: String
        public var account: String
        public var converge: Int64
        public var originTimeout: Int64
        /// Who holds the submitter lease (`site/origin/instance`), and until when; nil: nobody
        /// ever did.
        public var submitter: String?
        public var submitterUntil: Date?
        public var origins: [Origin] = []
        /// Why the shared state could not be read (nil: it was).
        public var unreachable: String?

        /// Whether a live daemon holds the lease at `now`.
        func submitterLive(now: Date) -> Bool { submitterUntil.map { $0 > now } ?? false }

        func json(now: Date) -> String {
            typealias J = JSONText
            func string(_ value: String?) -> String { value.map(J.string) ?? "null" }
            let origins = origins.map { origin in
                J.object([
                    ("name", J.string(origin.name)), ("live", origin.live ? "true" : "false"),
                    ("last_seen_at", J.string(iso8601(origin.lastSeen))), ("lagging_paths", "\(origin.lagging)"),
                    ("lagging_past_converge", "\(origin.laggingPastConverge)"),
                ])
            }
            return J.object([
                ("site", J.string(site)), ("origin", J.string(origin)), ("account", J.string(account)),
                ("converge_seconds", "\(converge / 1_000)"), ("origin_timeout_seconds", "\(originTimeout / 1_000)"),
                ("submitter", string(submitter)), ("submitter_until", string(submitterUntil.map(iso8601))),
                ("submitter_live", submitterLive(now: now) ? "true" : "false"), ("origins", J.array(origins)),
                ("unreachable", string(unreachable)),
            ])
        }

        /// SPEC §9: WARNING while an origin lags past `converge`; CRITICAL when no live daemon of
        /// the account can submit (or the shared state cannot be read).
        func check(now: Date, critical: inout [String], warning: inout [String]) {
            if let unreachable {
                critical.append("the fleet's shared state cannot be read: \(unreachable)")
                return
            }
            // A lease given up (a restart) or lapsing is taken over within origin_timeout: only a
            // lease without a holder for longer than that means no live daemon can submit.
            let lapsedFor = submitterUntil.map { now.timeIntervalSince($0) * 1_000 } ?? .infinity
            if !submitterLive(now: now), lapsedFor > Double(originTimeout) {
                critical.append(
                    "no live daemon submits for \(account)/\(site) (the submitter lease \(submitter.map { "of \($0) " } ?? "")has lapsed)")
            }
            for origin in origins where origin.live && origin.laggingPastConverge > 0 {
                warning.append("origin \(origin.name) lags past converge on \(origin.laggingPastConverge) path(s)")
            }
        }

        func lines(now: Date) -> [String] {
            var lines = ["fleet:    site \(site), account \(account), this origin \(origin)"]
            if let unreachable {
                lines.append("UNREACHABLE: the fleet's shared state: \(unreachable)")
                return lines
            }
            if let submitter, submitterLive(now: now) {
                lines.append("submitter: \(submitter) (lease until \(submitterUntil.map(iso8601) ?? "?"))")
            } else {
                lines.append("submitter: NONE live\(submitter.map { " (last: \($0))" } ?? "")")
            }
            for origin in origins {
                var line = "  origin \(origin.name): \(origin.live ? "live" : "gone"), last seen \(iso8601(origin.lastSeen))"
                if origin.lagging + origin.laggingPastConverge > 0 {
                    line += ", lags on \(origin.lagging + origin.laggingPastConverge) path(s)"
                    if origin.laggingPastConverge > 0 { line += " (\(origin.laggingPastConverge) past converge)" }
                }
                lines.append(line)
            }
            return lines
        }
    }

    /// Reads the site's queue and its fleet from the shared state (never migrating it). A state
    /// that cannot be read is reported (`unreachable`), not thrown: the origin's own part stands.
    mutating func readFleet(config: SiteConfig, request: OverviewRequest) async {
        guard let text = config.state.url, let settings = config.fleet else { return }
        let identity = FleetIdentity(settings, provider: PurgeDaemon.providerName(config))
        var fleet = Fleet(
            site: settings.site, origin: settings.origin, account: settings.account, converge: settings.converge.milliseconds,
            originTimeout: settings.originTimeout.milliseconds)
        defer { self.fleet = fleet }
        let logger = Logger(label: "purgewatch.status") { _ in SwiftLogNoOpLogHandler() }
        do {
            let url = try PostgresURL(text)
            let password = PostgresPassword.resolve(for: url, environment: ProcessInfo.processInfo.environment)
            let store = try await PostgresQueueStore.connect(
                url: url, site: settings.site,
                ledger: QuotaLedger(account: settings.account, provider: PurgeDaemon.providerName(config)), password: password.value,
                migrating: false, logger: logger)
            let nowMilliseconds = Int64((now.timeIntervalSince1970 * 1_000).rounded())
            let read = try await store.fleetOverview(
                request, leaseKey: identity.leaseKey, convergeMilliseconds: settings.converge.milliseconds,
                nowMilliseconds: nowMilliseconds)
            await store.close()
            applyQueue(read.queue, product: config.tencentCloud.product)
            func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1_000) }
            fleet.submitter = read.lease?.holder
            fleet.submitterUntil = read.lease.map { date($0.expiresAtMilliseconds) }
            fleet.origins = read.origins.map {
                Fleet.Origin(
                    name: $0.name, live: $0.lastSeenMilliseconds + settings.originTimeout.milliseconds > nowMilliseconds,
                    lastSeen: date($0.lastSeenMilliseconds), lagging: $0.laggingPaths, laggingPastConverge: $0.laggingPastConverge)
            }
        } catch {
            fleet.unreachable = "\(error)"
        }
    }
}
