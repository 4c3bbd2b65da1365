import Foundation
import Testing

@testable import ControlProtocol

/// The control protocol's one codec (issue 19 item 5): every command and answer round-trips; what
/// it cannot read is refused with a ``ControlProtocolError`` that says why — never a crash.
@Suite struct ControlCodecTests {
    static let commands: [ControlCommand] = [
        .ping,
        .flush(wait: false, full: false), .flush(wait: false, full: true),
        .flush(wait: true, full: false), .flush(wait: true, full: true),
        .purge([]),
        .purge([PurgeItem(url: "https://www.example.com/a.html")]),
        .purge([
            PurgeItem(url: "https://www.example.com/a%20b.html", path: Array("a b.html".utf8)),
            PurgeItem(url: "https://www.example.com/x%FF", path: [0x78, 0xFF, 0x00, 0x0A]),
            PurgeItem(url: "https://www.example.com/"),
        ]),
        .failures(.retry, urls: []), .failures(.forget, urls: []),
        .failures(.retry, urls: ["https://www.example.com/a.html", "https://www.example.com/\"quoted\"\n"]),
    ]

    static let answers: [ControlAnswer] =
        [
            .pong, .flushRequested, .submitted,
            .failed(count: 0, urls: []),
            .failed(count: 25, urls: ["https://www.example.com/a.html", "https://www.example.com/b"]),
            .queued(added: 0, total: 0), .queued(added: 2, total: 3),
            .failuresApplied(applied: 0, unmatched: []), .failuresApplied(applied: 4, unmatched: ["https://x/ü"]),
        ] + ControlAnswer.ErrorCode.allCases.map { .error($0, message: "why: \($0.rawValue)\ttab\nnewline") }

    @Test(arguments: commands) func everyCommandRoundTripsAsOneLine(_ command: ControlCommand) throws {
        let line = try ControlCodec.encode(command)
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(
            line.filter { $0 == UInt8(ascii: "\n") }.count == 1, "one line: \(String(decoding: line, as: UTF8.self))")
        #expect(String(decoding: line, as: UTF8.self).hasPrefix("{"))
        #expect(try ControlCodec.decodeCommand(line) == command)
        #expect(try ControlCodec.decodeCommand(line.dropLast()) == command, "the newline is optional to the decoder")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["version"] as? Int == 1)
    }

    @Test(arguments: answers) func everyAnswerRoundTripsAsOneLine(_ answer: ControlAnswer) throws {
        let line = ControlCodec.encode(answer)
        #expect(line.last == UInt8(ascii: "\n"))
        #expect(line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        #expect(try ControlCodec.decodeAnswer(line) == answer)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["version"] as? Int == 1)
    }

