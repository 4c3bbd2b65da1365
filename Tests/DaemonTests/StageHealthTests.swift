import Testing

@testable import Daemon

/// The watchdog's rule (SPEC §6): WATCHDOG=1 only while every stage is idle or busy for less
/// than its bound — a slow request within its deadline keeps the pings, a hung stage stops them.
@Suite struct StageHealthTests {
    static let bounds: [StageHealth.Stage: Duration] = [
        .controlLoop: .seconds(60), .detector: .seconds(1_800), .submitter: .seconds(180), .verifier: .seconds(180),
    ]

    struct Row: Sendable, CustomTestStringConvertible {
        var busy: [(StageHealth.Stage, Duration)]  // stage, busy for this long at `now`
        var stuck: StageHealth.Stage?
        var testDescription: String { "\(busy.map { "\($0.0) \($0.1)" }) → \(stuck.map { "\($0)" } ?? "healthy")" }
    }

    static let rows: [Row] = [
        Row(busy: [], stuck: nil),
        // A 20 s API answer is within the submitter's and the verifier's bound.
        Row(busy: [(.submitter, .seconds(20)), (.verifier, .seconds(20))], stuck: nil),
        Row(busy: [(.submitter, .seconds(181))], stuck: .submitter),
        Row(busy: [(.verifier, .seconds(181))], stuck: .verifier),
        // A long first hash of a big tree is not a hang; past 30 min it is.
        Row(busy: [(.detector, .seconds(600))], stuck: nil),
        Row(busy: [(.detector, .seconds(1_801))], stuck: .detector),
        // The control loop never awaits I/O: a minute on one input is a hang.
        Row(busy: [(.controlLoop, .seconds(59))], stuck: nil),
        Row(busy: [(.controlLoop, .seconds(61)), (.submitter, .seconds(10))], stuck: .controlLoop),
    ]

    @Test(arguments: rows)
    func stuckOnlyPastTheBound(_ row: Row) {
        let now = ContinuousClock.now.advanced(by: .seconds(10_000))
        var health = StageHealth()
        for (stage, busyFor) in row.busy { health.begin(stage, now: now.advanced(by: .zero - busyFor)) }
        #expect(health.stuck(now: now, bounds: Self.bounds) == row.stuck)
    }

    @Test func aStageThatEndsIsHealthyAgain() {
        let start = ContinuousClock.now
        var health = StageHealth()
        health.begin(.submitter, now: start)
        #expect(health.stuck(now: start.advanced(by: .seconds(200)), bounds: Self.bounds) == .submitter)
        health.end(.submitter)
        #expect(health.stuck(now: start.advanced(by: .seconds(200)), bounds: Self.bounds) == nil)
    }
}
