import PostgresNIO

/// Where the fleet's state lives: `postgresql://USER@HOST:PORT/DATABASE?sslmode=MODE` (SPEC §9),
/// parsed by hand so that no error, log line or description can carry the password.
///
/// - `postgres://` is accepted too; the user, the password and the database are percent-decoded.
/// - HOST is a name, an IPv4 address or a bracketed IPv6 one; without one (or with
///   `?host=/DIRECTORY`, as libpq reads it) the server's unix socket `DIRECTORY/.s.PGSQL.PORT` is used,
///   `/var/run/postgresql` by default (Debian's). PORT defaults to 5432, DATABASE to the user.
/// - `sslmode` follows libpq (<https://www.postgresql.org/docs/15/libpq-ssl.html>): `disable`;
///   `prefer` (the default: TLS when the server offers it, certificate not checked); `require`
///   (TLS, certificate not checked); `verify-ca` (the certificate chains to a trusted root);
///   `verify-full` (and names the host). Roots are the system's trust store. `allow` is not supported.
///   Over a unix socket there is no TLS.
/// - A password in the URL is refused unless `allowingPassword` (tests only): the daemon takes it
///   from PGPASSWORD, the systemd credential or the passfile (SPEC §9), never from the config.
public struct PostgresURL: Sendable, Equatable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, CaseIterable {
        case disable, prefer, require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var user: String
    /// A host name or address, or (starting with `/`) the directory of the server's unix socket.
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: SSLMode
    /// Only a test's URL carries one; see ``description``.
    var password: String?

    /// Whether the URL carried a password (never what it was).
    public var hasPassword: Bool { password != nil }
    public var usesUnixSocket: Bool { host.hasPrefix("/") }
    /// The server's unix socket, when ``usesUnixSocket``.
    public var socketPath: String? { usesUnixSocket ? "\(host)/.s.PGSQL.\(port)" : nil }

    /// The URL with the password replaced by `***`: the only way it is ever printed.
    public var description: String {
        let authority = host.hasPrefix("/") ? "" : (host.contains(":") ? "[\(host)]" : host)
        var text = "postgresql://\(user)\(password == nil ? "" : ":***")@\(authority):\(port)/\(database)?sslmode=\(sslMode.rawValue)"
        if usesUnixSocket { text += "&host=\(host)" }
        return text
    }

    /// Parses a URL.
    /// - Parameters:
    ///   - text: `postgresql://USER[:PASSWORD]@[HOST][:PORT][/DATABASE][?sslmode=MODE&host=/DIR]`.
    ///   - allowingPassword: accept a password in the URL (tests only).
    /// - Throws: ``PostgresStoreError`` (`invalidURL`, `passwordInURL`), whose text shows the URL
    ///   with its password redacted.
    public init(_ text: String, allowingPassword: Bool = false) throws(PostgresStoreError) {
        let shown = Self.redactingURL(text)
        func invalid(_ why: String) -> PostgresStoreError {
            PostgresStoreError(code: .invalidURL, message: "\(why) in \(shown); expected postgresql://USER@HOST:PORT/DATABASE?sslmode=MODE")
        }
        guard let schemeEnd = text.range(of: "://"),
            ["postgres", "postgresql"].contains(text[..<schemeEnd.lowerBound].lowercased())
        else { throw invalid("the scheme is not postgresql://") }
        var rest = Substring(text[schemeEnd.upperBound...])
        if rest.contains("#") { throw invalid("a fragment (#) is not allowed") }
        var query = Substring("")
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path = Substring("")
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        // Authority: [user[:password]@]host[:port]; the user info ends at the last "@".
        var hostPort = rest
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let info = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
            if let colon = info.firstIndex(of: ":") {
                guard let decoded = Self.percentDecoded(info[info.index(after: colon)...]) else { throw invalid("bad percent-encoding") }
                password = decoded
                user = Self.percentDecoded(info[..<colon])
            } else {
                user = Self.percentDecoded(info)
            }
        }
        guard let user, !user.isEmpty else { throw invalid("no user is named (postgresql://USER@…)") }
        var host = ""
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else { throw invalid("an IPv6 address is not closed by ]") }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("unexpected text after the IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = String(hostPort)
        }
        var port = 5432
        if let portText {
            guard let value = Int(portText), (1...65_535).contains(value) else { throw invalid("the port is not a number from 1 to 65535") }
            port = value
        }
        guard let database = Self.percentDecoded(path) else { throw invalid("bad percent-encoding") }
        var sslMode = SSLMode.prefer
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(parts[0])
            guard parts.count == 2, let value = Self.percentDecoded(parts[1]) else { throw invalid("parameter \(key) has no value") }
            switch key {
            case "sslmode":
                guard let mode = SSLMode(rawValue: value) else {
                    throw invalid(
                        "sslmode=\(value) is not one of \(SSLMode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                sslMode = mode
            case "host":
                guard host.isEmpty else { throw invalid("the host is given twice") }
                host = value
            default:
                throw invalid("parameter \(key) is not supported (only sslmode and host)")
            }
        }
        if host.isEmpty { host = "/var/run/postgresql" }
        if password != nil && !allowingPassword {
            throw PostgresStoreError(
                code: .passwordInURL,
                message:
                    "\(shown) carries a password: remove it from the URL and give it through PGPASSWORD, the systemd credential postgresql-password or ~/.pgpass"
            )
        }
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.database = database.isEmpty ? user : database
        self.sslMode = sslMode
    }

