import NIOCore
import NIOHTTP1
import NIOPosix

/// One HTTP/1.1 request as the emulator received it.
struct ReceivedRequest: Sendable {
    var method: String
    var uri: String
    var headers: [(String, String)]
    var body: [UInt8]

    /// The first value of header `name` (case-insensitive), as received.
    func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }
}

/// What to do with a request.
enum Reply: Sendable {
    case respond(status: Int, contentType: String, body: [UInt8], delay: Duration?)
    /// Close the connection without answering.
    case drop
}

/// A minimal HTTP/1.1 server on 127.0.0.1 with an ephemeral port (SwiftNIO, async channels).
final class HTTPServer: Sendable {
    let port: Int
    private let serverChannel: any Channel
    private let connections: Locked<[ObjectIdentifier: any Channel]>
    private let accepted: Locked<Int>
    private let acceptTask: Task<Void, Never>

    private init(
        port: Int,
        serverChannel: any Channel,
        connections: Locked<[ObjectIdentifier: any Channel]>,
        accepted: Locked<Int>,
        acceptTask: Task<Void, Never>
    ) {
        self.port = port
        self.serverChannel = serverChannel
        self.connections = connections
        self.accepted = accepted
        self.acceptTask = acceptTask
    }

    static func start(
        host: String = "127.0.0.1",
        handler: @escaping @Sendable (ReceivedRequest) async -> Reply
    ) async throws -> HTTPServer {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.backlog, value: 256)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel
                    )
                }
            }
        guard let port = server.channel.localAddress?.port else {
            throw ChannelError.unknownLocalAddress
        }
        let connections = Locked<[ObjectIdentifier: any Channel]>([:])
        let accepted = Locked(0)
        let serverChannel = server.channel
        let task = Task<Void, Never> {
            do {
                try await server.executeThenClose { inbound in
                    try await withThrowingDiscardingTaskGroup { group in
                        for try await connection in inbound {
                            accepted.withLock { $0 += 1 }
                            group.addTask {
                                await serve(connection, connections: connections, handler: handler)
                            }
                        }
                    }
                }
            } catch {
                // The listener closed or the task was cancelled: nothing to report in a test fixture.
            }
        }
        return HTTPServer(
            port: port,
            serverChannel: serverChannel,
            connections: connections,
            accepted: accepted,
            acceptTask: task
        )
    }

    /// TCP connections accepted so far.
    var connectionCount: Int { accepted.withLock { $0 } }

    /// Closes the listener and every open connection, and waits for the handlers to end.
    func shutdown() async {
        try? await serverChannel.close()
        let open = connections.withLock { Array($0.values) }
        for channel in open { try? await channel.close() }
        acceptTask.cancel()
        await acceptTask.value
    }

    private static func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
        connections: Locked<[ObjectIdentifier: any Channel]>,
        handler: @escaping @Sendable (ReceivedRequest) async -> Reply
    ) async {
        let id = ObjectIdentifier(connection.channel)
        connections.withLock { $0[id] = connection.channel }
        defer { _ = connections.withLock { $0.removeValue(forKey: id) } }
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var body: [UInt8] = []
                for try await part in inbound {
                    switch part {
                    case .head(let h):
                        head = h
                        body = []
                    case .body(let buffer):
                        body.append(contentsOf: buffer.readableBytesView)
                    case .end:
                        guard let h = head else { return }
                        let request = ReceivedRequest(
                            method: h.method.rawValue,
                            uri: h.uri,
                            headers: h.headers.map { ($0.name, $0.value) },
                            body: body
                        )
                        switch await handler(request) {
                        case .drop:
                            return
                        case .respond(let status, let contentType, let responseBody, let delay):
                            if let delay, delay > .zero { try await Task.sleep(for: delay) }
                            var headers = HTTPHeaders()
                            headers.add(name: "Content-Type", value: contentType)
                            headers.add(name: "Content-Length", value: String(responseBody.count))
                            if !h.isKeepAlive { headers.add(name: "Connection", value: "close") }
                            try await outbound.write(
                                .head(
                                    HTTPResponseHead(
                                        version: h.version,
                                        status: .init(statusCode: status),
                                        headers: headers
                                    )
                                )
                            )
                            try await outbound.write(.body(.byteBuffer(ByteBuffer(bytes: responseBody))))
                            try await outbound.write(.end(nil))
                            if !h.isKeepAlive { return }
                        }
                        head = nil
                    }
                }
            }
        } catch {
            // The peer went away (timeouts, drops): expected in fault tests.
        }
    }
}
