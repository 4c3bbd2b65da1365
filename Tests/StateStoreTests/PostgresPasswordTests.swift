import FleetStore
import Foundation
import TestPostgres
import Testing

@testable import FleetStore

/// SPEC §9: the password comes from PGPASSWORD, else the systemd credential
/// `postgresql-password`, else the passfile (PGPASSFILE or ~/.pgpass) read as libpq reads it
/// (https://www.postgresql.org/docs/15/libpq-pgpass.html): first match wins, `*` matches
/// anything, `\` escapes `:` and `\`, a socket in the default directory is `localhost`, and a
/// file others may read is not used. Only where it came from is ever shown.
@Suite struct PostgresPasswordTests {
    static let url = try! PostgresURL("postgresql://purgewatch@db.internal:5432/fleet?sslmode=verify-full")

    static func directory() throws -> String {
        let path = "/tmp/pw-pgpass-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String, mode: Int) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    @Test func firstFoundWinsAndOnlyTheSourceIsShown() throws {
        let home = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: home) }
        try FileManager.default.createDirectory(atPath: home + "/creds", withIntermediateDirectories: true)
        try Self.write("from-credential\n", to: home + "/creds/postgresql-password", mode: 0o600)
        try Self.write("*:*:*:*:from-passfile\n", to: home + "/.pgpass", mode: 0o600)
        let all = ["PGPASSWORD": "from-env", "CREDENTIALS_DIRECTORY": home + "/creds", "HOME": home]

        let env = PostgresPassword.resolve(for: Self.url, environment: all)
        #expect(env.value == "from-env" && env.source == "PGPASSWORD")
        var rest = all
        rest["PGPASSWORD"] = nil
        let credential = PostgresPassword.resolve(for: Self.url, environment: rest)
        #expect(credential.value == "from-credential", "one trailing newline dropped")
        #expect(credential.source == "the systemd credential \(home)/creds/postgresql-password")
        rest["CREDENTIALS_DIRECTORY"] = nil
        let passfile = PostgresPassword.resolve(for: Self.url, environment: rest)
        #expect(passfile.value == "from-passfile" && passfile.source == "the passfile \(home)/.pgpass, line 1")
        #expect(PostgresPassword.resolve(for: Self.url, environment: [:]).value == nil)
        for found in [env, credential, passfile] {
            #expect(!"\(found)".contains("from-"), "must not: the password in its description")
        }
    }

    @Test(
        arguments: [
            // (passfile, expected password): the first line that matches host, port, database, user.
            ("db.internal:5432:fleet:purgewatch:exact", "exact"),
            ("other:5432:fleet:purgewatch:no\ndb.internal:5432:fleet:purgewatch:second", "second"),
            ("db.internal:5433:fleet:purgewatch:no\n*:*:*:purgewatch:wild", "wild"),
            ("db.internal:5432:other:purgewatch:no\ndb.internal:5432:fleet:someone:no", nil),
            ("# db.internal:5432:fleet:purgewatch:comment\n*:*:*:*:after", "after"),
            ("*:*:*:*:pa\\:ss\\\\word", "pa:ss\\word"),
            ("*:*:*:*:ends:at:the:first:colon", "ends"),
            ("\\*:5432:fleet:purgewatch:an escaped star is a star", nil),
            ("*:*:*:*:a trailing backslash stays\\", "a trailing backslash stays\\"),
            ("db.internal:5432:fleet:purgewatch:crlf\r\n", "crlf"),
            ("db.internal:5432:fleet", nil),
        ] as [(String, String?)])
    func passfileLinesMatchAsLibpqReadsThem(_ passfile: String, _ expected: String?) {
        #expect(PostgresPassword.match(passfile: passfile, url: Self.url)?.password == expected, "\(passfile)")
    }

    @Test func aSocketInTheDefaultDirectoryIsLocalhost() throws {
        let socket = try PostgresURL("postgresql://purgewatch@/fleet?host=/var/run/postgresql")
        #expect(PostgresPassword.match(passfile: "localhost:5432:fleet:purgewatch:local", url: socket)?.password == "local")
        #expect(PostgresPassword.match(passfile: "/var/run/postgresql:5432:fleet:purgewatch:path", url: socket) == nil)
        let elsewhere = try PostgresURL("postgresql://purgewatch@/fleet?host=/tmp/pg")
        #expect(PostgresPassword.match(passfile: "/tmp/pg:5432:fleet:purgewatch:path", url: elsewhere)?.password == "path")
        #expect(PostgresPassword.match(passfile: "localhost:5432:fleet:purgewatch:local", url: elsewhere) == nil)
    }

    @Test func aPassfileOthersMayReadIsNotUsedAndSaysWhy() throws {
        let home = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: home) }
        try Self.write("*:*:*:*:exposed\n", to: home + "/pgpass", mode: 0o644)
        let found = PostgresPassword.resolve(for: Self.url, environment: ["PGPASSFILE": home + "/pgpass", "HOME": "/nonexistent"])
        #expect(found.value == nil)
        #expect(found.notes.first?.contains("chmod 0600") == true, "\(found.notes)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: home + "/pgpass")
        #expect(PostgresPassword.resolve(for: Self.url, environment: ["PGPASSFILE": home + "/pgpass"]).value == "exposed")
    }
}

/// What `check-config --require-database` reads: the schema version, without writing.
@Suite struct PostgresSchemaVersionTests {
    @Test(.enabled(if: TemporaryPostgres.runs, Comment(rawValue: TemporaryPostgres.skipMessage)))
    func theInstalledVersionIsReadWithoutWriting() async throws {
        let server = try TemporaryPostgres.server()
        let database = try await server.createDatabase()
        let url = try server.url(database)
        #expect(try await PostgresSchema.installedVersion(url: url, password: nil, logger: TemporaryPostgres.quietLogger) == nil)
        // psql, the oracle: the read created nothing.
        #expect(try server.psql(database, "SELECT to_regclass('schema_version') IS NULL") == "t", "must not: created by the read")
        let store = try await PostgresQueueStore.connect(url: url, site: "www.example.com", logger: TemporaryPostgres.quietLogger)
        await store.close()
        #expect(
            try await PostgresSchema.installedVersion(url: url, password: nil, logger: TemporaryPostgres.quietLogger) == PostgresSchema.latestVersion)
    }
}
