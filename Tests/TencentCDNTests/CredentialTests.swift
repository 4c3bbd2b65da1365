import AsyncHTTPClient
import Foundation
import Logging
import TencentEmulator
import Testing

@testable import TencentCDN

@Suite("Credential chain")
struct CredentialTests {
    static let noLog = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    func tempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("purgewatch-cred-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func write(_ text: String, _ path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    @Test("environment: SECRET_ID + SECRET_KEY, with TENCENTCLOUD_TOKEN for temporary keys")
    func environment() async throws {
        let http = TencentCDNClient.makeHTTPClient()
        defer { Task { try? await http.shutdown() } }
        let env = [
            "TENCENTCLOUD_SECRET_ID": "AKIDenv0001", "TENCENTCLOUD_SECRET_KEY": "envkey",
            "TENCENTCLOUD_TOKEN": "envtoken",
        ]
        let chain = CredentialChain(
            environment: env,
            credentialsFile: "/nonexistent",
            cvmRole: true,
            httpClient: http,
            logger: Self.noLog
        )
        #expect(chain.kind == .environment)
        let c = try await chain.credentials()
        #expect(c.secretId == "AKIDenv0001")
        #expect(c.secretKey.revealed() == "envkey")
        #expect(c.token?.revealed() == "envtoken")
        let located = CredentialChain.locate(environment: env, credentialsFile: nil, cvmRole: false)
        #expect(located?.kind == .environment)
        #expect(located?.detail == "TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_TOKEN")
        // An id without a key is not a source.
        #expect(
            CredentialChain.locate(environment: ["TENCENTCLOUD_SECRET_ID": "x"], credentialsFile: nil, cvmRole: false)
                == nil
        )
    }

    @Test("systemd credentials: $CREDENTIALS_DIRECTORY files, trailing newline trimmed")
    func systemd() async throws {
        let http = TencentCDNClient.makeHTTPClient()
        defer { Task { try? await http.shutdown() } }
        let dir = try tempDir()
        try write("AKIDsystemd01\n", dir + "/tencentcloud-secret-id")
        try write("systemdkey\n", dir + "/tencentcloud-secret-key")
        let env = ["CREDENTIALS_DIRECTORY": dir]
        let chain = CredentialChain(
            environment: env,
            credentialsFile: "/x",
            cvmRole: true,
            httpClient: http,
            logger: Self.noLog
        )
        #expect(chain.kind == .systemdCredentials)
        let c = try await chain.credentials()
        #expect(c.secretId == "AKIDsystemd01")
        #expect(c.secretKey.revealed() == "systemdkey")
        #expect(c.token == nil)
        // A rotated key is re-read after invalidate().
        try write("systemdkey2", dir + "/tencentcloud-secret-key")
        #expect(try await chain.credentials().secretKey.revealed() == "systemdkey")
        await chain.invalidate()
        #expect(try await chain.credentials().secretKey.revealed() == "systemdkey2")
        // Only one of the two files: not a source.
        try FileManager.default.removeItem(atPath: dir + "/tencentcloud-secret-id")
        #expect(CredentialChain.locate(environment: env, credentialsFile: nil, cvmRole: false) == nil)
    }

    @Test("credentials file: the SDKs' INI format, [default] only")
    func credentialsFile() async throws {
        let http = TencentCDNClient.makeHTTPClient()
        defer { Task { try? await http.shutdown() } }
        let dir = try tempDir()
        let path = dir + "/credentials"
        try write(
            """
            # comment
            [prod]
            secret_id = AKIDprod
            secret_key = prodkey

            [default]
            secret_id = AKIDfile0001
            secret_key=filekey  
            ; another comment
            """,
            path
        )
        let chain = CredentialChain(
            environment: [:],
            credentialsFile: path,
            cvmRole: true,
            httpClient: http,
            logger: Self.noLog
        )
        #expect(chain.kind == .credentialsFile)
        #expect(chain.detail == path)
        let c = try await chain.credentials()
        #expect(c.secretId == "AKIDfile0001")
        #expect(c.secretKey.revealed() == "filekey")

        try write("[prod]\nsecret_id = a\nsecret_key = b\n", path)
        let missing = CredentialChain(
            environment: [:],
            credentialsFile: path,
            cvmRole: false,
            httpClient: http,
            logger: Self.noLog
        )
        await #expect(throws: TencentCloudError.self) { _ = try await missing.credentials() }
        let unreadable = CredentialChain(
            environment: [:],
            credentialsFile: dir + "/nope",
            cvmRole: false,
            httpClient: http,
            logger: Self.noLog
        )
        do {
            _ = try await unreadable.credentials()
            Issue.record("expected an error")
        } catch let error as TencentCloudError {
            #expect(error.code == "ClientError.NoCredentials")
            #expect(error.errorClass == .permanent)
            #expect(error.message.contains(dir + "/nope"))
        }
    }

