import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import StateStore
import Synchronization

/// `GET /metrics` in the Prometheus text format (SPEC §3 `[metrics] listen`, §7), on its own
/// one-thread event loop so a scrape never competes with the API client's I/O. Scrapes read the
/// store's overview (``StateStore/SQLiteStateViews``: one read-only connection it keeps — no wait
/// on the daemon's actor, no connection opened per scrape — reopened after an error); a fleet's
/// daemon puts the site's queue in, as its fleet stage last read it from the shared state
/// (``DaemonMetrics/overview(local:)``).
final class MetricsServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    let address: String

    /// Binds `listen` (`HOST:PORT`, `[IPV6]:PORT`).
    /// - Throws: when the address does not parse or cannot be bound.
    init(listen: String, metrics: DaemonMetrics, statePath: String, clock: DaemonClock) async throws {
        let (host, port) = try Self.split(listen)
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let views = SQLiteStateViews(path: statePath)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 64)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(metrics: metrics, views: views, clock: clock))
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

struct MetricsServerError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// One request at a time per connection: `GET /metrics` → 200, anything else → 404 or 405.
private final class MetricsHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let metrics: DaemonMetrics
    let views: SQLiteStateViews
    let clock: DaemonClock
    private var request: HTTPRequestHead?

    init(metrics: DaemonMetrics, views: SQLiteStateViews, clock: DaemonClock) {
        self.metrics = metrics
        self.views = views
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
                // On this endpoint's own event loop thread: a short read of the state file.
                guard let overview = try views.readOverview(OverviewRequest()) else {
                    throw MetricsServerError(message: "no state at \(views.path) yet")
                }
                guard !overview.notMigrated else { throw StateNotMigrated(path: views.path) }
                let snapshot = DaemonMetrics.snapshot(of: metrics.overview(local: overview), now: clock.wall())
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
