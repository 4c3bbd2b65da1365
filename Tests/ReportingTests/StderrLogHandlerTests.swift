import Glibc
import Logging
import Testing

@testable import Reporting

@Suite struct StderrLogHandlerTests {
    private func event(_ level: Logger.Level, _ message: Logger.Message, error: (any Error)? = nil) -> LogEvent {
        LogEvent(
            level: level, message: message, error: error, metadata: nil, source: nil, file: "f", function: "g", line: 1)
    }

    @Test func aLineHasLevelLabelMessageAndSortedMetadata() {
        let line = StderrLogHandler.format(
            event: event(.warning, "quota exhausted"),
            metadata: ["purge.url_count": "412", "purge.area": "mainland"],
            label: "purgewatch", timestamp: "2026-11-29T20:31:02.123Z")
        #expect(
            line
                == "2026-11-29T20:31:02.123Z warning purgewatch: quota exhausted purge.area=mainland purge.url_count=412\n"
        )
    }

    @Test func theMessageIDIsLeftToJournald() {
        let line = StderrLogHandler.format(
            event: event(.info, "batch done"), metadata: MessageID.batchDone.metadata(["purge.task_id": "t"]),
            label: "l",
            timestamp: nil)
        #expect(line == "info l: batch done purge.task_id=t\n")
    }

    @Test func everythingStaysOnOneLine() {
        let line = StderrLogHandler.format(
            event: event(.info, "first\nsecond\tthird"),
            metadata: ["path": "dir/a b.html", "quote": "say \"hi\"", "empty": "", "multi": "x\ny", "eq": "a=b"],
            label: "l", timestamp: nil)
        #expect(
            line
                == "info l: first\\nsecond\\tthird empty=\"\" eq=\"a=b\" multi=\"x\\ny\" path=\"dir/a b.html\" quote=\"say \\\"hi\\\"\"\n"
        )
        #expect(line.filter { $0 == "\n" }.count == 1)
    }

    @Test func anErrorIsShownLast() {
        struct Failure: Error, CustomStringConvertible { var description: String { "InternalError" } }
        let line = StderrLogHandler.format(
            event: event(.error, "retrying", error: Failure()), metadata: ["a": "1"], label: "l", timestamp: nil)
        #expect(line == "error l: retrying a=1 error=InternalError\n")
    }

    @Test(arguments: [
        (0, 0, "1970-01-01T00:00:00.000Z"),
        (1_795_983_960, 538, "2026-11-29T20:26:00.538Z"),
        (951_782_400, 7, "2000-02-29T00:00:00.007Z"),
    ])
    func timestamps(seconds: Int, milliseconds: Int, expected: String) {
        #expect(StderrLogHandler.timestamp(seconds: seconds, milliseconds: milliseconds) == expected)
    }

    @Test func theHandlerWritesWholeLinesToItsDescriptor() throws {
        var fds: [Int32] = [0, 0]
        try #require(pipe(&fds) == 0)
        defer { close(fds[0]) }
        let handler = StderrLogHandler(
            label: "purgewatch", logLevel: .info, timestamps: false, metadataProvider: nil, fd: fds[1])
        let logger = Logger(label: "purgewatch") { _ in handler }
        logger.debug("dropped")
        logger.notice("watching", metadata: ["files": "3"])
        close(fds[1])
        #expect(String(decoding: readAll(descriptor: fds[0]), as: UTF8.self) == "notice purgewatch: watching files=3\n")
    }

    @Test func timestampedLinesStartWithTheCurrentUTCTime() {
        let stamp = StderrLogHandler.timestamp()
        #expect(stamp.count == 24)
        #expect(stamp.hasSuffix("Z"))
        #expect(stamp.hasPrefix("20"))
    }
}
