import Logging
import PurgeCore
import StateStore
import TencentCDN

/// What a stage that works the queue against the provider's API is built from — the submitter
/// and the verifier are both one — and what the daemon hands it again on reload (the provider,
/// the configuration). Each subclass owns its own state besides.
class APIStage {
    /// The queue as this stage writes it: in a fleet, the store fenced by the lease term this
    /// daemon holds (``FleetMember``), replaced when a new term is granted.
    var store: any QueueStore
    let options: DaemonOptions
    let clock: DaemonClock
    let logger: Logger
    let health: StageBoard
    /// The product's API (CDN or EdgeOne, ``CDNProvider``). Replaced on reload and when
    /// credentials are read again; nil in a dry run.
    var provider: (any CDNProvider)?
    var config: SiteConfig

    /// The quota area the configuration names, as the quota rows are filtered by: nil for every
    /// area, and always nil for a product without areas (EdgeOne).
    var quotaArea: String? {
        config.tencentCloud.product == .cdn && config.purge.area != .any ? config.purge.area.rawValue : nil
    }

    /// The batch lifecycle's timings.
    var lifecyclePolicy: BatchLifecycle.Policy { BatchLifecycle.Policy(options) }

    init(
        store: any QueueStore, provider: (any CDNProvider)?, config: SiteConfig, options: DaemonOptions, clock: DaemonClock,
        logger: Logger, health: StageBoard
    ) {
        self.store = store
        self.provider = provider
        self.config = config
        self.options = options
        self.clock = clock
        self.logger = logger
        self.health = health
    }
}
