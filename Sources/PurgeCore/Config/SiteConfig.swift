/// One site's settings: the typed, validated form of a purgewatch TOML file (SPEC §3).
public struct SiteConfig: Sendable, Equatable {
    /// The config file as given (used in messages and for the default state file name).
    public var sourcePath: String
    public var site: Site
    public var state: State
    public var rules: [Rule]
    public var coalesce: Coalesce
    public var purge: Purge
    public var tencentCloud: TencentCloud
    public var metrics: Metrics
    /// A fleet's settings (SPEC §9): set when `[state] url` names a PostgreSQL state.
    public var fleet: Fleet?
    /// Settings that are valid but do nothing here (`area` for EdgeOne…), each `FILE:LINE: KEY:
    /// why`: `check-config` and `run` print them as warnings.
    public var notes: [String] = []

    public init(
        sourcePath: String, site: Site, state: State, rules: [Rule], coalesce: Coalesce, purge: Purge,
        tencentCloud: TencentCloud, metrics: Metrics = Metrics()
    ) {
        self.metrics = metrics
        self.sourcePath = sourcePath
        self.site = site
        self.state = state
        self.rules = rules
        self.coalesce = coalesce
        self.purge = purge
        self.tencentCloud = tencentCloud
    }

    public struct Site: Sendable, Equatable {
        /// Absolute path of the publish directory (may be a symlink that deploys swap).
        public var root: String
        /// Exclude patterns; matching paths are never purged.
        public var exclude: [ExcludeGlob]
        public static let defaultExclude = [".*", "*.tmp", "*.swp", "*~"]

        public init(root: String, exclude: [ExcludeGlob]) {
            self.root = root
            self.exclude = exclude
        }
    }

    public struct State: Sendable, Equatable {
        /// Absolute path of the SQLite state file. With a PostgreSQL ``url`` it holds this
        /// origin's manifest (a stat cache of its own disk), the rest is in the shared state.
        public var path: String
        /// `[state] url`: the fleet's PostgreSQL state, `postgresql://USER@HOST:PORT/DB?sslmode=…`
        /// as written (no password: that comes from PGPASSWORD, the systemd credential
        /// `postgresql-password` or the passfile). Nil for a single origin on SQLite.
        public var url: String?
        /// How the path was found: `[state] path`, `$STATE_DIRECTORY`, or the default beside the
        /// config file (which a shell without systemd's environment may get wrong).
        public var source: Source

        public enum Source: Sendable, Equatable {
            case explicit, stateDirectory, besideConfig
        }

        public init(path: String, source: Source = .explicit, url: String? = nil) {
            self.path = path
            self.source = source
            self.url = url
        }

        /// Where the shipped unit (`StateDirectory=purgewatch`) keeps this config's state.
        public static func systemdPath(configStem: String) -> String { "/var/lib/purgewatch/\(configStem).sqlite" }
    }

    /// `[fleet]` (SPEC §9): this origin among the site's origins, and the account they bill.
    public struct Fleet: Sendable, Equatable {
        /// This origin's name, unique within the site (default: the host name).
        public var origin: String
        /// The site's name, the same on every origin (default: the config file's stem).
        public var site: String
        /// Sites that share one Tencent Cloud account share its quota and rate.
        public var account: String
        /// The longest wait for every live origin to hold the new bytes.
        public var converge: ConfigDuration
        /// An origin silent this long is not live.
        public var originTimeout: ConfigDuration

        public init(origin: String, site: String, account: String, converge: ConfigDuration, originTimeout: ConfigDuration) {
            self.origin = origin
            self.site = site
            self.account = account
            self.converge = converge
            self.originTimeout = originTimeout
        }
    }

    public struct Rule: Sendable, Equatable {
        /// `""` or a relative directory ending in `/`.
        public var prefix: String
        /// Absolute `http(s)` base URLs, each ending in `/`.
        public var urls: [String]
        /// File names that also purge their directory URL.
        public var index: [String]
        /// Also purge the directory URL without its trailing slash.
        public var indexBare: Bool

