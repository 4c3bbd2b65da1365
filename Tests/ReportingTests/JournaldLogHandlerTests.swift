import Glibc
import Logging
import Testing

@testable import Reporting

/// The handler against a fake journald: a datagram socket in a temporary directory.
@Suite struct JournaldLogHandlerTests {
    @Test func aLogCallArrivesAsOneEntryWithStructuredFields() throws {
        let journal = try DatagramReceiver()
        let logger = Logger(label: "purgewatch.submit") { label in
            JournaldLogHandler(label: label, socketPath: journal.address)
        }
        let line = #line + 1
        logger.info(
            "batch submitted",
            metadata: MessageID.batchSubmitted.metadata(["purge.task_id": "15-abc", "purge.url_count": "3"]))

        let fields = try NativeProtocolParser.dictionary(journal.receive().bytes)
        #expect(fields["MESSAGE"] == "batch submitted")
        #expect(fields["PRIORITY"] == "6")
        #expect(fields["SYSLOG_IDENTIFIER"] == "purgewatch")
        #expect(fields["MESSAGE_ID"] == "d4b9d65ff1384c229ace8dd39c3990cd")
        #expect(fields["CODE_FILE"]?.hasSuffix("JournaldLogHandlerTests.swift") == true)
        #expect(fields["CODE_LINE"] == String(line))
        #expect(fields["CODE_FUNC"] == "aLogCallArrivesAsOneEntryWithStructuredFields()")
        #expect(fields["PURGEWATCH_TASK_ID"] == "15-abc")
        #expect(fields["PURGEWATCH_URL_COUNT"] == "3")
        #expect(fields["PURGEWATCH_LOGGER"] == "purgewatch.submit")
        #expect(journal.isEmpty())
    }

    @Test(arguments: [
        (Logger.Level.debug, "7"), (.info, "6"), (.notice, "5"), (.warning, "4"), (.error, "3"), (.critical, "2"),
    ])
    func levelsBecomePriorities(level: Logger.Level, priority: String) throws {
        let journal = try DatagramReceiver()
        var logger = Logger(label: "t") { JournaldLogHandler(label: $0, socketPath: journal.address) }
        logger.logLevel = .trace
        logger.log(level: level, "x")
        #expect(try NativeProtocolParser.dictionary(journal.receive().bytes)["PRIORITY"] == priority)
    }

    @Test func levelsBelowTheLoggersAreNotSent() throws {
        let journal = try DatagramReceiver()
        let logger = Logger(label: "t") {
            JournaldLogHandler(label: $0, logLevel: .notice, socketPath: journal.address)
        }
        logger.info("dropped")
        logger.notice("kept")
        #expect(try NativeProtocolParser.dictionary(journal.receive().bytes)["MESSAGE"] == "kept")
        #expect(journal.isEmpty())
    }

    @Test func aMultiLineMessageIsSentInTheBinarySafeForm() throws {
        let journal = try DatagramReceiver()
        let logger = Logger(label: "t") { JournaldLogHandler(label: $0, socketPath: journal.address) }
        let message = "first line\nsecond line\n\tindented = \"quoted\"\n"
        logger.error("\(message)", metadata: ["purge.urls": "https://a.example/\nhttps://b.example/"])

        let parsed = try NativeProtocolParser.parse(journal.receive().bytes)
        let messageField = try #require(parsed.first { $0.field.name == "MESSAGE" })
        #expect(messageField.form == .binary)
        #expect(messageField.field.text == message)
        let urls = try #require(parsed.first { $0.field.name == "PURGEWATCH_URLS" })
        #expect(urls.form == .binary)
        #expect(urls.field.text == "https://a.example/\nhttps://b.example/")
        #expect(parsed.first { $0.field.name == "PRIORITY" }?.form == .plain)
    }

    @Test func metadataFromHandlerProviderAndCallSiteIsMergedCallSiteWinning() throws {
        let journal = try DatagramReceiver()
        var handler = JournaldLogHandler(label: "t", socketPath: journal.address)
        handler.metadataProvider = Logger.MetadataProvider { ["purge.site": "provided", "purge.area": "provided"] }
        let configured = handler
        var logger = Logger(label: "t") { _ in configured }
        logger[metadataKey: "purge.site"] = "example.com"
        logger[metadataKey: "purge.task_id"] = "from-logger"
        logger.info("x", metadata: ["purge.task_id": "from-call"])

        let fields = try NativeProtocolParser.dictionary(journal.receive().bytes)
        #expect(fields["PURGEWATCH_SITE"] == "provided")  // swift-log: provider over handler metadata
        #expect(fields["PURGEWATCH_AREA"] == "provided")
        #expect(fields["PURGEWATCH_TASK_ID"] == "from-call")
    }

    @Test func anEntryTooBigForADatagramGoesThroughASealedMemfd() throws {
        let journal = try DatagramReceiver()
        let logger = Logger(label: "t") { JournaldLogHandler(label: $0, socketPath: journal.address) }
        // More than the 212,992 bytes a datagram may carry by default.
        let message = String(repeating: "0123456789abcdef", count: 300_000 / 16) + "\nend"
        logger.warning("\(message)", metadata: ["purge.task_id": "big"])

        let datagram = try journal.receive()
        #expect(datagram.bytes.isEmpty)
        try #require(datagram.descriptors.count == 1)
        let memfd = datagram.descriptors[0]
        defer { close(memfd) }
        #expect(fcntl(memfd, Memfd.getSeals) == Memfd.allSeals)
        let fields = try NativeProtocolParser.dictionary(readAll(descriptor: memfd))
        #expect(fields["MESSAGE"] == message)
        #expect(fields["PURGEWATCH_TASK_ID"] == "big")
        #expect(fields["PRIORITY"] == "4")
    }

    @Test func anEntryJustUnderTheLimitIsStillADatagram() throws {
        let journal = try DatagramReceiver()
        let socket = JournalSocket(path: journal.address)
        var fields = JournalFields()
        fields.append("MESSAGE", String(repeating: "x", count: 100_000))
        #expect(socket.send(fields.encoded()) == .datagram)
        #expect(try journal.receive().descriptors.isEmpty)
    }

    @Test func withoutAListenerTheSendFailsWithItsErrno() {
        let socket = JournalSocket(path: "/nonexistent-\(getpid())/journal/socket")
        #expect(socket.send(Array("MESSAGE=x\n".utf8)) == .failed(errno: ENOENT))
        #expect(JournalSocket(path: "relative/socket").send([]) == .failed(errno: EINVAL))
    }

    @Test func theProductionHandlerUsesSystemdsSocketPath() {
        #expect(JournalSocket.systemPath == "/run/systemd/journal/socket")
    }
}