    /// The wire form is fixed (sorted keys, slashes unescaped): a daemon and a CLI of different
    /// builds of this version read each other.
    @Test(arguments: [
        (ControlCommand.ping, #"{"command":"ping","version":1}"#),
        (.flush(wait: true, full: false), #"{"command":"flush","full":false,"version":1,"wait":true}"#),
        (
            .purge([PurgeItem(url: "https://a/b", path: [0x62, 0xFF])]),
            #"{"command":"purge","items":[{"path_hex":"62ff","url":"https://a/b"}],"version":1}"#
        ),
        (
            .failures(.forget, urls: ["https://a/"]),
            #"{"action":"forget","command":"failures","urls":["https://a/"],"version":1}"#
        ),
    ])
    func theWireFormOfACommandIsFixed(_ command: ControlCommand, _ json: String) throws {
        #expect(String(decoding: try ControlCodec.encode(command), as: UTF8.self) == json + "\n")
    }

    @Test(arguments: [
        (ControlAnswer.pong, #"{"answer":"pong","version":1}"#),
        (.queued(added: 1, total: 2), #"{"added":1,"answer":"queued","total":2,"version":1}"#),
        (
            .error(.busy, message: "too many connections (128); try again"),
            #"{"answer":"error","code":"busy","message":"too many connections (128); try again","version":1}"#
        ),
    ])
    func theWireFormOfAnAnswerIsFixed(_ answer: ControlAnswer, _ json: String) {
        #expect(String(decoding: ControlCodec.encode(answer), as: UTF8.self) == json + "\n")
    }

    /// Lines a command reader must refuse, and the error code it refuses them with.
    static let badCommands: [(String, ControlProtocolError.Code)] = [
        ("", .notJSON),
        ("\n", .notJSON),
        ("ping", .notJSON),
        ("flush-wait", .notJSON),
        ("purge\thttps://www.example.com/a", .notJSON),
        ("{", .notJSON),
        ("{\"command\":\"ping\",\"version\":1} trailing", .notJSON),
        ("{\"command\":\"ping\",\"version\":1}\n{\"command\":\"ping\",\"version\":1}", .notJSON),
        ("[1,2,3]", .malformed),
        ("\"ping\"", .malformed),
        ("42", .malformed),
        ("null", .malformed),
        ("{}", .malformed),
        ("{\"command\":\"ping\"}", .malformed),
        ("{\"command\":\"ping\",\"version\":\"1\"}", .malformed),
        ("{\"command\":\"ping\",\"version\":1.5}", .malformed),
        ("{\"command\":\"ping\",\"version\":null}", .malformed),
        ("{\"command\":\"ping\",\"version\":99999999999999999999999}", .malformed),
        ("{\"version\":1}", .malformed),
        ("{\"command\":7,\"version\":1}", .malformed),
        ("{\"command\":\"flush\",\"version\":1}", .malformed),
        ("{\"command\":\"flush\",\"version\":1,\"wait\":\"yes\",\"full\":false}", .malformed),
        ("{\"command\":\"flush\",\"version\":1,\"wait\":1,\"full\":false}", .malformed),
        ("{\"command\":\"purge\",\"version\":1}", .malformed),
        ("{\"command\":\"purge\",\"version\":1,\"items\":\"https://a/\"}", .malformed),
        ("{\"command\":\"purge\",\"version\":1,\"items\":[\"https://a/\"]}", .malformed),
        ("{\"command\":\"purge\",\"version\":1,\"items\":[{\"path_hex\":\"61\"}]}", .malformed),
        ("{\"command\":\"purge\",\"version\":1,\"items\":[{\"url\":\"https://a/\",\"path_hex\":\"6\"}]}", .malformed),
        ("{\"command\":\"purge\",\"version\":1,\"items\":[{\"url\":\"https://a/\",\"path_hex\":\"zz\"}]}", .malformed),
        ("{\"command\":\"purge\",\"version\":1,\"items\":[{\"url\":null}]}", .malformed),
        ("{\"command\":\"failures\",\"version\":1,\"action\":\"delete\",\"urls\":[]}", .malformed),
        ("{\"command\":\"failures\",\"version\":1,\"action\":\"retry\",\"urls\":[1]}", .malformed),
        ("{\"command\":\"failures\",\"version\":1,\"action\":\"retry\"}", .malformed),
        ("{\"command\":\"reboot\",\"version\":1}", .unknownCase),
        ("{\"command\":\"\",\"version\":1}", .unknownCase),
        ("{\"command\":\"ping\",\"version\":2}", .unsupportedVersion),
        ("{\"command\":\"ping\",\"version\":0}", .unsupportedVersion),
        ("{\"command\":\"ping\",\"version\":-1}", .unsupportedVersion),
        ("{\"command\":\"teleport\",\"version\":2,\"to\":\"mars\"}", .unsupportedVersion),
    ]

    @Test(arguments: badCommands) func garbageIsRefusedWithAClearError(
        _ line: String, _ code: ControlProtocolError.Code
    ) {
        let error = #expect(throws: ControlProtocolError.self) { try ControlCodec.decodeCommand(Array(line.utf8)) }
        #expect(error?.code == code, "\(line.debugDescription): \(error?.message ?? "")")
        #expect(
            error.map { !$0.message.isEmpty && !$0.message.contains("\n") } == true,
            "one readable line: \(error?.message ?? "")")
    }

    /// Bytes that are not UTF-8, NULs and control bytes: refused, never a crash; the message quotes
    /// the line printably.
    @Test(arguments: [
        "ff fe 00 01", "00", "invalid UTF-8 in a key", "escape 1b 5b 32 4a", "10,000 {", "100,000 [", "10,000 [ closed",
    ])
    func binaryGarbageIsRefused(_ name: String) {
        let bytes: [UInt8] =
            switch name {
            case "ff fe 00 01": [0xFF, 0xFE, 0x00, 0x01]
            case "00": [0x00]
            case "escape 1b 5b 32 4a": [0x1B, 0x5B, 0x32, 0x4A]
            case "10,000 {": Array(repeating: 0x7B, count: 10_000)
            case "100,000 [": Array(repeating: 0x5B, count: 100_000)
            case "10,000 [ closed": Array(repeating: 0x5B, count: 10_000) + Array(repeating: 0x5D, count: 10_000)
            default: [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D]  // invalid UTF-8 in a key
            }
        let error = #expect(throws: ControlProtocolError.self) { try ControlCodec.decodeCommand(bytes) }
        #expect(error.map { [.notJSON, .malformed].contains($0.code) } == true, "\(error?.message ?? "")")
        #expect(error?.message.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } == false)
    }

    @Test func anUnknownVersionNamesBothVersions() throws {
        let error = try #require(throws: ControlProtocolError.self) {
            try ControlCodec.decodeCommand(Array(#"{"command":"ping","version":7}"#.utf8))
        }
        #expect(error.message.contains("version 7") && error.message.contains("version 1"), "\(error.message)")
        let answerError = try #require(throws: ControlProtocolError.self) {
            try ControlCodec.decodeAnswer(Array(#"{"answer":"pong","version":2}"#.utf8))
        }
        #expect(answerError.code == .unsupportedVersion)
    }

    @Test func anOversizedLineIsRefusedBothWays() throws {
        let url = "https://www.example.com/" + String(repeating: "a", count: 1_000)
        let tooMany = ControlCommand.purge(
            Array(repeating: PurgeItem(url: url), count: ControlCodec.maxCommandBytes / 1_000))
        let encodeError = try #require(throws: ControlProtocolError.self) { try ControlCodec.encode(tooMany) }
        #expect(encodeError.code == .tooLong)
        #expect(encodeError.message.contains("\(ControlCodec.maxCommandBytes)"))
        // A line just over the limit is refused before it is parsed; one at the limit is parsed.
        let padding = ControlCodec.maxCommandBytes - #"{"command":"ping","version":1}"#.utf8.count
        let atLimit =
            Array(#"{"command":"ping","version":1}"#.utf8) + Array(repeating: UInt8(ascii: " "), count: padding)
        #expect(try ControlCodec.decodeCommand(atLimit) == .ping)
        let over = try #require(throws: ControlProtocolError.self) { try ControlCodec.decodeCommand(atLimit + [0x20]) }
        #expect(over.code == .tooLong)
        let answerOver = try #require(throws: ControlProtocolError.self) {
            try ControlCodec.decodeAnswer(Array(repeating: UInt8(ascii: " "), count: ControlCodec.maxAnswerBytes + 1))
        }
        #expect(answerOver.code == .tooLong)
    }

    /// An answer too long to send goes out as an error saying so, never as a line the client
    /// cannot read.
    @Test func anAnswerTooLongToSendBecomesAnError() throws {
        let unmatched = Array(
            repeating: String(repeating: "u", count: 1_000), count: ControlCodec.maxAnswerBytes / 1_000 + 10)
        let line = ControlCodec.encode(.failuresApplied(applied: 0, unmatched: unmatched))
        guard case .error(.refused, let message) = try ControlCodec.decodeAnswer(line) else {
            Issue.record("not an error: \(line.prefix(100))")
            return
        }
        #expect(message.contains("longer than"))
    }

    static let badAnswers: [(String, ControlProtocolError.Code)] = [
        ("pong", .notJSON),
        ("queued 1 2", .notJSON),
        ("{\"answer\":\"pong\"}", .malformed),
        ("{\"answer\":\"queued\",\"version\":1,\"added\":1}", .malformed),
        ("{\"answer\":\"queued\",\"version\":1,\"added\":-1,\"total\":2}", .malformed),
        ("{\"answer\":\"failed\",\"version\":1,\"count\":\"2\",\"urls\":[]}", .malformed),
        ("{\"answer\":\"error\",\"version\":1,\"message\":\"x\"}", .malformed),
        ("{\"answer\":\"maybe\",\"version\":1}", .unknownCase),
    ]

    @Test(arguments: badAnswers) func garbageAnswersAreRefused(_ line: String, _ code: ControlProtocolError.Code) {
        let error = #expect(throws: ControlProtocolError.self) { try ControlCodec.decodeAnswer(Array(line.utf8)) }
        #expect(error?.code == code, "\(line.debugDescription): \(error?.message ?? "")")
    }

    /// An error code from a newer daemon is still read as an error, with its message.
    @Test func anUnknownErrorCodeIsStillAnError() throws {
        let answer = try ControlCodec.decodeAnswer(
            Array(#"{"answer":"error","code":"on-fire","message":"smoke","version":1}"#.utf8))
        #expect(answer == .error(.refused, message: "smoke"))
    }

    /// The server answers a refused line with the codec's error: the code maps, the message stays.
    @Test(arguments: ControlProtocolError.Code.allCases) func aRefusalBecomesAnErrorAnswer(
        _ code: ControlProtocolError.Code
    ) {
        let answer = ControlAnswer(refusing: ControlProtocolError(code, "because"))
        let expected: ControlAnswer.ErrorCode =
            switch code {
            case .tooLong: .tooLong
            case .unsupportedVersion: .unsupportedVersion
            case .notJSON, .malformed, .unknownCase: .badCommand
            }
        #expect(answer == .error(expected, message: "because"))
    }

    /// The readable forms the CLI quotes are the text protocol's words (its messages must not change).
    @Test(arguments: [
        (ControlAnswer.pong, "pong"), (.flushRequested, "ok"), (.submitted, "submitted"),
        (.failed(count: 3, urls: ["https://a/", "https://b/"]), "failed 3 https://a/ https://b/"),
        (.queued(added: 1, total: 2), "queued 1 2"),
        (.failuresApplied(applied: 2, unmatched: ["https://c/"]), "done\t2\thttps://c/"),
        (.error(.stopping, message: "daemon stopping"), "error daemon stopping"),
    ])
    func theReadableFormIsTheOldTextLine(_ answer: ControlAnswer, _ text: String) {
        #expect(answer.description == text)
    }

    @Test(arguments: [
        (ControlCommand.ping, "ping"), (.flush(wait: false, full: false), "flush"),
        (.flush(wait: false, full: true), "flush-full"),
        (.flush(wait: true, full: false), "flush-wait"), (.flush(wait: true, full: true), "flush-wait-full"),
        (.purge([]), "purge"), (.failures(.retry, urls: []), "failures-retry"),
        (.failures(.forget, urls: ["x"]), "failures-forget"),
    ])
    func theVerbIsWhatTheDaemonLogs(_ command: ControlCommand, _ verb: String) {
        #expect(command.verb == verb)
    }

    @Test func hexPathsRoundTripEveryByte() throws {
        let every = (0...255).map(UInt8.init)
        #expect(PurgeItemMessage.bytes(fromHex: PurgeItemMessage.hex(every)) == every)
        #expect(PurgeItemMessage.bytes(fromHex: "ABcd") == [0xAB, 0xCD])
        #expect(PurgeItemMessage.bytes(fromHex: "") == [])
        #expect(PurgeItemMessage.bytes(fromHex: "0g") == nil)
        #expect(PurgeItemMessage.bytes(fromHex: "+1") == nil)
    }
}
