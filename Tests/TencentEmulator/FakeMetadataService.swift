import Foundation

/// A stand-in for the CVM metadata service's CAM endpoints on 127.0.0.1:
/// `GET /latest/meta-data/cam/security-credentials/` answers the role name (404 when none),
/// `GET /latest/meta-data/cam/security-credentials/<role>` answers
/// `{"TmpSecretId","TmpSecretKey","Token","ExpiredTime","Expiration","Code":"Success"}`.
public final class FakeMetadataService: Sendable {
    /// Credentials the service hands out.
    public struct RoleCredentials: Sendable, Hashable {
        public var secretId: String
        public var secretKey: String
        public var token: String
        public var expiredTime: Int64

        public init(secretId: String, secretKey: String, token: String, expiredTime: Int64) {
            self.secretId = secretId
            self.secretKey = secretKey
            self.token = token
            self.expiredTime = expiredTime
        }
    }

    private struct State {
        var roleName: String?
        var credentials: RoleCredentials
        var roleFetches = 0
        var credentialFetches = 0
        var failNext: [Int] = []
    }

    private let server: HTTPServer
    private let state: Locked<State>

    private init(server: HTTPServer, state: Locked<State>) {
        self.server = server
        self.state = state
    }

    public static func start(roleName: String? = "purgewatch-role", credentials: RoleCredentials) async throws
        -> FakeMetadataService
    {
        let state = Locked(State(roleName: roleName, credentials: credentials))
        let prefix = "/latest/meta-data/cam/security-credentials/"
        let server = try await HTTPServer.start { request in
            state.withLock { s -> Reply in
                guard request.method == "GET", request.uri.hasPrefix(prefix) else {
                    return .respond(status: 404, contentType: "text/plain", body: Array("not found".utf8), delay: nil)
                }
                let rest = String(request.uri.dropFirst(prefix.count))
                if rest.isEmpty { s.roleFetches += 1 } else { s.credentialFetches += 1 }
                if !s.failNext.isEmpty {
                    let status = s.failNext.removeFirst()
                    return .respond(status: status, contentType: "text/plain", body: Array("injected".utf8), delay: nil)
                }
                guard let role = s.roleName else {
                    return .respond(status: 404, contentType: "text/plain", body: Array("no role".utf8), delay: nil)
                }
                if rest.isEmpty {
                    return .respond(status: 200, contentType: "text/plain", body: Array(role.utf8), delay: nil)
                }
                guard rest == role else {
                    return .respond(
                        status: 404,
                        contentType: "text/plain",
                        body: Array("unknown role".utf8),
                        delay: nil
                    )
                }
                let c = s.credentials
                let expiration = ISO8601DateFormatter().string(
                    from: Date(timeIntervalSince1970: TimeInterval(c.expiredTime))
                )
                let object: [String: Any] = [
                    "TmpSecretId": c.secretId, "TmpSecretKey": c.secretKey, "Token": c.token,
                    "ExpiredTime": c.expiredTime, "Expiration": expiration, "Code": "Success",
                ]
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
                return .respond(status: 200, contentType: "application/json", body: Array(data), delay: nil)
            }
        }
        return FakeMetadataService(server: server, state: state)
    }

    public func shutdown() async {
        await server.shutdown()
    }

    /// `http://127.0.0.1:PORT`, the `metadata_endpoint` to configure.
    public var endpoint: String { "http://127.0.0.1:\(server.port)" }

    /// What the next credential fetch returns.
    public func setCredentials(_ credentials: RoleCredentials) {
        state.withLock { $0.credentials = credentials }
    }

    /// The bound role; `nil` answers 404 (no role bound).
    public func setRoleName(_ name: String?) {
        state.withLock { $0.roleName = name }
    }

    /// The next requests answer these HTTP statuses instead.
    public func failNext(statuses: [Int]) {
        state.withLock { $0.failNext.append(contentsOf: statuses) }
    }

    /// Requests for the role name so far.
    public var roleFetches: Int { state.withLock { $0.roleFetches } }
    /// Requests for the role's credentials so far.
    public var credentialFetches: Int { state.withLock { $0.credentialFetches } }
}
