import Foundation

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
        guard let components = URLComponents(string: string), let scheme = components.scheme?.lowercased(),
            let rawHost = components.host, !rawHost.isEmpty
        else { throw invalid("is not an absolute URL") }
        guard components.user == nil, components.password == nil, components.query == nil,
            components.fragment == nil, components.path.isEmpty || components.path == "/"
        else { throw invalid("must be only scheme://host[:port]") }
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
        if let port = components.port, port != defaultPort { header += ":\(port)" }
        self.scheme = scheme
        self.hostHeader = header
        self.url = "\(scheme)://\(header)/"
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }
}
