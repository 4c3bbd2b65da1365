import Foundation
import Glibc
import TencentEmulator
import Testing

extension EndToEnd {

    /// A rotated key is picked up without a restart (SPEC §6): on SIGHUP every credential source is
    /// read again, and once before a batch is failed for AuthFailure.SecretIdNotFound /
    /// InvalidSecretId / SignatureFailure.
    @Suite(.serialized, .timeLimit(.minutes(3))) struct CredentialRotationTests {
        static let www = DaemonFixture.www
        static let newID = "AKIDROTATED0000000000000000000000"
        static let newKey = "rotatedSecretKey000000000000000000"
        /// No credentials in the environment: the file or the systemd directory is the source.
        static let noEnvironmentCredentials = ["TENCENTCLOUD_SECRET_ID": "", "TENCENTCLOUD_SECRET_KEY": ""]

        static func writeINI(_ path: String, id: String, key: String) throws {
            try "[default]\nsecret_id = \(id)\nsecret_key = \(key)\n".write(toFile: path, atomically: true, encoding: .utf8)
        }

        enum Trigger: String, CaseIterable, CustomTestStringConvertible {
            case sighup, authFailure
            var testDescription: String { rawValue }
        }

        @Test(arguments: Trigger.allCases)
        func aRotatedCredentialsFileIsPickedUp(trigger: Trigger) async throws {
            try await DaemonFixture.with(extraConfig: "credentials_file = \"creds.ini\"") { fixture in
                let file = fixture.directory + "/creds.ini"
                try Self.writeINI(file, id: fixture.emulator.secretId, key: fixture.emulator.secretKey)
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon(environment: Self.noEnvironmentCredentials)
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)

                // The key is rotated: the new one in the file, the old one revoked.
                fixture.emulator.addCredential(secretId: Self.newID, secretKey: Self.newKey)
                try Self.writeINI(file, id: Self.newID, key: Self.newKey)
                fixture.emulator.removeCredential(secretId: fixture.emulator.secretId)
                if trigger == .sighup {
                    kill(try #require(fixture.daemon?.pid), SIGHUP)
                    #expect(await fixture.eventually { fixture.daemon?.log.contains("credentials read again") == true })
                }
                fixture.emulator.resetRecords()
                try fixture.write("page.html", "v3\n")
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)\n\(fixture.daemon?.log ?? "")")
                #expect(fixture.purged == [Self.www + "page.html"])
                #expect(fixture.daemon?.log.contains(Self.newKey) == false, "the secret never appears in the log")
                if trigger == .authFailure {
                    #expect(fixture.emulator.requests.contains { $0.outcome == "AuthFailure.SecretIdNotFound" })
                }
            }
        }

        @Test func rotatedSystemdCredentialsArePickedUpOnReload() async throws {
            try await DaemonFixture.with { fixture in
                let directory = fixture.directory + "/credentials"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                func write(_ id: String, _ key: String) throws {
                    try id.write(toFile: directory + "/tencentcloud-secret-id", atomically: true, encoding: .utf8)
                    try key.write(toFile: directory + "/tencentcloud-secret-key", atomically: true, encoding: .utf8)
                }
                try write(fixture.emulator.secretId, fixture.emulator.secretKey)
                try fixture.write("page.html", "v1\n")
                var environment = Self.noEnvironmentCredentials
                environment["CREDENTIALS_DIRECTORY"] = directory
                try await fixture.startDaemon(environment: environment)
                // At rest the daemon asks the API nothing (no quota poll at start: SPEC §7).
                #expect(fixture.emulator.requests.isEmpty, "\(fixture.emulator.requests.map(\.action))")

                fixture.emulator.addCredential(secretId: Self.newID, secretKey: Self.newKey)
                try write(Self.newID, Self.newKey)
                fixture.emulator.removeCredential(secretId: fixture.emulator.secretId)
                kill(try #require(fixture.daemon?.pid), SIGHUP)
                #expect(await fixture.eventually { fixture.daemon?.log.contains("credentials read again") == true })
                fixture.emulator.resetRecords()
                try fixture.write("page.html", "v2\n")
                let flushed = try await fixture.flushWait()
                #expect(flushed.status == 0, "\(flushed.stderr)")
                #expect(fixture.purged == [Self.www + "page.html"])
                #expect(!fixture.emulator.requests.contains { $0.outcome.hasPrefix("AuthFailure") }, "the new key was used at once")
            }
        }

        /// A reload whose credentials cannot be read keeps the old client working.
        @Test func aReloadWithUnreadableCredentialsKeepsTheOldClient() async throws {
            try await DaemonFixture.with(extraConfig: "credentials_file = \"creds.ini\"") { fixture in
                let file = fixture.directory + "/creds.ini"
                try Self.writeINI(file, id: fixture.emulator.secretId, key: fixture.emulator.secretKey)
                try fixture.write("page.html", "v1\n")
                try await fixture.startDaemon(environment: Self.noEnvironmentCredentials)
                try "[default]\n".write(toFile: file, atomically: true, encoding: .utf8)  // broken mid-rotation
                kill(try #require(fixture.daemon?.pid), SIGHUP)
                #expect(await fixture.eventually { fixture.daemon?.log.contains("keeping the old one") == true })
                try fixture.write("page.html", "v2\n")
                #expect(try await fixture.flushWait().status == 0)
                #expect(fixture.purged == [Self.www + "page.html"])
            }
        }
    }
}
