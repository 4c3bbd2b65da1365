import Foundation
import PostgresNIO

/// A site as its daemons register it (schema version 5): what the account's submitter — which
/// sends for every site of the account (SPEC §9, one submitter per account) — needs to send its
/// URLs: the account, the provider (`cdn`, `edgeone zone-…`) and the purge settings by name
/// (`area`, `url_encode`, `prefix_method`…), compared and stored as text.
public struct SiteRegistration: Sendable, Hashable {
    public var site: String
    public var account: String
    public var provider: String
    public var settings: [String: String]

    public init(site: String, account: String, provider: String, settings: [String: String]) {
        self.site = site
        self.account = account
        self.provider = provider
        self.settings = settings
    }

    /// The settings as one stable text (keys sorted), as stored and compared.
    var settingsText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(settings)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func settings(from text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}

extension PostgresQueueStore {
    /// Registers (or updates) the site as `origin` runs it; the last registration wins.
    /// - Returns: what was registered before when it differs (another origin of the site runs
    ///   another account, provider or settings: the daemon says so), else nil.
    public nonisolated(nonsending) func registerSite(_ registration: SiteRegistration, origin: String, nowMilliseconds: Int64)
        async throws -> (previous: SiteRegistration, by: String)?
    {
        try await transaction(fenced: false) { unit in
            var previous: (SiteRegistration, String)?
            for try await (account, provider, settings, by) in try await unit.run(
                "SELECT account, provider, settings, registered_by FROM sites WHERE site = \(registration.site) FOR UPDATE"
            ).decode((String, String, String, String).self) {
                previous = (
                    SiteRegistration(
                        site: registration.site, account: account, provider: provider, settings: SiteRegistration.settings(from: settings)),
                    by
                )
            }
            try await unit.run(
                """
                INSERT INTO sites (site, account, provider, settings, registered_by, updated_at)
                VALUES (\(registration.site), \(registration.account), \(registration.provider), \(registration.settingsText), \(origin), \(nowMilliseconds))
                ON CONFLICT (site) DO UPDATE SET account = excluded.account, provider = excluded.provider, settings = excluded.settings,
                    registered_by = excluded.registered_by, updated_at = excluded.updated_at
                """)
            // The account's holder learns of a new site now, not at its next heartbeat.
            try await unit.notifyQueueChanged()
            guard let previous, previous.0 != registration else { return nil }
            return previous
        }
    }

    /// Every site registered for `account`, by name.
    public nonisolated(nonsending) func sites(account: String) async throws -> [SiteRegistration] {
        try await read { unit in
            var sites: [SiteRegistration] = []
            for try await (site, provider, settings) in try await unit.run(
                "SELECT site, provider, settings FROM sites WHERE account = \(account) ORDER BY site COLLATE \"C\""
            ).decode((String, String, String).self) {
                sites.append(
                    SiteRegistration(site: site, account: account, provider: provider, settings: SiteRegistration.settings(from: settings)))
            }
            return sites
        }
    }
}