    /// `text` with this URL's password replaced by `***` (a server's or a library's message).
    func redacting(_ text: String) -> String {
        guard let password, !password.isEmpty else { return text }
        return text.replacing(password, with: "***")
    }

    /// A URL as written, with whatever stands between the user's `:` and the last `@` of the
    /// authority replaced by `***` — for error messages about a URL that may not parse.
    static func redactingURL(_ text: String) -> String {
        guard let schemeEnd = text.range(of: "://") else {
            // Not a URL we can read: show nothing of it past a possible password.
            return text.contains("@") ? "(a URL, not shown)" : text
        }
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }

    static func percentDecoded(_ text: Substring) -> String? {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    // MARK: - postgres-nio configurations

    /// NIOSSL's view of the mode; nil for no TLS.
    func tlsConfiguration() -> TLSConfiguration? {
        guard !usesUnixSocket else { return nil }
        var tls = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable: return nil
        case .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        return tls
    }

    /// The pool's configuration; `password` overrides the URL's.
    func clientConfiguration(password override: String?) -> PostgresClient.Configuration {
        let password = override ?? self.password
        var configuration: PostgresClient.Configuration
        if let socketPath {
            configuration = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        } else {
            let tls: PostgresClient.Configuration.TLS
            switch (sslMode, tlsConfiguration()) {
            case (.prefer, let config?): tls = .prefer(config)
            case (_, let config?): tls = .require(config)
            case (_, nil): tls = .disable
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.additionalStartupParameters = [("application_name", "purgewatch")]
        return configuration
    }

    /// One connection's configuration (the migration at connect); `password` overrides the URL's.
    func connectionConfiguration(password override: String?) throws -> PostgresConnection.Configuration {
        let password = override ?? self.password
        var configuration: PostgresConnection.Configuration
        if let socketPath {
            configuration = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch (sslMode, tlsConfiguration()) {
            case (.prefer, let config?): tls = .prefer(try NIOSSLContext(configuration: config))
            case (_, let config?): tls = .require(try NIOSSLContext(configuration: config))
            case (_, nil): tls = .disable
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database, tls: tls)
        }
        configuration.options.additionalStartupParameters = [("application_name", "purgewatch")]
        return configuration
    }
}

/// `dump`, `debugPrint` and a debugger's summary show the redacted URL too.
extension PostgresURL: CustomDebugStringConvertible, CustomReflectable {
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "user": user, "host": host, "port": port, "database": database, "sslMode": sslMode, "hasPassword": hasPassword,
            ])
    }
}
