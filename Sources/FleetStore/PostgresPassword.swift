import Foundation

/// The fleet database's password (SPEC §9), first found wins: `PGPASSWORD`; the systemd
/// credential `postgresql-password` (`$CREDENTIALS_DIRECTORY/postgresql-password`); the passfile
/// (`PGPASSFILE`, else `~/.pgpass`), read as libpq reads it
/// (<https://www.postgresql.org/docs/15/libpq-pgpass.html>). Never in the config, never printed:
/// only ``source`` is shown.
public struct PostgresPassword: Sendable, Equatable, CustomStringConvertible {
    /// The password; nil when no source has one (the server may not ask: trust, peer, a certificate).
    public let value: String?
    /// Where it came from, for `check-config` and the logs ("PGPASSWORD", "the systemd credential
    /// /run/credentials/…/postgresql-password", "the passfile /root/.pgpass, line 3", or "none").
    public let source: String
    /// Why a source that exists was passed over (a passfile readable by others…), for a warning.
    public let notes: [String]

    public var description: String { "password from \(source)" }

    /// The systemd credential's name (`LoadCredential=postgresql-password:/etc/…`).
    public static let credentialName = "postgresql-password"

    /// Finds the password for `url` in the environment, the credentials directory and the passfile.
    /// - Parameters:
    ///   - environment: `PGPASSWORD`, `CREDENTIALS_DIRECTORY`, `PGPASSFILE`, `HOME`.
    public static func resolve(for url: PostgresURL, environment: [String: String]) -> PostgresPassword {
        var notes: [String] = []
        if let password = url.password {
            return PostgresPassword(value: password, source: "the URL (tests only)", notes: notes)
        }
        if let password = environment["PGPASSWORD"], !password.isEmpty {
            return PostgresPassword(value: password, source: "PGPASSWORD", notes: notes)
        }
        if let directory = environment["CREDENTIALS_DIRECTORY"], !directory.isEmpty {
            let path = directory + "/" + credentialName
            if let data = FileManager.default.contents(atPath: path), var text = String(data: data, encoding: .utf8) {
                if text.hasSuffix("\n") { text.removeLast() }
                if !text.isEmpty {
                    return PostgresPassword(value: text, source: "the systemd credential \(path)", notes: notes)
                }
            }
        }
        let passfile =
            environment["PGPASSFILE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? environment["HOME"].map { $0 + "/.pgpass" }
        if let passfile {
            switch readPassfile(passfile) {
            case .missing: break
            case .refused(let why): notes.append("the passfile \(passfile) is not used: \(why)")
            case .text(let text):
                if let (password, line) = match(passfile: text, url: url) {
                    return PostgresPassword(value: password, source: "the passfile \(passfile), line \(line)", notes: notes)
                }
            }
        }
        return PostgresPassword(value: nil, source: "none", notes: notes)
    }

    enum Passfile: Equatable {
        case missing
        case refused(String)
        case text(String)
    }

    /// libpq reads a passfile only if it is a regular file that neither its group nor others may
    /// read or write (`chmod 0600`); otherwise it warns and goes on without it.
    static func readPassfile(_ path: String) -> Passfile {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return .refused("not a plain file") }
        guard info.st_mode & (S_IRWXG | S_IRWXO) == 0 else {
            return .refused("group or others may read it (chmod 0600 \(path), as libpq requires)")
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            return .refused("it cannot be read")
        }
        return .text(text)
    }

    /// libpq's default unix socket directory on Debian: a socket there matches `localhost` too.
    static let defaultSocketDirectory = "/var/run/postgresql"

    /// The first line of `passfile` that matches `url`: `hostname:port:database:username:password`,
    /// each of the first four a literal or `*`, `\` escaping `:` and `\`; lines starting with `#`
    /// are comments. Returns the password and its line number.
    static func match(passfile: String, url: PostgresURL) -> (password: String, line: Int)? {
        // A socket in the default directory is looked up as `localhost` (libpq's rule); any
        // other host, or socket directory, as written.
        let hosts = [url.host == defaultSocketDirectory ? "localhost" : url.host]
        // "\r\n" is one Character: both end a line (libpq strips the "\r" too).
        let lines = passfile.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" }
        for (index, line) in lines.enumerated() {
            var text = Substring(line)
            if text.hasSuffix("\r") { text = text.dropLast() }
            if text.hasPrefix("#") || text.isEmpty { continue }
            let fields = split(text)
            guard fields.count >= 5 else { continue }
            func matches(_ field: String, _ value: String) -> Bool { field == "*" || field == value }
            guard hosts.contains(where: { matches(fields[0], $0) }), matches(fields[1], String(url.port)),
                matches(fields[2], url.database), matches(fields[3], url.user)
            else { continue }
            // The password is the rest of the line (a further unescaped `:` belongs to it).
            return (fields[4...].joined(separator: ":"), index + 1)
        }
        return nil
    }

    /// Splits a passfile line at unescaped `:`s, removing the escapes.
    static func split(_ line: Substring) -> [String] {
        var fields: [String] = []
        var current = ""
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" {
                fields.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        fields.append(current)
        return fields
    }
}