    @Test("the chain's order: environment, systemd, file, role; nothing configured is an error")
    func order() async throws {
        let dir = try tempDir()
        try write("id", dir + "/tencentcloud-secret-id")
        try write("key", dir + "/tencentcloud-secret-key")
        let env = ["TENCENTCLOUD_SECRET_ID": "a", "TENCENTCLOUD_SECRET_KEY": "b", "CREDENTIALS_DIRECTORY": dir]
        #expect(CredentialChain.locate(environment: env, credentialsFile: "/f", cvmRole: true)?.kind == .environment)
        #expect(
            CredentialChain.locate(environment: ["CREDENTIALS_DIRECTORY": dir], credentialsFile: "/f", cvmRole: true)?
                .kind == .systemdCredentials
        )
        #expect(
            CredentialChain.locate(environment: [:], credentialsFile: "/f", cvmRole: true)?.kind == .credentialsFile
        )
        #expect(CredentialChain.locate(environment: [:], credentialsFile: nil, cvmRole: true)?.kind == .cvmRole)
        #expect(CredentialChain.locate(environment: [:], credentialsFile: nil, cvmRole: false) == nil)
        let http = TencentCDNClient.makeHTTPClient()
        defer { Task { try? await http.shutdown() } }
        let none = CredentialChain(
            environment: [:],
            credentialsFile: nil,
            cvmRole: false,
            httpClient: http,
            logger: Self.noLog
        )
        #expect(none.kind == nil)
        await #expect(throws: TencentCloudError.self) { _ = try await none.credentials() }
    }

    @Test("CVM role: discovers the role, caches, refreshes at most 300 s before expiry")
    func cvmRoleRefresh() async throws {
        let t0: Int64 = 1_800_000_000
        let clock = ManualWallClock(Date(timeIntervalSince1970: TimeInterval(t0)))
        let metadata = try await FakeMetadataService.start(
            credentials: .init(secretId: "AKIDtmp1", secretKey: "tmpkey1", token: "tok1", expiredTime: t0 + 1000)
        )
        let http = TencentCDNClient.makeHTTPClient()
        let provider = CVMRoleCredentialProvider(
            metadataEndpoint: metadata.endpoint + "/",
            httpClient: http,
            logger: Self.noLog,
            now: { clock.now }
        )
        let first = try await provider.credentials()
        #expect(first.secretId == "AKIDtmp1")
        #expect(first.token?.revealed() == "tok1")
        #expect(first.expiresAt == Date(timeIntervalSince1970: TimeInterval(t0 + 1000)))
        #expect(metadata.roleFetches == 1)
        #expect(metadata.credentialFetches == 1)

        // 400 s left: cached.
        metadata.setCredentials(
            .init(secretId: "AKIDtmp2", secretKey: "tmpkey2", token: "tok2", expiredTime: t0 + 5000)
        )
        clock.set(Date(timeIntervalSince1970: TimeInterval(t0 + 600)))
        #expect(try await provider.credentials().secretId == "AKIDtmp1")
        #expect(metadata.credentialFetches == 1)

        // 299 s left: refreshed before expiry; the role name is not rediscovered.
        clock.set(Date(timeIntervalSince1970: TimeInterval(t0 + 701)))
        let second = try await provider.credentials()
        #expect(second.secretId == "AKIDtmp2")
        #expect(second.secretKey.revealed() == "tmpkey2")
        #expect(metadata.credentialFetches == 2)
        #expect(metadata.roleFetches == 1)

        // A failed refresh keeps the still-valid cached credentials.
        clock.set(Date(timeIntervalSince1970: TimeInterval(t0 + 4800)))
        metadata.failNext(statuses: [500])
        #expect(try await provider.credentials().secretId == "AKIDtmp2")
        // ...but not once they have expired.
        clock.set(Date(timeIntervalSince1970: TimeInterval(t0 + 5001)))
        metadata.failNext(statuses: [503])
        await #expect(throws: TencentCloudError.self) { _ = try await provider.credentials() }

        // invalidate() forces a refetch.
        metadata.setCredentials(.init(secretId: "AKIDtmp3", secretKey: "k3", token: "t3", expiredTime: t0 + 99_999))
        await provider.invalidate()
        #expect(try await provider.credentials().secretId == "AKIDtmp3")
        try await http.shutdown()
        await metadata.shutdown()
    }

    @Test("CVM role through the chain, with metadata_endpoint overridden; no bound role is permanent")
    func cvmRoleChain() async throws {
        let metadata = try await FakeMetadataService.start(
            roleName: "cdn-purger",
            credentials: .init(
                secretId: "AKIDrole",
                secretKey: "rolekey",
                token: "roletoken",
                expiredTime: Int64(Date().timeIntervalSince1970) + 7200
            )
        )
        let http = TencentCDNClient.makeHTTPClient()
        let chain = CredentialChain(
            environment: [:],
            credentialsFile: nil,
            cvmRole: true,
            metadataEndpoint: metadata.endpoint,
            httpClient: http,
            logger: Self.noLog
        )
        #expect(chain.kind == .cvmRole)
        let c = try await chain.credentials()
        #expect(c.secretId == "AKIDrole")
        #expect(c.isTemporary)

        metadata.setRoleName(nil)
        let unbound = CVMRoleCredentialProvider(
            metadataEndpoint: metadata.endpoint,
            httpClient: http,
            logger: Self.noLog
        )
        do {
            _ = try await unbound.credentials()
            Issue.record("expected an error")
        } catch let error as TencentCloudError {
            #expect(error.code == "ClientError.NoCredentials")
            #expect(error.errorClass == .permanent)
        }
        try await http.shutdown()
        await metadata.shutdown()
    }
}
