import Foundation

/// The one encoder and decoder of the control protocol, used by the daemon and the CLI alike.
///
/// A message is one JSON object (sorted keys, no raw newline: JSON escapes it in strings) followed
/// by `\n`. Every object carries `"version": 1`; a reader refuses another version rather than
/// guess at it, and refuses anything else it cannot read with a ``ControlProtocolError`` — never
/// a crash, never a silent default.
///
/// The limits are the protocol's, so both ends agree on them: a command line is at most
/// ``maxCommandBytes`` (a `purge` carries its URLs), an answer at most ``maxAnswerBytes``; a
/// client has ``commandDeadline`` from connecting to send its whole line (so an idle client
/// holds a connection slot for no longer); the daemon keeps at most ``maxConnections`` clients
/// that have not yet handed over their line.
public enum ControlCodec {
    /// The protocol version this build speaks.
    public static let version = 1
    /// The longest command line, newline excluded.
    public static let maxCommandBytes = 4 << 20
    /// The longest answer line, newline excluded (`failures` names the unmatched URLs of a
    /// command, which JSON may escape further).
    public static let maxAnswerBytes = 8 << 20
    /// How long a client may take, from connecting, to send its command line.
    public static let commandDeadline: Duration = .seconds(5)
    /// Clients the daemon admits at once while they send their line.
    public static let maxConnections = 128

    // MARK: - Commands

    /// One command line, `\n` included.
    /// - Throws: ``ControlProtocolError`` `.tooLong` when it would exceed ``maxCommandBytes``.
    public static func encode(_ command: ControlCommand) throws(ControlProtocolError) -> [UInt8] {
        try line(CommandMessage(command), limit: maxCommandBytes, what: "command")
    }

    /// Reads one command line (with or without its `\n`).
    /// - Throws: ``ControlProtocolError`` for garbage, a wrong shape, an unknown command or
    ///   version, or a line longer than ``maxCommandBytes``.
    public static func decodeCommand(_ line: some Collection<UInt8>) throws(ControlProtocolError) -> ControlCommand {
        try decode(CommandMessage.self, line, limit: maxCommandBytes, what: "command").command
    }

    // MARK: - Answers

    /// One answer line, `\n` included. An answer that would exceed ``maxAnswerBytes`` (the URLs
    /// of `failures-applied`, at most a command's worth) is sent as an error saying so.
    public static func encode(_ answer: ControlAnswer) -> [UInt8] {
        do {
            return try line(AnswerMessage(answer), limit: maxAnswerBytes, what: "answer")
        } catch {
            let refusal = AnswerMessage(.error(.refused, message: error.message))
            return (try? line(refusal, limit: maxAnswerBytes, what: "answer")) ?? Array(Self.answerTooLong.utf8)
        }
    }

    private static let answerTooLong =
        #"{"answer":"error","code":"refused","message":"answer too long","version":1}"# + "\n"

    /// Reads one answer line (with or without its `\n`).
    /// - Throws: ``ControlProtocolError`` as ``decodeCommand(_:)`` does, with ``maxAnswerBytes``.
    public static func decodeAnswer(_ line: some Collection<UInt8>) throws(ControlProtocolError) -> ControlAnswer {
        try decode(AnswerMessage.self, line, limit: maxAnswerBytes, what: "answer").answer
    }

    // MARK: - The line

    private static func line(
        _ message: some Encodable, limit: Int, what: String
    ) throws(ControlProtocolError) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data: Data
        do {
            data = try encoder.encode(message)
        } catch {
            // Only non-finite floats fail to encode, and the protocol has none.
            throw ControlProtocolError(.malformed, "cannot encode the \(what): \(error)")
        }
        guard data.count <= limit else {
            throw ControlProtocolError(.tooLong, "\(what) longer than \(limit) bytes")
        }
        return Array(data) + [UInt8(ascii: "\n")]
    }

    private static func decode<Message: Decodable>(
        _ type: Message.Type, _ line: some Collection<UInt8>, limit: Int, what: String
    ) throws(ControlProtocolError) -> Message {
        var bytes = Array(line)
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        guard bytes.count <= limit else {
            throw ControlProtocolError(.tooLong, "\(what) longer than \(limit) bytes")
        }
        guard !bytes.isEmpty else {
            throw ControlProtocolError(.notJSON, "empty \(what) line: expected one JSON object")
        }
        guard !bytes.contains(UInt8(ascii: "\n")) else {
            throw ControlProtocolError(.notJSON, "more than one line: expected one JSON object and a newline")
        }
        do {
            return try JSONDecoder().decode(Message.self, from: Data(bytes))
        } catch let error as ControlProtocolError {
            throw error
        } catch DecodingError.dataCorrupted(let context) where context.codingPath.isEmpty {
            // JSONDecoder says the same of a syntax error and of a number that is no Int (1.5,
            // 1e30); the second is JSON of the wrong shape, and should say so.
            guard (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil else {
                throw ControlProtocolError(.notJSON, "not a JSON \(what): \(Self.quote(bytes))")
            }
            throw ControlProtocolError(.malformed, "malformed \(what): a number is not an integer in range")
        } catch let error as DecodingError {
            throw ControlProtocolError(.malformed, "malformed \(what): \(Self.explain(error))")
        } catch {
            throw ControlProtocolError(.notJSON, "not a JSON \(what): \(Self.quote(bytes))")
        }
    }

    /// The start of a refused line, printable (for the message that refuses it).
    static func quote(_ bytes: [UInt8]) -> String {
        let shown = String(decoding: bytes.prefix(80), as: UTF8.self).unicodeScalars.map {
            $0.value < 0x20 || $0.value == 0x7F ? "?" : String($0)
        }.joined()
        return "\"" + shown + (bytes.count > 80 ? "…" : "") + "\""
    }

    static func explain(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "the line" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            let parent = path(context)
            return "no \"\(key.stringValue)\"" + (context.codingPath.isEmpty ? "" : " in \(parent)")
        case .typeMismatch(let type, let context): return "\(path(context)) is not \(Self.name(of: type))"
        case .valueNotFound(let type, let context): return "\(path(context)) is null, expected \(Self.name(of: type))"
        case .dataCorrupted(let context): return "\(path(context)): \(context.debugDescription)"
        @unknown default: return "\(error)"
        }
    }

    private static func name(of type: Any.Type) -> String {
        if type == String.self { return "a string" }
        if type == Int.self { return "an integer" }
        if type == Bool.self { return "true or false" }
        if type == [String: Any].self { return "an object" }
        if type == [Any].self { return "an array" }
        return "\(type)"
    }
}
