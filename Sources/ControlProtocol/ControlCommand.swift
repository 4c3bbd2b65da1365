/// What a client asks the running daemon over its control socket (`<state file>.sock`).
///
/// One command per connection, sent as one JSON object on one line (``ControlCodec``), answered
/// by one ``ControlAnswer``. Every object carries ``ControlCodec/version``; the key `command`
/// names the case:
///
/// | case | JSON |
/// | --- | --- |
/// | ``ping`` | `{"command":"ping","version":1}` |
/// | ``flush(wait:full:)`` | `{"command":"flush","full":false,"version":1,"wait":true}` |
/// | ``purge(_:)`` | `{"command":"purge","items":[{"url":"https://…","path_hex":"612e68746d6c"}],"version":1}` |
/// | ``failures(_:urls:)`` | `{"action":"retry","command":"failures","urls":["https://…"],"version":1}` |
public enum ControlCommand: Sendable, Hashable {
    /// Is a daemon listening? Answered ``ControlAnswer/pong`` by the socket's own thread.
    case ping
    /// `flush`: close the coalescing window now (`full`: compare the whole tree). Without `wait`
    /// it is answered ``ControlAnswer/flushRequested`` at once; with `wait`, once every URL queued
    /// up to the call has been accepted (``ControlAnswer/submitted``) or one failed
    /// (``ControlAnswer/failed(count:urls:)``).
    case flush(wait: Bool, full: Bool)
    /// `purge`: URLs queued by hand (answered ``ControlAnswer/queued(added:total:)``).
    case purge([PurgeItem])
    /// `failures --retry | --forget`, for the URLs named (none: every failure). Answered
    /// ``ControlAnswer/failuresApplied(applied:unmatched:)``.
    case failures(FailureAction, urls: [String])

    /// The name the daemon logs for the command (`control: flush-wait`), as the text protocol
    /// before it spelled it.
    public var verb: String {
        switch self {
        case .ping: "ping"
        case .flush(let wait, let full): "flush" + (wait ? "-wait" : "") + (full ? "-full" : "")
        case .purge: "purge"
        case .failures(let action, _): "failures-\(action.rawValue)"
        }
    }
}

/// One URL of a `purge`, with the file it was mapped from when it was given as a path.
public struct PurgeItem: Sendable, Hashable {
    public var url: String
    /// The path relative to the root, as raw bytes (file names need not be UTF-8); sent as hex.
    public var path: [UInt8]?

    public init(url: String, path: [UInt8]? = nil) {
        self.url = url
        self.path = path
    }
}

/// What `failures` does to the failures it names.
public enum FailureAction: String, Sendable, Hashable, Codable, CaseIterable {
    /// Queue them again (through the normal queue: deduplication, quota, retries).
    case retry
    /// Acknowledge them without purging.
    case forget
}
