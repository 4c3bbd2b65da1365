// bench-sitewatch: the SiteWatch side of Benchmarks/sitewatch.sh (not a test).
//
//   bench-sitewatch generate TREE [DIRS] [FILES_PER_DIR]   deterministic site tree
//   bench-sitewatch cold TREE DB      first walk: hash every file, record the manifest
//   bench-sitewatch warm TREE DB      walk against a full manifest (stat only)
//   bench-sitewatch watch TREE        set up every watch, print "Watches established." to stderr, wait
//   bench-sitewatch rewrite TREE DB   rewrite every file with its own bytes while watching, then detect
//   bench-sitewatch walk|noop TREE    the walker alone; the RSS floor
//
// Each mode prints one line `key=value ...`; peak RSS is measured from outside (/usr/bin/time -v)
// and from /proc/self/status (VmHWM).
import Glibc
import Logging
import PurgeCore
import SiteWatch
import StateStore

func fail(_ message: String) -> Never {
    let line = "bench-sitewatch: \(message)\n"
    _ = line.withCString { write(2, $0, strlen($0)) }
    exit(1)
}

func say(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(1, $0, strlen($0)) }
}

func peakRSSKiB() -> Int {
    guard let file = fopen("/proc/self/status", "r") else { return -1 }
    defer { fclose(file) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, 256, file) != nil {
        let text = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if text.hasPrefix("VmHWM:") { return Int(text.split(separator: " ").dropFirst().first ?? "") ?? -1 }
    }
    return -1
}

func seconds(_ duration: Duration) -> String {
    let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    let scaled = (value * 1000).rounded() / 1000
    return "\(scaled)"
}

