import Foundation
import StateStore

/// The life of one purge batch (SPEC §6) as a pure function of (state, event, now): every
/// transition — send, accepted, transient retry with jittered backoff, quota wait, reset, split,
/// permanent failure, verification poll, unverified — returns the next state and the actions
/// the submitter performs. No I/O, no clock read, no sleep: table-tested (STYLE habit 1).
///
/// The states are StateStore's ``BatchState`` (it alone maps them to columns); `nil` as the next
/// state means the batch is dissolved (deleted, its URLs planned again). The submitter writes
/// the state this returns and no other: a batch is born `planned` (or `waiting-quota` when the
/// planner finds no room), and every later state of it comes from here.
public enum BatchLifecycle {
    /// The timings, from ``DaemonOptions``.
    public struct Policy: Sendable, Equatable {
        public var retryBase: Duration
        public var retryMax: Duration
        public var verifyInitial: Duration
        public var verifyMax: Duration
        public var unverifiedAfter: Duration
        public var permanentPauseBase: Duration
        public var permanentPauseMax: Duration

        public init(
            retryBase: Duration, retryMax: Duration, verifyInitial: Duration, verifyMax: Duration,
            unverifiedAfter: Duration, permanentPauseBase: Duration, permanentPauseMax: Duration
        ) {
            self.retryBase = retryBase
            self.retryMax = retryMax
            self.verifyInitial = verifyInitial
            self.verifyMax = verifyMax
            self.unverifiedAfter = unverifiedAfter
            self.permanentPauseBase = permanentPauseBase
            self.permanentPauseMax = permanentPauseMax
        }

        public init(_ options: DaemonOptions) {
            self.init(
                retryBase: options.retryBase, retryMax: options.retryMax, verifyInitial: options.verifyInitial,
                verifyMax: options.verifyMax, unverifiedAfter: options.unverifiedAfter,
                permanentPauseBase: options.permanentPauseBase, permanentPauseMax: options.permanentPauseMax)
        }
    }

    /// What a permanent failure concerns (SPEC §6: trouble stays where it starts).
    public enum Scope: Sendable, Equatable {
        /// The account or the credentials: everything would fail the same way.
        case account
        /// One host of the batch (`CdnHostNotExists`, …).
        case host
        /// One URL; `named` when the API said which.
        case url(named: String?)
    }

    /// Why a request was not accepted, as the error classes say.
    public enum Failure: Sendable, Equatable {
        case transient(code: String)
        case quota(resetAt: Date)
        case batchTooBig
        case permanent(code: String, scope: Scope)
    }

    /// What happened to the batch. `attempts` counts sends so far (this one included);
    /// `pauseLevel` is how many account-wide failures came before; `jitter` a draw in [0, 1).
    public enum Event: Sendable, Equatable {
        case send
        case accepted(now: Date)
        case failed(Failure, now: Date, attempts: Int, targets: Int, hosts: Int, pauseLevel: Int, jitter: Double)
        /// A dry run's batch: recorded as sent, nothing sent.
        case simulated
        /// Found `sending` at start: the daemon stopped mid-request (the API may or may not
        /// have it; a purge sent twice is harmless, one never sent is a stale site).
        case interrupted
        /// DescribePurgeTasks answered: `settled` when no target is still in process; `givenUp`
        /// counts URLs whose task failed more often than they may be queued again.
        case polled(settled: Bool, now: Date, acceptedAt: Date, polls: Int, givenUp: Int = 0)
        /// The quota reset came, or a reading shows room.
        case quotaAvailable
    }

    /// What the submitter does.
    public enum Action: Sendable, Equatable {
        case recordAccepted(firstPoll: Date)
        case retry(at: Date)
        case waitForQuota(until: Date)
        case lowerBatchSize(to: Int)
        case splitByHost
        case bisect
        case failAlone(url: String)
        /// The batch and its URLs fail; `pause`: no request for this long (account-wide only).
        case failBatch(pause: Duration?)
        case pollAgain(at: Date, polls: Int)
        case markUnverified
        case settle
        case dissolve
    }

    /// The transition table. Events that do not apply to a state leave it as it is, with no action.
    public static func next(_ state: BatchState, _ event: Event, policy: Policy) -> (state: BatchState?, actions: [Action]) {
        switch (state, event) {
        case (.planned, .send):
            return (.sending, [])

        case (.sending, .accepted(let now)):
            return (.accepted, [.recordAccepted(firstPoll: now + seconds(policy.verifyInitial))])

        case (.sending, .failed(let failure, let now, let attempts, let targets, let hosts, let pauseLevel, let jitter)):
            switch failure {
            case .transient:
                // Exponential backoff, half of it jittered: retries from many batches spread out.
                let ceiling = min(policy.retryBase * Int(1 << min(max(attempts - 1, 0), 10)), policy.retryMax)
                let delay = ceiling * (0.5 + 0.5 * min(max(jitter, 0), 1))
                return (.planned, [.retry(at: now + seconds(delay))])
            case .quota(let resetAt):
                return (.waitingQuota, [.waitForQuota(until: resetAt)])
            case .batchTooBig:
                return (nil, [.lowerBatchSize(to: max(1, targets / 2)), .dissolve])
            case .permanent(_, .account):
                let pause = min(policy.permanentPauseBase * Int(1 << min(pauseLevel, 10)), policy.permanentPauseMax)
                return (.failed, [.failBatch(pause: pause)])
            case .permanent(_, .url(let named?)) where targets > 1:
                return (.planned, [.failAlone(url: named), .retry(at: now)])
            case .permanent(_, _) where hosts > 1:
                return (nil, [.splitByHost])
            case .permanent(_, .url(nil)) where targets > 1:
                return (nil, [.bisect])
            case .permanent:
                return (.failed, [.failBatch(pause: nil)])
            }

        case (.sending, .interrupted):
            return (.planned, [])

        case (.sending, .simulated):
            return (.done, [.settle])

        case (.accepted, .polled(true, _, _, _, let givenUp)):
            return (givenUp > 0 ? .failed : .done, [.settle])

        case (.accepted, .polled(false, let now, let acceptedAt, let polls, _)):
            if now.timeIntervalSince(acceptedAt) >= seconds(policy.unverifiedAfter) {
                return (.unverified, [.markUnverified])
            }
            let delay = min(policy.verifyInitial * Int(1 << min(polls + 1, 10)), policy.verifyMax)
            return (.accepted, [.pollAgain(at: now + seconds(delay), polls: polls + 1)])

        case (.waitingQuota, .quotaAvailable):
            return (nil, [.dissolve])

        default:
            return (state, [])
        }
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
