/// When the control server listens, and what it says, while `accept(2)` fails for want of a file
/// descriptor (`EMFILE`, `ENFILE`).
///
/// A connection that cannot be accepted stays in the listening socket's backlog, so `poll(2)`
/// reports it again at once: polling on would spin until the limit is raised. Instead the
/// listening socket is left out of the poll for a pause that doubles from ``firstPause`` to
/// ``longestPause`` while the refusals go on, and ends early when the server takes back its
/// spare descriptor (a slot is free again). The condition is reported once when it begins and
/// once when it ends, whatever the number of attempts (no log storm).
///
/// Pure: fed the outcomes and the time, it returns what to report; the server does the rest.
struct AcceptBackoff {
    static let firstPause: Duration = .milliseconds(50)
    static let longestPause: Duration = .seconds(5)

    /// What the server should say.
    enum Report: Equatable {
        /// Out of descriptors, first seen (the pause, if any, is ``pausedUntil``).
        case outOfDescriptors
        /// A client was accepted without the spare: the condition is over.
        case recovered
    }

    /// Until when the listening socket is left out of the poll; nil while it is polled.
    private(set) var pausedUntil: ContinuousClock.Instant?
    /// Whether the condition was reported and not yet reported over.
    private(set) var reported = false
    private var pause: Duration = .zero

    /// Whether to poll the listening socket at `now` (a pause that has run out is over).
    func polls(at now: ContinuousClock.Instant) -> Bool {
        pausedUntil.map { $0 <= now } ?? true
    }

    /// When the pause in force at `now` ends (the server's poll wakes then); nil while polled.
    func pauseEnd(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        polls(at: now) ? nil : pausedUntil
    }

    /// `accept` failed for want of a descriptor and no spare could make room: pause listening.
    mutating func refused(at now: ContinuousClock.Instant) -> Report? {
        pause = pause == .zero ? Self.firstPause : min(pause * 2, Self.longestPause)
        pausedUntil = now.advanced(by: pause)
        return noteTrouble()
    }

    /// A client was accepted only after the spare descriptor was closed for it.
    mutating func acceptedThroughSpare() -> Report? {
        noteTrouble()
    }

    /// A client was accepted as usual: whatever pause and trouble there was is over.
    mutating func accepted() -> Report? {
        pause = .zero
        pausedUntil = nil
        guard reported else { return nil }
        reported = false
        return .recovered
    }

    /// The spare descriptor was taken back: a slot is free, so a waiting client may be accepted
    /// through it at once. The pause keeps its length, so refusals that go on keep growing it.
    mutating func spareRetaken() {
        pausedUntil = nil
    }

    private mutating func noteTrouble() -> Report? {
        guard !reported else { return nil }
        reported = true
        return .outOfDescriptors
    }
}