/// Writes DIRS directories (50 sections × DIRS/50 subdirectories) with FILES_PER_DIR files each,
/// 1–4 KiB of deterministic content per file.
func generate(root: String, directories: Int, filesPerDirectory: Int) {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 33
    }
    let sections = 50
    let perSection = max(1, directories / sections)
    mkdir(root, 0o755)
    var buffer = [UInt8](repeating: 0, count: 4096)
    var files = 0
    for section in 0..<sections {
        let sectionPath = root + "/section\(section)"
        mkdir(sectionPath, 0o755)
        for sub in 0..<perSection {
            // The section directory itself counts as one of the directories.
            let directory = sub == 0 ? sectionPath : sectionPath + "/post\(sub)"
            if sub != 0 { mkdir(directory, 0o755) }
            for index in 0..<filesPerDirectory {
                let size = 1024 + Int(next() % 3072)
                for offset in 0..<size { buffer[offset] = UInt8(32 + next() % 90) }
                let fd = open(directory + "/page\(index).html", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                if fd < 0 { fail("cannot write under \(directory)") }
                _ = buffer.withUnsafeBytes { write(fd, $0.baseAddress, size) }
                close(fd)
                files += 1
            }
        }
    }
    say("generated=\(files) directories=\(sections * perSection)")
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else { fail("usage: bench-sitewatch generate|cold|warm|watch TREE [DB]") }
let mode = arguments[1]
let tree = arguments[2]
let clock = ContinuousClock()
/// The daemon's default `[site] exclude` (SPEC §3), so the walk pays what the daemon pays;
/// `BENCH_EXCLUDE="p1 p2"` replaces it, `BENCH_EXCLUDE=""` excludes nothing.
let exclusion = ExclusionRule(
    patterns: (getenv("BENCH_EXCLUDE").map { String(cString: $0) } ?? ".* *.tmp *.swp *~").split(separator: " ").map(
        String.init))

switch mode {
case "generate":
    let directories = arguments.count > 3 ? Int(arguments[3]) ?? 5000 : 5000
    let files = arguments.count > 4 ? Int(arguments[4]) ?? 10 : 10
    generate(root: tree, directories: directories, filesPerDirectory: files)

case "cold", "warm":
    guard arguments.count >= 4 else { fail("usage: bench-sitewatch \(mode) TREE DB") }
    let db: StateDatabase
    do { db = try StateDatabase.open(path: arguments[3]) } catch { fail("\(error)") }
    let detector = Detector(root: tree, exclude: exclusion)
    let start = clock.now
    let detection: Detection
    do { detection = try await detector.detect(.full, in: db) } catch { fail("\(error)") }
    let detected = clock.now
    do { try await detector.commit(detection, in: db) } catch { fail("\(error)") }
    let committed = clock.now
    say(
        "mode=\(mode) files=\(detection.filesScanned) hashed=\(detection.filesHashed) changes=\(detection.changes.count) "
            + "baseline=\(detection.isBaseline) detect_s=\(seconds(detected - start)) commit_s=\(seconds(committed - detected)) "
            + "total_s=\(seconds(committed - start)) vmhwm_kib=\(peakRSSKiB())")

case "watch":
    var logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    let monitor = SiteMonitor(root: tree, exclude: exclusion, logger: logger)
    let start = clock.now
    let stream: AsyncStream<SiteEvent>
    do { stream = try monitor.start() } catch { fail("\(error)") }
    let ready = clock.now
    let message = "Watches established.\n"
    _ = message.withCString { write(2, $0, strlen($0)) }
    say("mode=watch watches=\(monitor.status.watchCount) setup_s=\(seconds(ready - start)) vmhwm_kib=\(peakRSSKiB())")
    // Stay up until killed (the script reads VmHWM from /proc and sends SIGTERM); with
    // BENCH_EXIT=1, stop at once (callgrind counts the set-up alone).
    if getenv("BENCH_EXIT").map({ String(cString: $0) }) == "1" {
        monitor.stop()
        exit(0)
    }
    for await _ in stream {}

case "walk":
    // The walker alone (lstat of every file, no manifest): where the warm time goes.
    let start = clock.now
    let entries: [WalkEntry]
    do { entries = try Walker(exclude: exclusion).files(under: tree) } catch { fail("\(error)") }
    let walked = clock.now
    let sorted = entries.sorted { $0.path < $1.path }
    let done = clock.now
    say(
        "mode=walk files=\(sorted.count) walk_s=\(seconds(walked - start)) sort_s=\(seconds(done - walked)) vmhwm_kib=\(peakRSSKiB())"
    )

case "rewrite":
    // Rewrite every file in place with its own bytes while watching; then detect the touched set.
    guard arguments.count >= 4 else { fail("usage: bench-sitewatch rewrite TREE DB") }
    let db: StateDatabase
    do { db = try StateDatabase.open(path: arguments[3]) } catch { fail("\(error)") }
    var logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
    logger.logLevel = .critical
    let monitor = SiteMonitor(root: tree, exclude: exclusion, logger: logger)
    let stream: AsyncStream<SiteEvent>
    do { stream = try monitor.start() } catch { fail("\(error)") }
    let collector = Task { () -> (Set<RelativePath>, Int) in
        var pending = PendingChanges()
        var rescans = 0
        for await event in stream {
            if case .rescanNeeded = event { rescans += 1 }
            pending.absorb(event)
        }
        return (pending.paths, rescans)
    }
    let files: [WalkEntry]
    do { files = try Walker().files(under: tree) } catch { fail("\(error)") }
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    let start = clock.now
    for file in files {
        let path = tree + "/" + file.path.description
        let fd = open(path, O_RDWR)
        if fd < 0 { continue }
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        _ = ftruncate(fd, 0)
        _ = buffer.withUnsafeBytes { pwrite(fd, $0.baseAddress, max(0, count), 0) }
        close(fd)
    }
    let written = clock.now
    try? await Task.sleep(for: .seconds(2))  // let the reader drain
    monitor.stop()
    let (touched, rescans) = await collector.value
    let detectStart = clock.now
    let detection: Detection
    do { detection = try await Detector(root: tree).detect(.paths(touched), in: db) } catch { fail("\(error)") }
    let detected = clock.now
    say(
        "mode=rewrite files=\(files.count) rewrite_s=\(seconds(written - start)) touched=\(touched.count) "
            + "overflows=\(monitor.status.overflowCount) rescans=\(rescans) detect_s=\(seconds(detected - detectStart)) "
            + "hashed=\(detection.filesHashed) changes=\(detection.changes.count) vmhwm_kib=\(peakRSSKiB())")

case "noop":
    say("mode=noop vmhwm_kib=\(peakRSSKiB())")

default:
    fail("unknown mode \(mode)")
}
