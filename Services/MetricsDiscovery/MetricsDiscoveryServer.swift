import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServerTLS
import ServiceLifecycle
import Synchronization

/// What the endpoint answers at the moment of a request.
public enum MetricsDiscoveryContent: Sendable {
    /// The HTTP service discovery document: a JSON array of target groups (200).
    case targets([UInt8])
    /// No current list of targets, and why (503): Prometheus keeps the targets of its last
    /// successful refresh rather than dropping them.
    case unavailable(String)
}

/// Serves Prometheus HTTP service discovery (https://prometheus.io/docs/prometheus/latest/http_sd/)
/// at `GET /services.json`: the document `content` gives at the time of each request.
///
/// Read-only and bounded: one path and one method (others get 404 and 405), one request per
/// connection, a cap on what a connection may send, on the connections served at once and on
/// each connection's time. Plaintext on 127.0.0.1 unless an address is given; TLS (with client
/// certificates when a CA is given) for scrapers elsewhere that should prove who they are.
/// Runs as a `Service` of the controller's ServiceGroup, ending on graceful shutdown.
public struct MetricsDiscoveryServer: Service {
    let settings: MetricsDiscoverySettings
    let content: @Sendable () -> MetricsDiscoveryContent
    let logger: Logger
    private let tls: NIOSSLContext?
    private let slots: ConnectionSlots

    /// Loads the TLS material; throws what to change when the endpoint cannot run as configured.
    public init(settings: MetricsDiscoverySettings, content: @escaping @Sendable () -> MetricsDiscoveryContent,
                logger: Logger) throws(MetricsDiscoverySetupError) {
        guard settings.maximumConnections > 0, settings.maximumRequestSize > 0, settings.connectionTimeout > .zero else {
            throw MetricsDiscoverySetupError("the metrics discovery endpoint's limits must be positive")
        }
        self.settings = settings
        self.content = content
        self.logger = logger
        tls = try settings.tls?.serverContext()
        slots = ConnectionSlots(limit: settings.maximumConnections)
    }

    /// An accepted connection: served, or closed at once past the connection limit.
    enum Accepted: Sendable {
        case request(NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>)
        case overLimit(any Channel)
    }

    public func run() async throws {
        let server: NIOAsyncChannel<Accepted, Never>
        do {
            server = try await bind()
        } catch {
            throw MetricsDiscoverySetupError("cannot serve metrics discovery on \(settings.listenHost):\(settings.port) (--metrics-discovery): \(error)")
        }
        logger.notice("metrics discovery listening", metadata: [
            "address": "\(settings.url)",
            "client-certificates": "\(tls == nil ? "no TLS" : settings.tls?.clientCA == nil ? "not asked for" : "required")",
        ])
        if tls == nil && !ListenAddress.isLoopback(settings.listenHost) {
            logger.notice("metrics discovery is served in plaintext to anyone who reaches \(settings.listenHost):\(settings.port): it lists the nodes' names, roles, addresses and metrics ports, as the nodes' own metrics ports show to whoever reaches them; serve it over TLS with client certificates (--metrics-discovery-cert, --metrics-discovery-key, --metrics-discovery-ca) to keep the list to Prometheus")
        }
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                try? await server.executeThenClose { inbound in
                    for try await accepted in inbound {
                        group.addTask { await handle(accepted) }
                    }
                }
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        logger.info("metrics discovery stopped")
    }

    private func bind() async throws -> NIOAsyncChannel<Accepted, Never> {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: settings.listenHost, port: settings.port) { [self] channel in
                guard slots.admit() else { return channel.eventLoop.makeSucceededFuture(Accepted.overLimit(channel)) }
                let deadline = channel.eventLoop.scheduleTask(in: TimeAmount(settings.connectionTimeout)) {
                    channel.close(promise: nil)
                }
                channel.closeFuture.whenComplete { [slots] _ in
                    deadline.cancel()
                    slots.release()
                }
                return channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls))
                    }
                    try channel.pipeline.syncOperations.addHandler(RequestSizeLimit(limit: settings.maximumRequestSize))
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    return Accepted.request(try NIOAsyncChannel(wrappingChannelSynchronously: channel))
                }
            }
    }

    private func handle(_ accepted: Accepted) async {
        switch accepted {
        case .overLimit(let channel):
            logger.warning("refusing a metrics discovery connection from \(channel.remoteAddress?.description ?? "?"): \(settings.maximumConnections) are open")
            try? await channel.close()
        case .request(let channel):
            do {
                try await serve(channel)
            } catch NIOSSLError.uncleanShutdown {
                // Clients may hang up without a TLS close_notify once answered.
            } catch {
                logger.debug("metrics discovery connection from \(channel.channel.remoteAddress?.description ?? "?") ended: \(error)")
            }
        }
    }

    /// Reads one request and answers it; the connection is closed afterwards.
    private func serve(_ channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async throws {
        try await channel.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let received):
                    head = received
                case .body:
                    continue // bounded by RequestSizeLimit; a GET carries none worth reading
                case .end:
                    guard let head else { return }
                    let (status, type, body) = answer(head)
                    var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)"), ("Connection", "close"),
                                               ("Cache-Control", "no-store")])
                    if status == .methodNotAllowed { headers.add(name: "Allow", value: "GET") }
                    // A HEAD request's answer has the headers only.
                    let parts: [HTTPServerResponsePart] = head.method == .HEAD
                        ? [.head(HTTPResponseHead(version: head.version, status: status, headers: headers)), .end(nil)]
                        : [.head(HTTPResponseHead(version: head.version, status: status, headers: headers)), .body(.byteBuffer(ByteBuffer(bytes: body))), .end(nil)]
                    try await outbound.write(contentsOf: parts)
                    return
                }
            }
        }
    }

    /// The status, content type and body for a request: the document for `GET /services.json`.
    func answer(_ head: HTTPRequestHead) -> (HTTPResponseStatus, String, [UInt8]) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard path == MetricsDiscoverySettings.path else {
            return (.notFound, "text/plain; charset=utf-8", Array("not found; Prometheus HTTP service discovery is served at \(MetricsDiscoverySettings.path)\n".utf8))
        }
        guard head.method == .GET else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", Array("only GET is served\n".utf8))
        }
        switch content() {
        case .targets(let document):
            return (.ok, "application/json", document)
        case .unavailable(let reason):
            return (.serviceUnavailable, "text/plain; charset=utf-8", Array((reason + "\n").utf8))
        }
    }
}

/// Closes a connection that sends more than `limit` bytes: one small request is all a
/// scraper sends, and nothing larger is read into memory.
private final class RequestSizeLimit: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    private let limit: Int
    /// Touched on the channel's event loop only.
    private var received = 0

    init(limit: Int) { self.limit = limit }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        guard received <= limit else {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(data)
    }
}

/// Counts the connections open, so no more than the limit are served at once.
private final class ConnectionSlots: Sendable {
    private let open = Atomic<Int>(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func admit() -> Bool {
        let now = open.add(1, ordering: .relaxed).newValue
        guard now <= limit else {
            open.subtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func release() {
        open.subtract(1, ordering: .relaxed)
    }
}
