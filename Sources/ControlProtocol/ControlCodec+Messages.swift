/// The JSON shapes of ``ControlCommand`` and ``ControlAnswer``: a flat object with `version`, the
/// case's name (`command` / `answer`) and the case's fields. Written by hand rather than
/// synthesised so that the version is checked first, an unknown case is named in the error, and
/// the wire names stay fixed whatever the Swift names become.
struct CommandMessage: Codable {
    var command: ControlCommand

    init(_ command: ControlCommand) { self.command = command }

    private enum Keys: String, CodingKey {
        case version, command, wait, full, items, action, urls
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        try checkVersion(container.decode(Int.self, forKey: .version))
        let name = try container.decode(String.self, forKey: .command)
        switch name {
        case "ping":
            command = .ping
        case "flush":
            command = .flush(
                wait: try container.decode(Bool.self, forKey: .wait),
                full: try container.decode(Bool.self, forKey: .full))
        case "purge":
            command = .purge(try container.decode([PurgeItemMessage].self, forKey: .items).map(\.item))
        case "failures":
            let action = try container.decode(String.self, forKey: .action)
            guard let known = FailureAction(rawValue: action) else {
                throw ControlProtocolError(
                    .malformed, "malformed command: action \"\(action)\" is neither retry nor forget")
            }
            command = .failures(known, urls: try container.decode([String].self, forKey: .urls))
        default:
            throw ControlProtocolError(
                .unknownCase, "unknown command \"\(name.prefix(80))\" (this daemon knows ping, flush, purge, failures)")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(ControlCodec.version, forKey: .version)
        switch command {
        case .ping:
            try container.encode("ping", forKey: .command)
        case .flush(let wait, let full):
            try container.encode("flush", forKey: .command)
            try container.encode(wait, forKey: .wait)
            try container.encode(full, forKey: .full)
        case .purge(let items):
            try container.encode("purge", forKey: .command)
            try container.encode(items.map(PurgeItemMessage.init), forKey: .items)
        case .failures(let action, let urls):
            try container.encode("failures", forKey: .command)
            try container.encode(action.rawValue, forKey: .action)
            try container.encode(urls, forKey: .urls)
        }
    }
}

/// `{"url": "…", "path_hex": "…"}`: the path's raw bytes as lower-case hex (absent for a URL
/// given as a URL).
struct PurgeItemMessage: Codable {
    var item: PurgeItem

    init(_ item: PurgeItem) { self.item = item }

    private enum Keys: String, CodingKey {
        case url
        case pathHex = "path_hex"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        let url = try container.decode(String.self, forKey: .url)
        var path: [UInt8]?
        if let hex = try container.decodeIfPresent(String.self, forKey: .pathHex) {
            guard let bytes = Self.bytes(fromHex: hex) else {
                throw ControlProtocolError(.malformed, "malformed command: path_hex of \(url.prefix(200)) is not hex")
            }
            path = bytes
        }
        item = PurgeItem(url: url, path: path)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(item.url, forKey: .url)
        if let path = item.path { try container.encode(Self.hex(path), forKey: .pathHex) }
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func bytes(fromHex text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count.isMultiple(of: 2) else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

struct AnswerMessage: Codable {
    var answer: ControlAnswer

    init(_ answer: ControlAnswer) { self.answer = answer }

    private enum Keys: String, CodingKey {
        case version, answer, count, urls, added, total, applied, unmatched, code, message
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        try checkVersion(container.decode(Int.self, forKey: .version))
        func count(_ key: Keys) throws -> Int {
            let value = try container.decode(Int.self, forKey: key)
            guard value >= 0 else {
                throw ControlProtocolError(.malformed, "malformed answer: \(key.stringValue) is negative")
            }
            return value
        }
        let name = try container.decode(String.self, forKey: .answer)
        switch name {
        case "pong": answer = .pong
        case "flush-requested": answer = .flushRequested
        case "submitted": answer = .submitted
        case "failed":
            answer = .failed(count: try count(.count), urls: try container.decode([String].self, forKey: .urls))
        case "queued": answer = .queued(added: try count(.added), total: try count(.total))
        case "failures-applied":
            answer = .failuresApplied(
                applied: try count(.applied), unmatched: try container.decode([String].self, forKey: .unmatched))
        case "error":
            let code = try container.decode(String.self, forKey: .code)
            let message = try container.decode(String.self, forKey: .message)
            // A code from a newer daemon is still an error: keep its message, call it a refusal.
            answer = .error(ControlAnswer.ErrorCode(rawValue: code) ?? .refused, message: message)
        default:
            throw ControlProtocolError(.unknownCase, "unknown answer \"\(name.prefix(80))\"")
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(ControlCodec.version, forKey: .version)
        switch answer {
        case .pong: try container.encode("pong", forKey: .answer)
        case .flushRequested: try container.encode("flush-requested", forKey: .answer)
        case .submitted: try container.encode("submitted", forKey: .answer)
        case .failed(let count, let urls):
            try container.encode("failed", forKey: .answer)
            try container.encode(count, forKey: .count)
            try container.encode(urls, forKey: .urls)
        case .queued(let added, let total):
            try container.encode("queued", forKey: .answer)
            try container.encode(added, forKey: .added)
            try container.encode(total, forKey: .total)
        case .failuresApplied(let applied, let unmatched):
            try container.encode("failures-applied", forKey: .answer)
            try container.encode(applied, forKey: .applied)
            try container.encode(unmatched, forKey: .unmatched)
        case .error(let code, let message):
            try container.encode("error", forKey: .answer)
            try container.encode(code.rawValue, forKey: .code)
            try container.encode(message, forKey: .message)
        }
    }
}

/// The version is read before anything else: a message of another version is refused as such,
/// not as a wrong shape.
private func checkVersion(_ version: Int) throws {
    guard version == ControlCodec.version else {
        throw ControlProtocolError(
            .unsupportedVersion,
            "control protocol version \(version) is not supported (this purgewatch speaks version "
                + "\(ControlCodec.version)): run the CLI and the daemon of the same release")
    }
}
