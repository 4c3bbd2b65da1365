/// SPEC §9's rule for a fleet: a URL's new version is purged once, and only after every live
/// origin of the site holds the new bytes — or, when `converge` has passed since the first origin
/// reported it, at once with a warning naming the origins that lag, and once more when they have
/// caught up (the CDN may have fetched the old bytes from a laggard in between).
///
/// A newer version of the path supersedes this one: the caller drops this machine and starts one
/// for the newer content (an origin holding a third content lags here until then). With no live
/// origin at all, nothing serves the old bytes: it is purged at once.
///
/// A pure state machine over one path's new version: the origins' latest observations of the
/// path, their heartbeats and the clock are inputs; what to do, and when to look again, are its
/// answers. Times are wall-clock milliseconds, as the shared state keeps them. Table-tested
/// without a database or a clock (`PurgeCoreTests/ConvergenceTests`).
public struct Convergence: Sendable, Equatable {
    /// What an origin holds at the path.
    public enum Content: Sendable, Hashable {
        /// The file, by the SHA-256 of its bytes.
        case bytes([UInt8])
        case deleted
    }

    /// One origin of the site: its name, when it was last heard of (its heartbeat), and its
    /// latest observation of the path (nil: it never reported the path).
    public struct Origin: Sendable, Equatable {
        public var name: String
        public var lastSeenMilliseconds: Int64
        public var observed: Content?

        public init(name: String, lastSeenMilliseconds: Int64, observed: Content?) {
            self.name = name
            self.lastSeenMilliseconds = lastSeenMilliseconds
            self.observed = observed
        }
    }

    public enum State: Sendable, Equatable {
        /// Not purged yet.
        case waiting
        /// Purged before every live origin held it (converge passed); these lagged then.
        case purgedEarly(laggards: [String])
        /// Purged with every live origin holding it: nothing more to do for this version.
        case done
    }

    /// What to do now.
    public enum Action: Sendable, Equatable {
        /// Nothing; look again at `until` (nil: only when an observation or heartbeat changes).
        case wait(until: Int64?)
        /// Purge: every live origin holds the version.
        case purge
        /// Purge now although these live origins lag (`converge` passed): a warning names them.
        case purgeLagging([String])
        /// Purge again: the origins that lagged at the early purge hold the version now (or are
        /// gone, serving nothing).
        case purgeAgain
    }

    /// The version every origin should come to hold.
    public let target: Content
    /// When the first origin reported it.
    public let firstReportedMilliseconds: Int64
    public let convergeMilliseconds: Int64
    public let originTimeoutMilliseconds: Int64
    public private(set) var state: State = .waiting

    public init(target: Content, firstReportedMilliseconds: Int64, convergeMilliseconds: Int64, originTimeoutMilliseconds: Int64) {
        self.target = target
        self.firstReportedMilliseconds = firstReportedMilliseconds
        self.convergeMilliseconds = convergeMilliseconds
        self.originTimeoutMilliseconds = originTimeoutMilliseconds
    }

    /// Whether `origin` is live at `now`: heard of within `origin_timeout`.
    public func isLive(_ origin: Origin, now: Int64) -> Bool {
        origin.lastSeenMilliseconds + originTimeoutMilliseconds > now
    }

    /// Whether `origin` holds the version: it reported exactly that content. An origin with no
    /// report of the path does not — it may hold the file unchanged since its baseline — so it
    /// lags until it reports (or until `converge`).
    public func holds(_ origin: Origin) -> Bool {
        origin.observed == target
    }

    /// Looks at the origins at `now`, moves on, and says what to do.
    public mutating func step(origins: [Origin], now: Int64) -> Action {
        let live = origins.filter { isLive($0, now: now) }
        let lagging = live.filter { !holds($0) }.map(\.name).sorted()
        switch state {
        case .done:
            return .wait(until: nil)
        case .waiting:
            if lagging.isEmpty {
                state = .done
                return .purge
            }
            let deadline = firstReportedMilliseconds + convergeMilliseconds
            if now >= deadline {
                state = .purgedEarly(laggards: lagging)
                return .purgeLagging(lagging)
            }
            return .wait(until: min(deadline, nextExpiry(of: live.filter { !holds($0) })))
        case .purgedEarly(let laggards):
            // A laggard that went away serves nothing; one still live must hold the version.
            let waitingFor = live.filter { laggards.contains($0.name) && !holds($0) }
            if waitingFor.isEmpty {
                state = .done
                return .purgeAgain
            }
            return .wait(until: nextExpiry(of: waitingFor))
        }
    }

    /// The first instant one of `origins` stops being live (nothing to wait for: `Int64.max`).
    private func nextExpiry(of origins: [Origin]) -> Int64 {
        origins.map { $0.lastSeenMilliseconds + originTimeoutMilliseconds }.min() ?? Int64.max
    }
}
