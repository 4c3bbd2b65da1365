import Logging
import Testing

@testable import Reporting

@Suite struct JournalFieldsTests {
    @Test(arguments: [
        ("purge.task_id", "PURGEWATCH_TASK_ID"),
        ("task_id", "PURGEWATCH_TASK_ID"),
        ("purge.url_count", "PURGEWATCH_URL_COUNT"),
        ("purge.request_id", "PURGEWATCH_REQUEST_ID"),
        ("error_code", "PURGEWATCH_ERROR_CODE"),
        ("site.root", "PURGEWATCH_SITE_ROOT"),
        ("requestID", "PURGEWATCH_REQUESTID"),
        ("2xx", "PURGEWATCH_2XX"),
        ("_private", "PURGEWATCH__PRIVATE"),
        ("a-b c", "PURGEWATCH_A_B_C"),
        ("中", "PURGEWATCH____"),  // three UTF-8 bytes, three underscores
        ("purge.purge.x", "PURGEWATCH_PURGE_X"),
        ("purgeX", "PURGEWATCH_PURGEX"),
    ])
    func metadataKeysBecomeFieldNames(key: String, expected: String) {
        #expect(JournalFields.fieldName(forMetadataKey: key) == expected)
        #expect(JournalFields.isValidFieldName(expected))
    }

    @Test func emptyKeysHaveNoField() {
        #expect(JournalFields.fieldName(forMetadataKey: "") == nil)
        #expect(JournalFields.fieldName(forMetadataKey: "purge.") == nil)
    }

    @Test func longKeysAreCutTo64Bytes() throws {
        let name = try #require(JournalFields.fieldName(forMetadataKey: String(repeating: "k", count: 100)))
        #expect(name.utf8.count == 64)
        #expect(name.hasPrefix("PURGEWATCH_KKK"))
        #expect(JournalFields.isValidFieldName(name))
    }

    @Test(arguments: [
        ("MESSAGE", true), ("PURGEWATCH_TASK_ID", true), ("A", true), ("A1_", true),
        ("", false), ("_PID", false), ("1ABC", false), ("lower", false), ("A-B", false), ("A=B", false),
        (String(repeating: "A", count: 64), true), (String(repeating: "A", count: 65), false),
    ])
    func fieldNameValidity(name: String, valid: Bool) {
        #expect(JournalFields.isValidFieldName(name) == valid)
    }

    @Test(arguments: [
        (Logger.Level.trace, 7), (.debug, 7), (.info, 6), (.notice, 5), (.warning, 4), (.error, 3), (.critical, 2),
    ])
    func priorities(level: Logger.Level, priority: Int) {
        #expect(JournalFields.priority(for: level) == priority)
    }

    @Test func plainValuesUseTheEqualsForm() {
        var fields = JournalFields()
        fields.append("MESSAGE", "hello world")
        fields.append("PRIORITY", "6")
        #expect(fields.encoded() == Array("MESSAGE=hello world\nPRIORITY=6\n".utf8))
    }

    @Test func valuesWithANewlineUseTheBinaryLengthForm() {
        var fields = JournalFields()
        fields.append("MESSAGE", "two\nlines")
        let expected: [UInt8] =
            Array("MESSAGE\n".utf8) + [9, 0, 0, 0, 0, 0, 0, 0] + Array("two\nlines".utf8) + [0x0A]
        #expect(fields.encoded() == expected)
    }

    @Test func emptyValuesAreKept() {
        var fields = JournalFields()
        fields.append("PURGEWATCH_EMPTY", "")
        #expect(fields.encoded() == Array("PURGEWATCH_EMPTY=\n".utf8))
    }

    @Test func invalidNamesAreDropped() {
        var fields = JournalFields()
        fields.append("_PID", "1")
        fields.append("lower", "x")
        fields.append("MESSAGE", "kept")
        #expect(fields.fields.map(\.name) == ["MESSAGE"])
    }

    @Test func anEntryHasTheStandardFieldsInOrder() throws {
        let event = LogEvent(
            level: .warning, message: "quota exhausted", metadata: nil, source: nil,
            file: "Daemon/Submitter.swift", function: "submit(_:)", line: 42)
        let metadata: Logger.Metadata = [
            "purge.url_count": "412", "purge.area": "mainland",
            "message_id": .string(MessageID.quotaExhausted.rawValue),
        ]
        let fields = JournalFields(
            event: event, metadata: metadata, identifier: "purgewatch", label: "purgewatch.submit")
        #expect(
            fields.fields.map(\.name) == [
                "MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "MESSAGE_ID", "CODE_FILE", "CODE_LINE", "CODE_FUNC",
                "PURGEWATCH_LOGGER", "PURGEWATCH_AREA", "PURGEWATCH_URL_COUNT",
            ])
        #expect(fields["MESSAGE"] == "quota exhausted")
        #expect(fields["PRIORITY"] == "4")
        #expect(fields["MESSAGE_ID"] == "62b65a58a637482db44d40416051841d")
        #expect(fields["CODE_LINE"] == "42")
        #expect(fields["PURGEWATCH_URL_COUNT"] == "412")
        #expect(fields["PURGEWATCH_LOGGER"] == "purgewatch.submit")
    }

    @Test func aMalformedMessageIDStaysMetadata() {
        let event = LogEvent(level: .info, message: "x", metadata: nil, source: nil, file: "f", function: "g", line: 1)
        let fields = JournalFields(
            event: event, metadata: ["message_id": "not-an-id"], identifier: "purgewatch", label: "l")
        #expect(fields["MESSAGE_ID"] == nil)
        #expect(fields["PURGEWATCH_MESSAGE_ID"] == "not-an-id")
    }

    @Test func structuredMetadataValuesAreRenderedAsText() {
        let event = LogEvent(level: .info, message: "x", metadata: nil, source: nil, file: "f", function: "g", line: 1)
        let fields = JournalFields(
            event: event, metadata: ["urls": ["a", "b"], "count": .stringConvertible(3)], identifier: "purgewatch",
            label: "l")
        #expect(fields["PURGEWATCH_URLS"] == #"["a", "b"]"#)  // swift-log's description
        #expect(fields["PURGEWATCH_COUNT"] == "3")
    }

    @Test func theEventsErrorIsAField() {
        struct Failure: Error, CustomStringConvertible { var description: String { "AuthFailure.SignatureFailure" } }
        let event = LogEvent(
            level: .error, message: "batch failed", error: Failure(), metadata: nil, source: nil, file: "f",
            function: "g", line: 1)
        let fields = JournalFields(event: event, metadata: [:], identifier: "purgewatch", label: "l")
        #expect(fields["PURGEWATCH_ERROR"] == "AuthFailure.SignatureFailure")
    }
}
