import Daemon
import Foundation
import PurgewatchCLI

// The end-to-end tests' purgewatch: the same CLI as the shipped binary, with the daemon's
// options adjusted from the environment — the only place any PURGEWATCH_TEST_* variable is
// read. The shipped binary (Sources/purgewatch) reads none.
//
// - PURGEWATCH_TEST_TIME_SCALE (0 < s < 1): every timing multiplied by it
//   (`DaemonOptions.scaled(by:)`): a 30 s retry is 300 ms at 0.01.
// - PURGEWATCH_TEST_WALL_CLOCK_OFFSET (seconds): the wall clock of the daemon and of `status`
//   shifted by it (the quota day at 00:00 UTC+8, verification deadlines, retention), the
//   monotonic clock untouched: the tests cross a reset or 7 days in seconds.
let environment = ProcessInfo.processInfo.environment
let scale = environment["PURGEWATCH_TEST_TIME_SCALE"].flatMap(Double.init).flatMap { $0 > 0 && $0 < 1 ? $0 : nil }
let offset = environment["PURGEWATCH_TEST_WALL_CLOCK_OFFSET"].flatMap(TimeInterval.init).flatMap { $0.isFinite ? $0 : nil }

let adjust: @Sendable (inout DaemonOptions) -> Void = { options in
    if let scale { options = options.scaled(by: scale) }
    if let offset {
        let system = DaemonClock.system
        options.clock = DaemonClock(wall: { Date().addingTimeInterval(offset) }, now: system.now, sleep: system.sleep)
    }
}
PurgeWatch.prepareProcess()
await PurgeWatch.$adjustOptions.withValue(adjust) {
    await PurgeWatch.runAsRoot()
}
