/// The coalescing window of SPEC §1/§5 as a value-type state machine.
///
/// A window opens at the first change and closes after `quiet` without new changes or at
/// `maxDelay` after it opened, whichever comes first; `flush` closes it at once. Time is an
/// input: the caller passes `now` and sleeps until ``deadline``.
public struct Coalescer<Instant: InstantProtocol>: Sendable where Instant.Duration == Duration {
    public let quiet: Duration
    public let maxDelay: Duration

    private enum State: Sendable {
        case idle
        case open(openedAt: Instant, lastChangeAt: Instant)
        case flushing
    }

    private var state: State = .idle

    public init(quiet: Duration, maxDelay: Duration) {
        self.quiet = quiet
        self.maxDelay = maxDelay
    }

    /// A change was seen.
    public mutating func noteChange(at now: Instant) {
        switch state {
        case .idle: state = .open(openedAt: now, lastChangeAt: now)
        case .open(let openedAt, _): state = .open(openedAt: openedAt, lastChangeAt: now)
        case .flushing: break
        }
    }

    /// `purgewatch flush`: the window closes now, even if nothing is pending.
    public mutating func flush() {
        state = .flushing
    }

    /// Whether a window is open (or a flush is pending).
    public var isOpen: Bool {
        if case .idle = state { return false }
        return true
    }

    /// When the window closes; nil when no window is open.
    public var deadline: Instant? {
        switch state {
        case .idle: return nil
        case .flushing: return nil
        case .open(let openedAt, let lastChangeAt):
            let quietEnd = lastChangeAt.advanced(by: quiet)
            let hardEnd = openedAt.advanced(by: maxDelay)
            return quietEnd < hardEnd ? quietEnd : hardEnd
        }
    }

    /// Whether the window has closed at `now`.
    public func isDue(at now: Instant) -> Bool {
        switch state {
        case .idle: return false
        case .flushing: return true
        case .open: return deadline.map { now >= $0 } ?? false
        }
    }

    /// Takes the closed window: returns true (and resets) when it is due at `now`.
    public mutating func takeIfDue(at now: Instant) -> Bool {
        guard isDue(at: now) else { return false }
        state = .idle
        return true
    }
}
