/// A validated API endpoint: `https://host[:port]`, or `http://` on a loopback host only (tests).
struct Endpoint: Sendable, Equatable {
    var scheme: String
    /// The `Host` header value, and the signed `host`: with `:port` when it is not the default.
    var hostHeader: String
    /// The request URL (`scheme://host[:port]/`).
    var url: String

    /// - Throws: `ClientError.InvalidEndpoint` for anything but https, or http to 127.0.0.0/8, ::1, localhost.
    init(_ string: String) throws {
        func invalid(_ why: String) -> TencentCloudError {
            .client("InvalidEndpoint", "endpoint \(string) \(why)", errorClass: .permanent)
        }
        // Parsed by hand, not with URLComponents: its `host` runs IDNA through ICU, whose
        // normalisation data (and code) then stayed resident in the daemon for a host that is
        // ASCII (issue 23). A host that is not ASCII is refused: the API's hosts are ASCII.
        guard !string.contains(where: { !$0.isASCII || $0.isWhitespace }), let colon = string.firstIndex(of: ":"),
            string[colon...].hasPrefix("://")
        else { throw invalid("is not an absolute URL") }
        let scheme = string[..<colon].lowercased()
        let rest = string[string.index(colon, offsetBy: 3)...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.contains("@"), rest[authorityEnd...].isEmpty || rest[authorityEnd...] == "/" else {
            throw invalid("must be only scheme://host[:port]")
        }
        var rawHost = authority
        var portText: Substring = ""
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw invalid("is not an absolute URL") }
            rawHost = authority[...close]
            let after = authority[authority.index(after: close)...]
            guard after.isEmpty || after.hasPrefix(":") else { throw invalid("is not an absolute URL") }
            portText = after.dropFirst()
        } else if let portColon = authority.lastIndex(of: ":") {
            rawHost = authority[..<portColon]
            portText = authority[authority.index(after: portColon)...]
        }
        let port = portText.isEmpty || !portText.allSatisfy(\.isNumber) ? nil : Int(portText)
        guard Self.isHost(rawHost), portText.isEmpty || (port.map { (0...65_535).contains($0) } ?? false) else {
            throw invalid("is not an absolute URL")
        }
        var host = rawHost.lowercased()
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        switch scheme {
        case "https": break
        case "http":
            guard Self.isLoopback(host) else {
                throw invalid("uses plain http://, which is accepted only for loopback hosts: use https://")
            }
        default:
            throw invalid("must use https://")
        }
        let defaultPort = scheme == "https" ? 443 : 80
        var header = host.contains(":") ? "[\(host)]" : host
        if let port, port != defaultPort { header += ":\(port)" }
        self.scheme = scheme
        self.hostHeader = header
        self.url = "\(scheme)://\(header)/"
    }

    /// A name or IPv4 address (letters, digits, `.` and `-`), or an IPv6 address in brackets
    /// (hex digits, `:` and `.`, with at least one `:`): nothing else reaches the `Host` header.
    static func isHost(_ host: Substring) -> Bool {
        if host.hasPrefix("[") {
            let inside = host.dropFirst().dropLast()
            return host.hasSuffix("]") && inside.contains(":") && inside.allSatisfy { $0.isHexDigit || $0 == ":" || $0 == "." }
        }
        return !host.isEmpty && host.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "." || $0 == "-" }
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }
}
