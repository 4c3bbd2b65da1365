import AsyncHTTPClient
import Foundation
import Logging
import TencentEmulator
import Testing

@testable import TencentCDN

@Suite("Secrets never appear in output")
struct RedactionTests {
    static let secretKey = "SeCrEtKeY-do-not-print-7f3a9c"
    static let token = "SeSsIoNtOkEn-do-not-print-41b2"

    static func leaks(_ text: String) -> Bool {
        text.contains(secretKey) || text.contains(token) || text.contains("envsecret-do-not-print")
            || text.contains("filesecret-do-not-print") || text.contains("rolesecret-do-not-print")
            || text.contains("roletoken-do-not-print")
    }

    @Test("Secret and Credentials print as <redacted> in every form")
    func descriptions() {
        let c = Credentials(
            secretId: "AKIDabcdef123456",
            secretKey: Secret(Self.secretKey),
            token: Secret(Self.token),
            expiresAt: Date()
        )
        var dumped = ""
        dump(c, to: &dumped)
        var dumpedSecret = ""
        dump(c.secretKey, to: &dumpedSecret)
        let forms = [
            "\(c)", String(describing: c), String(reflecting: c), dumped, dumpedSecret, "\(c.secretKey)",
            String(reflecting: c.secretKey), "\(String(describing: c.token))",
            "\(Mirror(reflecting: c).children.map { "\($0)" })",
        ]
        for form in forms {
            #expect(!Self.leaks(form), "\(form)")
        }
        #expect("\(c.secretKey)" == "<redacted>")
        // The signer caches the derived key; neither it nor the cache reveals anything.
        let signer = TC3Signer()
        _ = signer.sign(TC3SigningInput(host: "h", payload: []), credentials: c, timestamp: 1_700_000_000)
        var dumpedSigner = ""
        dump(signer, to: &dumpedSigner)
        #expect(!Self.leaks(dumpedSigner + String(reflecting: signer)))
        #expect(c.description.contains("AKID…3456"))
    }

    @Test("no log line, error or check-config detail contains a secret, across every source and failure")
    func capturedOutput() async throws {
        let (logger, store) = makeCapturingLogger()
        var output: [String] = []
        try await withEmulator { emu, http in
            emu.addCredential(secretId: "AKIDredaction", secretKey: Self.secretKey, token: Self.token)
            let creds = StaticCredentialProvider(
                Credentials(secretId: "AKIDredaction", secretKey: Secret(Self.secretKey), token: Secret(Self.token))
            )
            let client = try makeClient(emu, http, logger: logger, credentials: creds)
            _ = try await client.purgeURLs(
                ["https://www.example.com/a"],
                area: nil,
                urlEncode: false,
                deadline: deadline()
            )
            for fault in [Fault.internalError, .http(502), .drop, .authFailure("AuthFailure.TokenFailure")] {
                emu.failNext(1, with: fault)
            }
            emu.failNext(2, with: .authFailure("AuthFailure.SignatureExpire"))
            for _ in 0..<2 {
                do {
                    _ = try await client.purgeURLs(
                        ["https://www.example.com/b"],
                        area: nil,
                        urlEncode: false,
                        deadline: deadline()
                    )
                } catch {
                    output.append("\(error)")
                    output.append(String(reflecting: error))
                }
            }
            emu.failNext(1, with: .authFailure("AuthFailure.SignatureFailure"))
            do { _ = try await client.describePurgeQuota(deadline: deadline()) } catch { output.append("\(error)") }
            let wrong = try makeClient(
                emu,
                http,
                logger: logger,
                credentials: StaticCredentialProvider(
                    Credentials(secretId: "AKIDredaction", secretKey: Secret("x"), token: Secret(Self.token))
                )
            )
            do { _ = try await wrong.describePurgeQuota(deadline: deadline()) } catch { output.append("\(error)") }

            // Every credential source, successful and failing.
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pw-redact-\(UUID().uuidString)")
                .path
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            try Data("[default]\nsecret_id = AKIDfile\nsecret_key = filesecret-do-not-print\n".utf8).write(
                to: URL(fileURLWithPath: dir + "/credentials")
            )
            try Data("[other]\nsecret_key = filesecret-do-not-print\n".utf8).write(
                to: URL(fileURLWithPath: dir + "/bad")
            )
            try Data("AKIDsys".utf8).write(to: URL(fileURLWithPath: dir + "/tencentcloud-secret-id"))
            try Data("filesecret-do-not-print".utf8).write(to: URL(fileURLWithPath: dir + "/tencentcloud-secret-key"))
            let metadata = try await FakeMetadataService.start(
                credentials: .init(
                    secretId: "AKIDrole",
                    secretKey: "rolesecret-do-not-print",
                    token: "roletoken-do-not-print",
                    expiredTime: Int64(Date().timeIntervalSince1970) + 100
                )
            )
            let setups: [([String: String], String?, Bool)] = [
                (
                    [
                        "TENCENTCLOUD_SECRET_ID": "AKIDenv", "TENCENTCLOUD_SECRET_KEY": "envsecret-do-not-print",
                        "TENCENTCLOUD_TOKEN": Self.token,
                    ], nil, false
                ),
                (["CREDENTIALS_DIRECTORY": dir], nil, false),
                ([:], dir + "/credentials", false),
                ([:], dir + "/bad", false),
                ([:], nil, true),
            ]
            for (env, file, role) in setups {
                let chain = CredentialChain(
                    environment: env,
                    credentialsFile: file,
                    cvmRole: role,
                    metadataEndpoint: metadata.endpoint,
                    httpClient: http,
                    logger: logger
                )
                output.append(chain.detail ?? "none")
                if let located = CredentialChain.locate(environment: env, credentialsFile: file, cvmRole: role) {
                    output.append("\(located.kind) \(located.detail)")
                }
                do {
                    let c = try await chain.credentials()
                    output.append("\(c)")
                    logger.info("loaded", metadata: ["credentials": "\(c)", "key": "\(c.secretKey)"])
                    let client = try makeClient(emu, http, logger: logger, credentials: chain)
                    do { _ = try await client.describePurgeQuota(deadline: deadline()) } catch {
                        output.append("\(error)")
                    }
                } catch {
                    output.append("\(error)")
                }
            }
            // Role credentials near expiry with a failing refresh log a warning.
            let provider = CVMRoleCredentialProvider(
                metadataEndpoint: metadata.endpoint,
                httpClient: http,
                logger: logger
            )
            _ = try await provider.credentials()
            metadata.failNext(statuses: [500])
            output.append("\(try await provider.credentials())")
            await metadata.shutdown()
        }
        let lines = store.all
        #expect(lines.count > 10)
        #expect(lines.contains { $0.contains("retrying") })
        #expect(output.count > 8)
        for line in lines + output {
            #expect(!Self.leaks(line), "leaked: \(line)")
        }
    }
}
