import PurgeCore

/// Delays full walks that repeat: the first runs at once; the next one within `quietPeriod`
/// waits `initial` after it, and each further one twice as long as the last (up to `maximum`),
/// so an overflow loop cannot pin the CPU (watchman #1354). After `quietPeriod` without a full
/// walk, the next one runs at once again.
public struct RescanBackoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public var quietPeriod: Duration
    public private(set) var lastRun: ContinuousClock.Instant?
    public private(set) var delay: Duration = .zero

    public init(
        initial: Duration = .seconds(1), maximum: Duration = .seconds(60), quietPeriod: Duration = .seconds(120)
    ) {
        self.initial = initial
        self.maximum = maximum
        self.quietPeriod = quietPeriod
    }

    /// The earliest instant the next full walk may start.
    public func earliestNextRun(now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        guard let lastRun, now - lastRun < quietPeriod else { return now }
        return lastRun + delay
    }

    /// Records that a full walk started at `now`.
    public mutating func didRun(now: ContinuousClock.Instant) {
        if let lastRun, now - lastRun < quietPeriod {
            delay = max(initial, min(delay * 2, maximum))
        } else {
            delay = initial
        }
        lastRun = now
    }
}

/// The touched paths and rescan requests accumulated while a coalescing window is open.
///
/// Feed it every ``SiteEvent``; when the window closes, ``take(now:)`` returns the scope to pass
/// to ``Detector/detect(_:in:)``. Time is an input, so it is tested without sleeping.
public struct PendingChanges: Sendable {
    /// The touched paths; `[.root]` once more than ``Detector/largeScopeThreshold`` were touched
    /// (the detector walks the whole tree for those anyway, so a 1,000,000-file rewrite does not
    /// keep 1,000,000 paths here until its window closes).
    public private(set) var paths: Set<RelativePath> = []
    /// Why a full walk is pending (the first reason since the last one), or `nil`.
    public private(set) var fullRescanReason: RescanReason?
    public var backoff: RescanBackoff

    public init(backoff: RescanBackoff = RescanBackoff()) {
        self.backoff = backoff
    }

    public var isEmpty: Bool { paths.isEmpty && fullRescanReason == nil }

    public mutating func absorb(_ event: SiteEvent) {
        switch event {
        case .touched(let touched): add(touched)
        case .rescanNeeded(let reason): requestFullRescan(reason)
        case .degraded, .watchesRestored, .rootUnavailable, .barrier: break
        }
    }

    /// Asks for a full walk (the startup reconcile uses this too).
    public mutating func requestFullRescan(_ reason: RescanReason) {
        if fullRescanReason == nil { fullRescanReason = reason }
    }

    /// The scope to detect now, or `nil` when there is nothing to do yet. A full walk that is
    /// held back by ``backoff`` lets the touched paths through meanwhile.
    public mutating func take(now: ContinuousClock.Instant) -> DetectionScope? {
        if fullRescanReason != nil, backoff.earliestNextRun(now: now) <= now {
            backoff.didRun(now: now)
            fullRescanReason = nil
            paths = []
            return .full
        }
        guard !paths.isEmpty else { return nil }
        defer { paths = [] }
        return .paths(paths)
    }

    /// Takes everything for a full walk that runs now whatever the backoff says (a flush waits on
    /// it): it covers the touched paths and a full walk owed, which counts as run.
    public mutating func takeAllForFullWalk(now: ContinuousClock.Instant) {
        if fullRescanReason != nil {
            backoff.didRun(now: now)
            fullRescanReason = nil
        }
        paths = []
    }

    /// Puts a scope back after a detection failed (e.g. the root was mid-replacement).
    public mutating func restore(_ scope: DetectionScope, reason: RescanReason = .overflow) {
        switch scope {
        case .full: requestFullRescan(reason)
        case .paths(let restored): add(restored)
        }
    }

    private mutating func add(_ touched: Set<RelativePath>) {
        if paths.contains(.root) { return }
        paths.formUnion(touched)
        if paths.count > Detector.largeScopeThreshold { paths = [.root] }
    }
}
