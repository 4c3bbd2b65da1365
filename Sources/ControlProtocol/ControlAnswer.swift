/// The daemon's one answer to a ``ControlCommand``, sent as one JSON object on one line
/// (``ControlCodec``); the key `answer` names the case:
///
/// | case | JSON |
/// | --- | --- |
/// | ``pong`` | `{"answer":"pong","version":1}` |
/// | ``flushRequested`` | `{"answer":"flush-requested","version":1}` |
/// | ``submitted`` | `{"answer":"submitted","version":1}` |
/// | ``failed(count:urls:)`` | `{"answer":"failed","count":3,"urls":["https://…"],"version":1}` |
/// | ``queued(added:total:)`` | `{"added":2,"answer":"queued","total":3,"version":1}` |
/// | ``failuresApplied(applied:unmatched:)`` | `{"answer":"failures-applied","applied":2,"unmatched":[],"version":1}` |
/// | ``error(_:message:)`` | `{"answer":"error","code":"busy","message":"too many connections (128); try again","version":1}` |
public enum ControlAnswer: Sendable, Hashable {
    /// To ``ControlCommand/ping``: a daemon is listening.
    case pong
    /// To a flush without `wait`: the window is closing.
    case flushRequested
    /// To a flush with `wait`: every URL queued up to the call was accepted by the API.
    case submitted
    /// To a flush with `wait`: `count` URLs queued up to the call failed permanently; `urls` names
    /// the first of them (at most 20).
    case failed(count: Int, urls: [String])
    /// To ``ControlCommand/purge(_:)``: `added` of the `total` URLs were new (the rest were
    /// already pending).
    case queued(added: Int, total: Int)
    /// To ``ControlCommand/failures(_:urls:)``: how many failures the action applied to, and the
    /// URLs named that were not among them.
    case failuresApplied(applied: Int, unmatched: [String])
    /// The command was not carried out; `message` says why, for a human.
    case error(ErrorCode, message: String)

    /// Why a command was not carried out. A client decides on the code; the message is for people.
    public enum ErrorCode: String, Sendable, Hashable, Codable, CaseIterable {
        /// The line was not a command: not JSON, a wrong shape or type, an unknown command.
        case badCommand = "bad-command"
        /// The command's ``ControlCodec/version`` is one this daemon does not speak.
        case unsupportedVersion = "unsupported-version"
        /// The line was longer than ``ControlCodec/maxCommandBytes``.
        case tooLong = "too-long"
        /// No complete line within ``ControlCodec/commandDeadline`` of connecting.
        case noCommand = "no-command"
        /// The socket had ``ControlCodec/maxConnections`` open already: try again.
        case busy
        /// The daemon is stopping (or stopped) before it could answer: nothing failed, try again.
        case stopping
        /// A waiting client was found gone (it timed out); nobody reads this answer.
        case gone
        /// The daemon refused the command (a URL that is not http(s), a state it cannot write).
        case refused
    }

    /// An error answer for a line the codec refused (``ControlProtocolError``).
    public init(refusing error: ControlProtocolError) {
        let code: ErrorCode =
            switch error.code {
            case .tooLong: .tooLong
            case .unsupportedVersion: .unsupportedVersion
            case .notJSON, .malformed, .unknownCase: .badCommand
            }
        self = .error(code, message: error.message)
    }
}

extension ControlAnswer: CustomStringConvertible {
    /// The answer as one readable line, worded as the text protocol before ``ControlCodec`` was
    /// (`queued 2 3`, `failed 1 https://…`, `error daemon stopping`): the CLI quotes it in its
    /// messages, which must not change.
    public var description: String {
        switch self {
        case .pong: "pong"
        case .flushRequested: "ok"
        case .submitted: "submitted"
        case .failed(let count, let urls): (["failed", "\(count)"] + urls).joined(separator: " ")
        case .queued(let added, let total): "queued \(added) \(total)"
        case .failuresApplied(let applied, let unmatched): (["done", "\(applied)"] + unmatched).joined(separator: "\t")
        case .error(_, let message): "error \(message)"
        }
    }
}
