import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StateStore
import Synchronization

/// `GET /metrics` in the Prometheus text format (SPEC §3 `[metrics] listen`, §7), on its own
/// one-thread event loop so a scrape never competes with the API client's I/O. Scrapes read the
/// state through one read-only connection the server keeps (no wait on the daemon's actor, no
/// connection opened per scrape), reopened after an error.
final class MetricsServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    let address: String

    /// Binds `listen` (`HOST:PORT`, `[IPV6]:PORT`).
    /// - Throws: when the address does not parse or cannot be bound.
    init(listen: String, metrics: DaemonMetrics, statePath: String, clock: DaemonClock) async throws {
        let (host, port) = try Self.split(listen)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let reader = StateReader(path: statePath)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(metrics: metrics, reader: reader, clock: clock))
                }
            }
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        address = listen
    }

    static func split(_ listen: String) throws -> (String, Int) {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
            (0...65_535).contains(port)
        else { throw MetricsServerError(message: "\(listen) is not HOST:PORT") }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw MetricsServerError(message: "\(listen) has no host") }
        return (host, port)
    }

    /// The port actually bound (for `:0` in tests).
    var port: Int? { channel.localAddress?.port }

    func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// The metrics endpoint's one read-only connection to the state file, opened at the first scrape
/// and kept; an error closes it, and the next scrape opens it again (a moved or recreated file).
final class StateReader: Sendable {
    let path: String
    private let connection = Mutex<StateDatabase?>(nil)

    init(path: String) { self.path = path }

    func use<T>(_ body: (StateDatabase) throws -> T) throws -> T {
        try connection.withLock { open in
            let db = try open ?? StateDatabase.openReadOnly(path: path)
            open = db
            do {
                return try body(db)
            } catch {
                db.close()
                open = nil
                throw error
            }
        }
    }

    deinit { connection.withLock { $0?.close() } }
}

struct MetricsServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// One request at a time per connection: `GET /metrics` → 200, anything else → 404 or 405.
private final class MetricsHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let metrics: DaemonMetrics
    let reader: StateReader
    let clock: DaemonClock
    private var request: HTTPRequestHead?

    init(metrics: DaemonMetrics, reader: StateReader, clock: DaemonClock) {
        self.metrics = metrics
        self.reader = reader
        self.clock = clock
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(context: context, head: head)
        }
    }

    private func respond(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        let body: String
        var contentType = "text/plain; charset=utf-8"
        if path != "/metrics" {
            (status, body) = (.notFound, "not found: try /metrics\n")
        } else if head.method != .GET && head.method != .HEAD {
            (status, body) = (.methodNotAllowed, "GET /metrics\n")
        } else {
            do {
                let snapshot = try reader.use { try DaemonMetrics.snapshot(of: $0, now: clock.wall()) }
                (status, body) = (.ok, metrics.exposition(snapshot))
                contentType = "text/plain; version=0.0.4; charset=utf-8"
            } catch {
                (status, body) = (.serviceUnavailable, "cannot read the state: \(error)\n")
            }
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
            buffer.writeString(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            done.whenComplete { [channel = context.channel] _ in channel.close(promise: nil) }
        }
    }
}
