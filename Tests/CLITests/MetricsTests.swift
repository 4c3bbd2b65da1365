import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// `GET /metrics` (SPEC §3 `[metrics] listen`, §7) from the real daemon, read with a strict parser
    /// of the Prometheus text format and compared with `status --json`.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct MetricsTests {
        static let www = DaemonFixture.www

        /// A family: TYPE, HELP and its samples (`name{labels} value`).
        struct Family {
            var type: String
            var help: String?
            var samples: [(name: String, labels: [String: String], value: Double)] = []
        }

        enum ParseError: Error, CustomStringConvertible {
            case line(Int, String, String)
            var description: String {
                if case .line(let number, let text, let why) = self { return "line \(number): \(why): \(text)" }
                return ""
            }
        }

        /// The text exposition format, strictly: `# HELP`/`# TYPE` before the samples of a family,
        /// every sample line `name{label="value",…} value`, names and label names well formed,
        /// values numbers, histogram series `_bucket`/`_sum`/`_count` of a declared histogram.
        static func parse(_ text: String) throws -> [String: Family] {
            var families: [String: Family] = [:]
            let name = #"[a-zA-Z_:][a-zA-Z0-9_:]*"#
            let sample = try Regex(#"^(\#(name))(\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (\S+)$"#)
            let label = try Regex(#"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)""#)
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                let number = index + 1
                if line.isEmpty { continue }
                if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") {
                    let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                    guard parts.count >= 3 else { throw ParseError.line(number, String(line), "short comment") }
                    let family = parts[2]
                    if parts[1] == "TYPE" {
                        guard parts.count == 4, ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else {
                            throw ParseError.line(number, String(line), "bad TYPE")
                        }
                        guard families[family]?.samples.isEmpty ?? true else { throw ParseError.line(number, String(line), "TYPE after samples") }
                        families[family, default: Family(type: parts[3])].type = parts[3]
                    } else {
                        families[family, default: Family(type: "untyped")].help = parts.count == 4 ? parts[3] : ""
                    }
                    continue
                }
                if line.hasPrefix("#") { continue }
                guard let match = try sample.wholeMatch(in: String(line)) else {
                    throw ParseError.line(number, String(line), "not name{labels} value")
                }
                let sampleName = String(match.output[1].substring ?? "")
                guard let value = Double(String(match.output[4].substring ?? "")) else {
                    throw ParseError.line(number, String(line), "value is not a number")
                }
                var labels: [String: String] = [:]
                if let body = match.output[3].substring {
                    for found in String(body).matches(of: label) {
                        labels[String(found.output[1].substring ?? "")] = String(found.output[2].substring ?? "")
                    }
                }
                var family = sampleName
                for suffix in ["_bucket", "_sum", "_count"] where sampleName.hasSuffix(suffix) {
                    let base = String(sampleName.dropLast(suffix.count))
                    if families[base]?.type == "histogram" { family = base }
                }
                guard families[family] != nil else { throw ParseError.line(number, String(line), "sample before its TYPE") }
                families[family]!.samples.append((sampleName, labels, value))
            }
            return families
        }

        static func freePort() throws -> Int {
            let (fd, port) = try boundSocket()
            close(fd)
            return port
        }

        /// A TCP socket bound to a free port of 127.0.0.1: its descriptor and the port.
        static func boundSocket() throws -> (fd: Int32, port: Int) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
            guard fd >= 0, bound == 0 else {
                if fd >= 0 { close(fd) }
                throw POSIXError(.EADDRNOTAVAIL)
            }
            _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
            return (fd, Int(UInt16(bigEndian: address.sin_port)))
        }

        /// A plain HTTP/1.0 GET on 127.0.0.1: (status line, body).
        static func get(port: Int, path: String) throws -> (String, String) {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
            let request = Array("GET \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            _ = write(fd, request, request.count)
            var response: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break }
                response += buffer[0..<count]
            }
            let text = String(decoding: response, as: UTF8.self)
            let parts = text.components(separatedBy: "\r\n\r\n")
            return (parts.first?.components(separatedBy: "\r\n").first ?? "", parts.dropFirst().joined(separator: "\r\n\r\n"))
        }

        /// The metrics endpoint's Service owns it: a `listen` that cannot be bound fails the start
        /// (exit 1, naming the address) before READY=1, and what the other Services opened is
        /// closed on the way out — no control socket is left beside the state.
        @Test func aListenAddressInUseFailsTheStartBeforeReady() async throws {
            let (taken, port) = try Self.boundSocket()
            defer { close(taken) }
            #expect(listen(taken, 4) == 0)
            try await DaemonFixture.with(extraConfig: "\n[metrics]\nlisten = \"127.0.0.1:\(port)\"") { fixture in
                try fixture.write("a.html", "v1\n")
                let listener = try NotifyListener(path: fixture.directory + "/notify.sock")
                var environment = fixture.environment
                environment["NOTIFY_SOCKET"] = listener.path
                let process = try RunningProcess.start(
                    ["run", "--config", fixture.configPath], environment: environment, logPath: fixture.directory + "/daemon.log")
                let ended = await fixture.eventually(timeout: .seconds(30)) { !process.isRunning }
                #expect(ended, "the daemon kept running with its metrics address taken; log:\n\(process.log)")
                if !ended { _ = process.stop(signal: SIGKILL) }
                #expect(process.exitStatus == 1, "\(process.log)")
                #expect(process.log.contains("cannot serve metrics on 127.0.0.1:\(port)"), "\(process.log)")
                // Must not: say READY, or leave its control socket behind.
                #expect(await listener.message(timeout: .milliseconds(200)) { $0.contains("READY=1") } == nil)
                #expect(!FileManager.default.fileExists(atPath: fixture.directory + "/state/site.sqlite.sock"))
            }
        }

        /// A series only a fleet's daemon exports (SPEC §9).
        static func fleetOnly(_ name: String) -> Bool {
            name.hasPrefix("purgewatch_fleet_") || name.hasPrefix("purgewatch_converge_")
        }

        /// Every `purgewatch_…` name in the shipped alerting rules and Grafana dashboard, by file
        /// (the rules' test file feeds made-up series, so it is not read).
        static func seriesNamedInShippedMonitoring() throws -> [(String, Set<String>)] {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent()
            let name = try Regex(#"purgewatch_[a-z_]+"#)
            var result: [(String, Set<String>)] = []
            for file in ["packaging/prometheus/purgewatch.rules.yml", "packaging/grafana/purgewatch-dashboard.json"] {
                let text = try String(contentsOf: root.appendingPathComponent(file), encoding: .utf8)
                var exprs: [String] = []
                if file.hasSuffix(".json") {
                    // Only the queries: titles and descriptions may name series in prose.
                    let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
                    for panel in json["panels"] as? [[String: Any]] ?? [] {
                        for target in panel["targets"] as? [[String: Any]] ?? [] { exprs.append(target["expr"] as? String ?? "") }
                    }
                    let variables = (json["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []
                    exprs += variables.compactMap { $0["definition"] as? String }
                } else {
                    exprs = [text]
                }
                result.append((file, Set(exprs.flatMap { expr in expr.matches(of: name).map { String(expr[$0.range]) } })))
            }
            return result
        }

        @Test func everySeriesOfSpecSevenParsesAndAgreesWithStatus() async throws {
            let port = try Self.freePort()
            try await DaemonFixture.with(extraConfig: "\n[metrics]\nlisten = \"127.0.0.1:\(port)\"") { fixture in
                for name in ["a", "b", "c"] { try fixture.write("\(name).html", "v1\n") }
                try await fixture.startDaemon()
                try fixture.write("a.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                #expect(
                    await fixture.eventually {
                        ((try? await fixture.status())?["quota"] as? [Any])?.isEmpty == false
                    }, "a DescribePurgeQuota reading is cached")

                let (statusLine, body) = try await offload { try Self.get(port: port, path: "/metrics") }
                #expect(statusLine.hasPrefix("HTTP/1.0 200") || statusLine.hasPrefix("HTTP/1.1 200"), "\(statusLine)")
                let families = try Self.parse(body)
                let expected: [String: String] = [
                    "purgewatch_files_tracked": "gauge", "purgewatch_queue_urls": "gauge",
                    "purgewatch_oldest_pending_age_seconds": "gauge", "purgewatch_batches": "gauge",
                    "purgewatch_api_requests_total": "counter", "purgewatch_quota_available": "gauge",
                    "purgewatch_last_accepted_timestamp_seconds": "gauge", "purgewatch_walks_total": "counter",
                    "purgewatch_walk_seconds": "histogram", "purgewatch_inotify_overflows_total": "counter",
                    "purgewatch_watches": "gauge", "purgewatch_up": "gauge",
                ]
                for (name, type) in expected {
                    #expect(families[name]?.type == type, "\(name) has TYPE \(type): \(families[name]?.type ?? "missing")")
                    let help = families[name]?.help ?? ""
                    #expect(help.isEmpty == false, "\(name) has HELP")
                    let samples = families[name]?.samples.count ?? 0
                    #expect(samples > 0, "\(name) has samples")
                }
                func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
                    let family = families[name] ?? families[String(name.dropLast("_count".count))]
                    return family?.samples.first { sample in
                        sample.name == name && labels.allSatisfy { key, wanted in sample.labels[key] == wanted }
                    }?.value
                }
                #expect(value("purgewatch_up") == 1)
                let purgeOK = value("purgewatch_api_requests_total", ["action": "PurgeUrlsCache", "code": "OK"]) ?? 0
                #expect(purgeOK >= 1, "code=\"OK\" for success")
                #expect((value("purgewatch_walks_total", ["reason": "reconcile"]) ?? 0) >= 1)
                #expect((value("purgewatch_walk_seconds_count") ?? 0) >= 1)
                #expect((value("purgewatch_watches") ?? 0) >= 1)
                #expect((value("purgewatch_last_accepted_timestamp_seconds") ?? 0) > 1_700_000_000)
                #expect(families["purgewatch_quota_available"]?.samples.contains { $0.labels["kind"] == "url" && $0.labels["area"] != nil } == true)

                // The alerting rules and the dashboard the package ships name only series this
                // page has (a histogram's by its `_bucket`/`_sum`/`_count` samples).
                // (A fleet's series are on a fleet's daemons only: FleetEndToEndTests checks those.)
                let exported = Set(families.values.flatMap { $0.samples.map(\.name) })
                for (file, named) in try Self.seriesNamedInShippedMonitoring() {
                    #expect(!named.isEmpty, "\(file) names purgewatch series")
                    for name in named where !Self.fleetOnly(name) {
                        #expect(exported.contains(name), "\(file) names \(name), which the daemon does not export")
                    }
                }

                let status = try await fixture.status()
                #expect(value("purgewatch_files_tracked") == Double(status["files_tracked"] as? Int ?? -1))
                #expect(value("purgewatch_queue_urls", ["state": "pending"]) == Double((status["pending"] as? [String: Any])?["urls"] as? Int ?? -1))
                #expect(
                    value("purgewatch_queue_urls", ["state": "waiting_quota"])
                        == Double((status["waiting_quota"] as? [String: Any])?["urls"] as? Int ?? -1))
                let failed = ((status["failures"] as? [String: Any])?["urls"] as? [Any])?.count ?? -1
                #expect(value("purgewatch_queue_urls", ["state": "failed"]) == Double(failed))

                // Counters only grow.
                try fixture.write("b.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                let (_, later) = try await offload { try Self.get(port: port, path: "/metrics") }
                let laterFamilies = try Self.parse(later)
                let laterOK =
                    laterFamilies["purgewatch_api_requests_total"]?.samples.first {
                        $0.labels["action"] == "PurgeUrlsCache" && $0.labels["code"] == "OK"
                    }?.value ?? 0
                #expect(laterOK > purgeOK)
                let (notFound, _) = try await offload { try Self.get(port: port, path: "/other") }
                #expect(notFound.contains("404"), "\(notFound)")
            }
        }
    }
}
