import Foundation

/// The fleet database's password (SPEC §9), first found wins: `PGPASSWORD`; the systemd
/// credential `postgresql-password` (`$CREDENTIALS_DIRECTORY/postgresql-password`); the passfile
/// (`PGPASSFILE`, else `~/.pgpass`), read as libpq reads it
/// (<https://www.postgresql.org/docs/15/libpq-pgpass.html>). Never in the config, never printed:
/// only ``source`` is shown.
public struct PostgresPassword: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    /// The password; nil when no source has one (the server may not ask: trust, peer, a certificate).
    public let value: String?
    /// Where it came from, for `check-config` and the logs ("PGPASSWORD", "the systemd credential
    /// /run/credentials/…/postgresql-password", "the passfile /root/.pgpass, line 3", or "none").
    public let source: String
    /// Why a source that exists was passed over (a passfile readable by others…), for a warning.
    public let notes: [String]

    public var description: String { "password from \(source)" }
    /// `dump()` and the debugger show the source, never the password.
    public var customMirror: Mirror { Mirror(self, children: ["source": source, "notes": notes]) }

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
            ?? (environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? homeDirectory()).map { $0 + "/.pgpass" }
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

    /// The user's home directory from the password database, when `HOME` is not set (as libpq).
    static func homeDirectory() -> String? {
        guard let entry = getpwuid(geteuid()), let directory = entry.pointee.pw_dir else { return nil }
        return String(cString: directory)
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

    /// The first line of `passfile` that matches `url`, as libpq's `passwordFromFile` finds it:
    /// `hostname:port:database:username:password`; each of the first four fields matches its value
    /// exactly, or anything when it is exactly an unescaped `*`; `\` escapes the next character; the
    /// password ends at the first unescaped `:`; lines starting with `#`, and empty ones, are
    /// skipped; trailing `\r` and `\n` are stripped. Returns the password and its line number.
    static func match(passfile: String, url: PostgresURL) -> (password: String, line: Int)? {
        let host = url.host == defaultSocketDirectory ? "localhost" : url.host
        let tokens = [host, String(url.port), url.database, url.user].map { Array($0.utf8) }
        let bytes = Array(passfile.utf8)
        for (index, raw) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            var line = Array(raw)
            while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: "\n") { line.removeLast() }
            if line.isEmpty || line[0] == UInt8(ascii: "#") { continue }
            var position: Int? = 0
            for token in tokens {
                guard let start = position else { break }
                position = fieldMatches(line, from: start, token)
            }
            guard var cursor = position else { continue }
            var password: [UInt8] = []
            while cursor < line.count, line[cursor] != UInt8(ascii: ":") {
                if line[cursor] == UInt8(ascii: "\\"), cursor + 1 < line.count { cursor += 1 }
                password.append(line[cursor])
                cursor += 1
            }
            return (String(decoding: password, as: UTF8.self), index + 1)
        }
        return nil
    }

    /// libpq's `pwdfMatchesString`: whether the field at `start` matches `token`; the index after
    /// its `:` when it does.
    static func fieldMatches(_ line: [UInt8], from start: Int, _ token: [UInt8]) -> Int? {
        let colon = UInt8(ascii: ":")
        if start + 1 < line.count, line[start] == UInt8(ascii: "*"), line[start + 1] == colon { return start + 2 }
        var index = start
        var matched = 0
        while index < line.count {
            var escaped = false
            if line[index] == UInt8(ascii: "\\") {
                index += 1
                escaped = true
                if index == line.count { return nil }
            }
            if line[index] == colon, !escaped, matched == token.count { return index + 1 }
            guard matched < token.count, line[index] == token[matched] else { return nil }
            index += 1
            matched += 1
        }
        return nil
    }
}
