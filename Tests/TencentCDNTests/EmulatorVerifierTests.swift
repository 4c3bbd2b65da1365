import AsyncHTTPClient
import Foundation
import NIOCore
import TencentEmulator
import Testing

@testable import TencentCDN

/// The emulator's signature check is its own implementation: these tests feed it the reference
/// vectors' exact requests, and tampered copies, over the wire.
@Suite("Emulator signature verification")
struct EmulatorVerifierTests {
    static func send(
        _ http: HTTPClient,
        to emu: TencentEmulator,
        headers: [String: String],
        body: [UInt8]
    ) async throws -> String {
        var request = HTTPClientRequest(url: emu.endpoint + "/")
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await http.execute(request, timeout: .seconds(5))
        var buffer = try await response.body.collect(upTo: 1 << 20)
        let text = buffer.readString(length: buffer.readableBytes) ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
        let inner = object?["Response"] as? [String: Any]
        return ((inner?["Error"] as? [String: Any])?["Code"] as? String) ?? "accepted"
    }

    @Test("every POST cdn vector passes the emulator's check; tampered copies fail it")
    func vectorsOverTheWire() async throws {
        let vectors = try TC3Vector.loaded.get().filter { $0.method == "POST" && $0.service == "cdn" }
        #expect(vectors.count == 15)
        let first = try #require(vectors.first, "no POST cdn vector to tamper with")
        try await withEmulator { emu, http in
            emu.setKnownDomains([])
            emu.setRequestsPerSecondPerAction(100_000)
            for v in vectors {
                emu.addCredential(secretId: v.secretId, secretKey: v.secretKey, token: v.token)
                emu.setClockOffset(seconds: Double(v.timestamp) - Date().timeIntervalSince1970)
                let body = Array(v.payload.utf8)
                let outcome = try await Self.send(http, to: emu, headers: v.requestHeaders, body: body)
                #expect(!outcome.hasPrefix("AuthFailure"), "\(v.name): \(outcome)")

                var tamperedBody = body
                if !tamperedBody.isEmpty, v.requestHeaders["X-TC-Content-SHA256"] == nil {
                    tamperedBody[tamperedBody.count - 2] ^= 0x01
                    let o = try await Self.send(http, to: emu, headers: v.requestHeaders, body: tamperedBody)
                    #expect(o == "AuthFailure.SignatureFailure", "\(v.name) with another body")
                }
                var otherType = v.requestHeaders
                otherType["Content-Type"] = "application/json; charset=utf-8"
                #expect(
                    try await Self.send(http, to: emu, headers: otherType, body: body)
                        == "AuthFailure.SignatureFailure",
                    "\(v.name) with another content type"
                )
                var otherHost = v.requestHeaders
                otherHost["Host"] = "cdn.example.invalid"
                #expect(
                    try await Self.send(http, to: emu, headers: otherHost, body: body)
                        == "AuthFailure.SignatureFailure",
                    "\(v.name) with another host"
                )
                if v.token != nil {
                    var noToken = v.requestHeaders
                    noToken["X-TC-Token"] = nil
                    #expect(
                        try await Self.send(http, to: emu, headers: noToken, body: body) == "AuthFailure.TokenFailure",
                        "\(v.name) without its token"
                    )
                }
            }
            // Just under five minutes of skew is accepted, just over is not.
            let v = first
            let body = Array(v.payload.utf8)
            emu.setClockOffset(seconds: Double(v.timestamp) + 299 - Date().timeIntervalSince1970)
            #expect(try await !Self.send(http, to: emu, headers: v.requestHeaders, body: body).hasPrefix("AuthFailure"))
            emu.setClockOffset(seconds: Double(v.timestamp) + 302 - Date().timeIntervalSince1970)
            #expect(
                try await Self.send(http, to: emu, headers: v.requestHeaders, body: body)
                    == "AuthFailure.SignatureExpire"
            )
            emu.setClockOffset(seconds: Double(v.timestamp) - Date().timeIntervalSince1970)
            emu.removeCredential(secretId: v.secretId)
            #expect(
                try await Self.send(http, to: emu, headers: v.requestHeaders, body: body)
                    == "AuthFailure.SecretIdNotFound"
            )
        }
    }
}
