import Logging
import PurgeCore
import StateStore
import TencentCDN

/// What a stage that works the queue against the CDN API is built from — the submitter and the
/// verifier are both one — and what the daemon hands it again on reload (the client, the
/// configuration). Each subclass owns its own state besides.
class APIStage {
    let store: any QueueStore
    let options: DaemonOptions
    let clock: DaemonClock
    let logger: Logger
    let health: StageBoard
    /// Replaced on reload and when credentials are read again; nil in a dry run.
    var client: TencentCDNClient?
    var config: SiteConfig

    /// The batch lifecycle's timings.
    var lifecyclePolicy: BatchLifecycle.Policy { BatchLifecycle.Policy(options) }

    init(
        store: any QueueStore, client: TencentCDNClient?, config: SiteConfig, options: DaemonOptions, clock: DaemonClock,
        logger: Logger, health: StageBoard
    ) {
        self.store = store
        self.client = client
        self.config = config
        self.options = options
        self.clock = clock
        self.logger = logger
        self.health = health
    }
}
