import Daemon
import Foundation
import StateStore
import Testing

/// Every transition of ``BatchLifecycle``, table-tested without sleeping: time is an input.
@Suite struct BatchLifecycleTests {
    static let policy = BatchLifecycle.Policy(
        retryBase: .seconds(30), retryMax: .seconds(900), verifyInitial: .seconds(15), verifyMax: .seconds(300),
        unverifiedAfter: .seconds(1_800), permanentPauseBase: .seconds(60), permanentPauseMax: .seconds(900))
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    static let reset = Date(timeIntervalSince1970: 1_800_028_800)

    typealias E = BatchLifecycle.Event
    typealias A = BatchLifecycle.Action

    static func failed(
        _ failure: BatchLifecycle.Failure, attempts: Int = 1, targets: Int = 10, hosts: Int = 1, pauseLevel: Int = 0,
        jitter: Double = 1
    ) -> E {
        .failed(failure, now: t0, attempts: attempts, targets: targets, hosts: hosts, pauseLevel: pauseLevel, jitter: jitter)
    }

    struct Row: Sendable, CustomTestStringConvertible {
        var name: String
        var from: BatchState
        var event: E
        var to: BatchState?
        var actions: [A]
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "send", from: .planned, event: .send, to: .sending, actions: []),
        Row(
            name: "accepted: first poll after verifyInitial", from: .sending, event: .accepted(now: t0), to: .accepted,
            actions: [.recordAccepted(firstPoll: t0 + 15)]),
        Row(
            name: "transient, 1st attempt, full jitter draw", from: .sending, event: failed(.transient(code: "InternalError")),
            to: .planned, actions: [.retry(at: t0 + 30)]),
        Row(
            name: "transient, jitter halves the delay at most", from: .sending,
            event: failed(.transient(code: "InternalError"), jitter: 0), to: .planned, actions: [.retry(at: t0 + 15)]),
        Row(
            name: "transient, 3rd attempt doubles twice", from: .sending,
            event: failed(.transient(code: "RequestLimitExceeded"), attempts: 3), to: .planned, actions: [.retry(at: t0 + 120)]),
        Row(
            name: "transient backoff is capped", from: .sending, event: failed(.transient(code: "HTTPError.502"), attempts: 20),
            to: .planned, actions: [.retry(at: t0 + 900)]),
        Row(
            name: "quota: wait for the reset", from: .sending, event: failed(.quota(resetAt: reset)), to: .waitingQuota,
            actions: [.waitForQuota(until: reset)]),
        Row(
            name: "batch too big: halve and plan again", from: .sending, event: failed(.batchTooBig, targets: 1_000), to: nil,
            actions: [.lowerBatchSize(to: 500), .dissolve]),
        Row(
            name: "batch too big of one stays one", from: .sending, event: failed(.batchTooBig, targets: 1), to: nil,
            actions: [.lowerBatchSize(to: 1), .dissolve]),
        Row(
            name: "account-wide permanent: fail and pause", from: .sending,
            event: failed(.permanent(code: "AuthFailure.SecretIdNotFound", scope: .account)), to: .failed,
            actions: [.failBatch(pause: .seconds(60))]),
        Row(
            name: "account-wide again: the pause doubles, capped", from: .sending,
            event: failed(.permanent(code: "AuthFailure.SecretIdNotFound", scope: .account), pauseLevel: 5), to: .failed,
            actions: [.failBatch(pause: .seconds(900))]),
        Row(
            name: "named URL: it fails alone, the rest goes at once", from: .sending,
            event: failed(.permanent(code: "InvalidParameter.CdnUrlExceedLength", scope: .url(named: "https://h/x"))),
            to: .planned, actions: [.failAlone(url: "https://h/x"), .retry(at: t0)]),
        Row(
            name: "host failure with two hosts: split by host", from: .sending,
            event: failed(.permanent(code: "ResourceNotFound.CdnHostNotExists", scope: .host), hosts: 2), to: nil,
            actions: [.splitByHost]),
        Row(
            name: "unnamed URL with two hosts: split by host first", from: .sending,
            event: failed(.permanent(code: "InvalidParameter.CdnParamError", scope: .url(named: nil)), hosts: 2), to: nil,
            actions: [.splitByHost]),
        Row(
            name: "unnamed URL, one host: bisect", from: .sending,
            event: failed(.permanent(code: "InvalidParameter.CdnParamError", scope: .url(named: nil))), to: nil,
            actions: [.bisect]),
        Row(
            name: "host failure, one host: the batch fails, nothing pauses", from: .sending,
            event: failed(.permanent(code: "ResourceNotFound.CdnHostNotExists", scope: .host)), to: .failed,
            actions: [.failBatch(pause: nil)]),
        Row(
            name: "a URL alone that fails: it fails, nothing pauses", from: .sending,
            event: failed(.permanent(code: "InvalidParameter.CdnParamError", scope: .url(named: nil)), targets: 1), to: .failed,
            actions: [.failBatch(pause: nil)]),
        Row(
            name: "poll: settled", from: .accepted, event: .polled(settled: true, now: t0, acceptedAt: t0, polls: 0), to: .done,
            actions: [.settle]),
        Row(
            name: "poll: settled, but URLs given up after their retries: the batch failed", from: .accepted,
            event: .polled(settled: true, now: t0, acceptedAt: t0, polls: 3, givenUp: 2), to: .failed, actions: [.settle]),
        Row(name: "dry run: recorded as done, nothing to poll", from: .sending, event: .simulated, to: .done, actions: [.settle]),
        Row(
            name: "found sending at start: planned again, due at once", from: .sending, event: .interrupted, to: .planned,
            actions: []),
        Row(
            name: "poll: in process, next poll doubles", from: .accepted,
            event: .polled(settled: false, now: t0 + 15, acceptedAt: t0, polls: 0), to: .accepted,
            actions: [.pollAgain(at: t0 + 15 + 30, polls: 1)]),
        Row(
            name: "poll: the interval is capped", from: .accepted,
            event: .polled(settled: false, now: t0 + 600, acceptedAt: t0, polls: 9), to: .accepted,
            actions: [.pollAgain(at: t0 + 600 + 300, polls: 10)]),
        Row(
            name: "poll: still in process 30 min after acceptance", from: .accepted,
            event: .polled(settled: false, now: t0 + 1_800, acceptedAt: t0, polls: 12), to: .unverified, actions: [.markUnverified]),
        Row(
            name: "poll: 29 min 59 s is not yet unverified", from: .accepted,
            event: .polled(settled: false, now: t0 + 1_799, acceptedAt: t0, polls: 12), to: .accepted,
            actions: [.pollAgain(at: t0 + 1_799 + 300, polls: 13)]),
        Row(
            name: "quota reset: waiting work is planned again", from: .waitingQuota, event: .quotaAvailable, to: nil,
            actions: [.dissolve]),
        // Events that do not apply change nothing.
        Row(
            name: "a done batch ignores a late poll", from: .done, event: .polled(settled: true, now: t0, acceptedAt: t0, polls: 0),
            to: .done, actions: []),
        Row(
            name: "unverified is final", from: .unverified, event: .polled(settled: false, now: t0, acceptedAt: t0, polls: 0),
            to: .unverified, actions: []),
        Row(
            name: "a planned batch is not 'accepted' without being sent", from: .planned, event: .accepted(now: t0), to: .planned,
            actions: []),
        Row(name: "the quota does not touch a planned batch", from: .planned, event: .quotaAvailable, to: .planned, actions: []),
        Row(
            name: "an accepted batch is never 'interrupted' (the API has it)", from: .accepted, event: .interrupted, to: .accepted,
            actions: []),
        Row(name: "a dry run never settles a planned batch unsent", from: .planned, event: .simulated, to: .planned, actions: []),
    ]

    @Test(arguments: rows)
    func transition(_ row: Row) {
        let (state, actions) = BatchLifecycle.next(row.from, row.event, policy: Self.policy)
        #expect(state == row.to, "\(row.name)")
        #expect(actions == row.actions, "\(row.name)")
    }

    /// Every state × event pair answers (the table is total) and never resurrects a final state.
    @Test func finalStatesStayFinal() {
        let events: [E] = [
            .send, .accepted(now: Self.t0), Self.failed(.transient(code: "x")), Self.failed(.batchTooBig),
            .polled(settled: true, now: Self.t0, acceptedAt: Self.t0, polls: 0), .quotaAvailable, .simulated, .interrupted,
        ]
        for state in [BatchState.done, .failed, .unverified] {
            for event in events {
                let (next, actions) = BatchLifecycle.next(state, event, policy: Self.policy)
                #expect(next == state && actions.isEmpty, "\(state) on \(event)")
            }
        }
    }
}