        public init(prefix: String, urls: [String], index: [String] = ["index.html"], indexBare: Bool = false) {
            self.prefix = prefix
            self.urls = urls
            self.index = index
            self.indexBare = indexBare
        }
    }

    public struct Coalesce: Sendable, Equatable {
        public var quiet: ConfigDuration
        public var maxDelay: ConfigDuration

        public init(quiet: ConfigDuration, maxDelay: ConfigDuration) {
            self.quiet = quiet
            self.maxDelay = maxDelay
        }
    }

    public enum ChangeKind: String, Sendable, CaseIterable, Hashable {
        case created, modified, deleted
    }

    public enum Area: String, Sendable, CaseIterable {
        case any = ""
        case mainland, overseas
    }

    public struct Purge: Sendable, Equatable {
        public var on: [ChangeKind]
        public var area: Area
        public var urlEncode: Bool
        public var requestsPerSecond: Double
        public var directoryFallback: Bool
        /// PushUrlsCache after a purge task is done, for its created and modified URLs (SPEC §6).
        public var prefetch: Bool
        /// EdgeOne directory purges (SPEC §10): revalidate (`invalidate`) or `delete`.
        public var prefixMethod: PrefixMethod = .invalidate

        public init(
            on: [ChangeKind], area: Area, urlEncode: Bool, requestsPerSecond: Double, directoryFallback: Bool,
            prefetch: Bool = false
        ) {
            self.prefetch = prefetch
            self.on = on
            self.area = area
            self.urlEncode = urlEncode
            self.requestsPerSecond = requestsPerSecond
            self.directoryFallback = directoryFallback
        }
    }

    /// `[metrics]` (SPEC §3, §7): `listen` is `HOST:PORT`, or `""` for off.
    public struct Metrics: Sendable, Equatable {
        public var listen: String

        public init(listen: String = "") { self.listen = listen }
    }

    /// Which Tencent Cloud product purges the site (SPEC §10).
    public enum Product: String, Sendable, CaseIterable {
        /// Tencent Cloud CDN (API 2018-06-06, service `cdn`): PurgeUrlsCache / PurgePathCache.
        case cdn
        /// Tencent Cloud EdgeOne (API 2022-09-01, service `teo`): CreatePurgeTask on a zone.
        case edgeone

        /// The API's service name, the first label of its hosts (`cdn.tencentcloudapi.com`).
        public var serviceName: String {
            switch self {
            case .cdn: "cdn"
            case .edgeone: "teo"
            }
        }

        /// The API endpoint when `[tencentcloud] endpoint` is not set.
        public var defaultEndpoint: String {
            switch self {
            case .cdn: "https://cdn.tencentcloudapi.com"
            case .edgeone: "https://teo.tencentcloudapi.com"
            }
        }
    }

    /// How EdgeOne purges a directory (`[purge] prefix_method`, SPEC §10).
    public enum PrefixMethod: String, Sendable, CaseIterable {
        /// The next request revalidates with the origin (If-None-Match / If-Modified-Since).
        case invalidate
        /// The cached copies are deleted.
        case delete
    }

    public struct TencentCloud: Sendable, Equatable {
        public var product: Product = .cdn
        /// The EdgeOne zone (`zone-…`); required with ``Product/edgeone``, nil for CDN.
        public var zoneID: String?
        public var endpoint: String
        public var credentialsFile: String?
        public var cvmRole: Bool
        public var metadataEndpoint: String

        public init(
            product: Product = .cdn, zoneID: String? = nil, endpoint: String, credentialsFile: String?, cvmRole: Bool,
            metadataEndpoint: String
        ) {
            self.product = product
            self.zoneID = zoneID
            self.endpoint = endpoint
            self.credentialsFile = credentialsFile
            self.cvmRole = cvmRole
            self.metadataEndpoint = metadataEndpoint
        }
    }
}

extension SiteConfig {
    /// The path → URL mapper for these rules.
    public var mapper: PathMapper {
        PathMapper(rules: rules, exclude: site.exclude, urlEncode: purge.urlEncode)
    }

    /// The state file a `--dry-run` daemon keeps (SPEC §6): the state path with `.dry-run` appended.
    public var dryRunStatePath: String { state.path + ".dry-run" }
}
