import Foundation
import Testing

extension EndToEnd {

    /// Issue 23: the daemon keeps one malloc arena. glibc gives a thread that allocates while
    /// another holds the lock an arena of its own (a 64 MiB reservation, aligned to 64 MiB,
    /// part of it readable), each keeping its own freed pages; `PurgeWatch.prepareProcess`
    /// limits them to the main one, and only works before the cooperative pool's threads exist.
    @Suite(.serialized, .timeLimit(.minutes(3))) struct MemoryArenaTests {
        static let www = DaemonFixture.www

        @Test func theDaemonAllocatesFromOneArenaOnly() async throws {
            try await DaemonFixture.with { fixture in
                for index in 0..<200 { try fixture.write("pages/p\(index).html", "v1 \(index)\n") }
                try await fixture.startDaemon()
                let pid = try #require(fixture.daemon?.pid)
                // Work on every thread: a deploy compared on the detector's threads, purged by
                // the submitter through NIO, answered to a flush over the control socket.
                for index in 0..<200 { try fixture.write("pages/p\(index).html", "v2 \(index)\n") }
                let flushed = try await PurgewatchProcess.runAsync(
                    ["flush", "--config", fixture.configPath, "--wait"], environment: fixture.environment)
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(fixture.purged.contains(Self.www + "pages/p199.html"))
                let arenas = Self.threadArenas(pid: pid)
                #expect(arenas.isEmpty, "malloc arenas beside the main one at \(arenas.map { String($0, radix: 16) })")
            }
        }

        /// The start addresses of glibc's thread arenas: an anonymous region of exactly 64 MiB (a
        /// read-write part, then the reserved rest), starting on a 64 MiB boundary.
        static func threadArenas(pid: Int32) -> [UInt64] {
            guard let maps = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return [] }
            let heapSize: UInt64 = 64 << 20
            var arenas: [UInt64] = []
            var run: (start: UInt64, end: UInt64)?
            for line in maps.split(separator: "\n") {
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                let bounds = fields[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
                guard bounds.count == 2 else { continue }
                let anonymous = fields.count == 5 && fields[4] == "0"
                if anonymous, let current = run, current.end == bounds[0], fields[1].hasPrefix("---") {
                    run = (current.start, bounds[1])
                } else {
                    if let current = run, current.end - current.start == heapSize, current.start % heapSize == 0 {
                        arenas.append(current.start)
                    }
                    run = anonymous && fields[1].hasPrefix("rw") ? (bounds[0], bounds[1]) : nil
                }
            }
            if let current = run, current.end - current.start == heapSize, current.start % heapSize == 0 {
                arenas.append(current.start)
            }
            return arenas
        }
    }
}
