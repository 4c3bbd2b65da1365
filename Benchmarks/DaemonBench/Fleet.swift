import Foundation
import Glibc
import TencentEmulator

/// `bench-daemon --fleet URL` (issue 20; `Benchmarks/run.sh --fleet`): the same site on
/// `--origins` roots (3), each with its own daemon on the PostgreSQL state at URL (a fresh,
/// empty database), beside one origin on SQLite in the same run, against one emulator.
///
/// - Deploy: `--changed` files (5,000) rewritten in a staging tree, rsynced to each origin in
///   turn `--stagger` seconds apart (2 s); the single origin gets the same rsync. Figure: last
///   write (the last rsync's return) → last purge accepted, minus `quiet`, beside the single
///   origin's. The fleet's goal: within 2 s of it beyond the convergence wait (which ends with the
///   last origin's report: its own `quiet` after its rsync).
/// - READY warm: a daemon restarted on its complete manifest, fleet vs SQLite.
/// - Queue throughput: the changed URLs over (the window's close → last accepted), both.
func runFleetBenchmark(_ options: Options, databaseURL: String) async throws -> Bool {
    let quiet = options.quietDuration
    let purgewatch =
        options.purgewatch.hasPrefix("/") ? options.purgewatch : FileManager.default.currentDirectoryPath + "/" + options.purgewatch
    let directory = options.temporary + "/pw-bench-fleet-\(UUID().uuidString.prefix(8))"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let emulator = try await TencentEmulator.start(EmulatorConfiguration())

    // The site once, copied to every root (cp -a keeps the times, as a deploy to a new origin does).
    note("generating \(options.files) files, \(options.origins) origins + 1 single…")
    let site = Site(root: directory + "/source", files: options.files, directories: options.directories, changed: options.changed)
    site.generate()
    let roots = (0...options.origins).map { directory + "/root\($0)" }  // root0: the single origin
    for root in roots { _ = run("/bin/cp", ["-a", site.root, root], environment: [:], scratch: directory) }
    // The deploy's tree: every changed file at revision 2.
    let staging = directory + "/staging"
    _ = run("/bin/cp", ["-a", site.root, staging], environment: [:], scratch: directory)
    for index in site.relativePaths.indices where site.changed[index] {
        site.writeFile(path: staging + "/" + site.relativePaths[index], header: site.header(index, revision: 2), index: index, flags: 0)
    }

    var environment = ProcessInfo.processInfo.environment
    for key in ["TENCENTCLOUD_TOKEN", "CREDENTIALS_DIRECTORY", "STATE_DIRECTORY", "NOTIFY_SOCKET", "PURGEWATCH_TEST_TIME_SCALE"] {
        environment[key] = nil
    }
    environment["TENCENTCLOUD_SECRET_ID"] = emulator.secretId
    environment["TENCENTCLOUD_SECRET_KEY"] = emulator.secretKey
    environment["PURGEWATCH_LOG_LEVEL"] = options.logLevel ?? "info"

    func config(_ index: Int) -> String {
        let fleet =
            index == 0
            ? ""
            : """
            url = "\(databaseURL)"
            [fleet]
            origin = "web\(index)"
            site = "bench"
            converge = "2m"
            origin_timeout = "30s"
            """
        return benchConfig(
            root: roots[index], state: "\(directory)/state\(index)/site.sqlite", stateExtra: fleet, quiet: options.quiet,
            endpoint: emulator.endpoint)
    }

    /// Starts origin `index` and waits for READY=1: the seconds it took.
    func start(_ index: Int) -> (Daemon, NotifyListener, Double) {
        let path = directory + "/config\(index).toml"
        try? config(index).write(toFile: path, atomically: true, encoding: .utf8)
        let listener = NotifyListener(path: directory + "/notify\(index)-\(UUID().uuidString.prefix(4)).sock")
        var env = environment
        env["NOTIFY_SOCKET"] = listener.path
        let started = ContinuousClock.now
        let daemon = Daemon.spawn(purgewatch, ["run", "--config", path], environment: env, logPath: directory + "/daemon\(index).log")
        guard listener.waitForReady(daemon: daemon, timeout: .seconds(options.timeout)) else {
            fail(
                "origin \(index) never became ready; log: \((try? String(contentsOfFile: directory + "/daemon\(index).log", encoding: .utf8)) ?? "")")
        }
        return (daemon, listener, seconds(ContinuousClock.now - started))
    }

    // Cold starts (the baselines), then a warm restart of the single origin and of web1.
    var running = (0...options.origins).map { start($0) }
    func restart(_ index: Int) -> Double {
        _ = running[index].0.terminate()
        running[index].1.close()
        running[index] = start(index)
        return running[index].2
    }
    let warmSingle = restart(0)
    let warmFleet = restart(1)

    /// Deploys to `indices` (stagger apart) and waits until every changed URL is accepted:
    /// (last write → last accepted − quiet, first write → last accepted, accepted URLs).
    func deploy(to indices: [Int], stagger: Double) async -> (latency: Double, span: Double, complete: Bool) {
        let before = Set(emulator.requests.map(\.arrival))
        let firstWrite = ContinuousClock.now
        var lastWrite = firstWrite
        for (position, index) in indices.enumerated() {
            if position > 0 { try? await Task.sleep(for: .seconds(stagger)) }
            _ = run("/usr/bin/rsync", ["-a", staging + "/", roots[index] + "/"], environment: [:], scratch: directory)
            lastWrite = ContinuousClock.now
        }
        let expected = site.changedURLs
        let deadline = ContinuousClock.now.advanced(by: .seconds(options.timeout))
        var accepted: [RecordedRequest] = []
        while ContinuousClock.now < deadline {
            accepted = emulator.requests.filter { $0.action == "PurgeUrlsCache" && $0.outcome == "accepted" && !before.contains($0.arrival) }
            if accepted.reduce(0, { $0 + $1.urlCount }) >= expected.count { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        let complete = accepted.reduce(0, { $0 + $1.urlCount }) >= expected.count
        guard let last = accepted.map(\.arrival).max() else { return (.nan, .nan, false) }
        return (seconds(last - lastWrite - quiet), seconds(last - firstWrite), complete)
    }
    note("deploy to the single origin…")
    let single = await deploy(to: [0], stagger: 0)
    try? await Task.sleep(for: .seconds(2))
    note("deploy to \(options.origins) origins, \(options.stagger) s apart…")
    let fleet = await deploy(to: Array(1...options.origins), stagger: options.stagger)
    // The fleet's purges began once its last origin reported: the queue's own time is from then.
    let perURLs = Double(options.changed)
    for (daemon, listener, _) in running {
        _ = daemon.terminate()
        listener.close()
    }
    await emulator.shutdown()
    let charged = emulator.acceptedURLs.count
    say(
        "fleet: \(options.origins) origins × \(options.files) files, \(options.changed) changed, rsync \(options.stagger) s apart; single origin on SQLite in the same run"
    )
    say("  last write → last batch accepted − quiet: fleet \(format(fleet.latency)) s, single \(format(single.latency)) s")
    say("  READY warm: fleet (PostgreSQL) \(format(warmFleet)) s, single (SQLite) \(format(warmSingle)) s")
    // Through the queue: from the window's close (last write + quiet) to the last acceptance.
    say(
        "  queue throughput (changed URLs / (last write + quiet → last accepted)): fleet \(format(perURLs / max(fleet.latency, 0.001), 0)) URLs/s, single \(format(perURLs / max(single.latency, 0.001), 0)) URLs/s"
    )
    say("  URLs charged: \(charged) for \(2 * options.changed) changed (single + fleet): each once = \(charged == 2 * options.changed)")
    say(
        "RESULT fleet_latency_s=\(format(fleet.latency)) single_latency_s=\(format(single.latency)) fleet_ready_warm_s=\(format(warmFleet)) single_ready_warm_s=\(format(warmSingle)) fleet_span_s=\(format(fleet.span)) single_span_s=\(format(single.span)) charged=\(charged) complete=\(fleet.complete && single.complete ? "yes" : "no")"
    )
    return fleet.complete && single.complete
}
