#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import BrokerJSON
import Logging
import ManagementMessaging
import ManagementTypes
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOWebSocket
import ServiceLifecycle
import Synchronization

/// Serves Broker's WebSocket JSON protocol at `/v1/messages/json`, so the unmodified zeek-client
/// drives the controller: requests it publishes on `zeek/management/controller` are relayed to
/// `Management.Controller.API`, and each controller response goes back to the connection that
/// sent its request (notifications to every subscribed connection).
///
/// The gateway is an administrator's interface to the whole cluster, so it is a security
/// boundary of its own:
/// - it listens in plaintext on loopback addresses only; elsewhere it serves `wss://` and, by
///   default, requires client certificates signed by a CA of the operator's choosing;
/// - every connection is authenticated at the WebSocket handshake (certificate or bearer token,
///   ``GatewayClients``) and refused with 401/403 otherwise; handshakes with a browser's
///   `Origin` are refused unless allowed;
/// - every request is checked against the client's role (``GatewayRole``) and logged with the
///   operator's name. Roles are enforced here only: what the gateway publishes on Kafka is
///   signed with the one gateway operator key, whoever the client was;
/// - messages, connections, queued output, silence and outstanding requests are bounded.
///
/// Every controller process runs one, active or standing by, since it only relays over Kafka:
/// clients keep working across a failover. It runs on an endpoint of its own that reads from
/// the end (`EndpointService` connects it, retrying while Kafka is unreachable), so it never
/// takes the controller group's partitions.
public struct ZeekClientGateway: BusService {
    static let topic = "zeek/management/controller"
    static let path = "/v1/messages/json"
    /// Time from accepting a connection to its WebSocket handshake, TLS included: a peer that
    /// opens connections and sends nothing does not hold slots for the idle timeout.
    static let handshakeTimeout = TimeAmount.seconds(10)

    let settings: ZeekClientGatewaySettings
    let security: GatewaySecurity
    let controllerName: String
    let logger: Logger
    private let connections: GatewayConnections
    private let channelCount: ConnectionCount

    /// Checks the settings and loads the TLS material and the clients file; throws what to
    /// change when the gateway cannot run as configured.
    public init(settings: ZeekClientGatewaySettings, controllerName: String, logger: Logger) throws(GatewaySetupError) {
        guard settings.maximumConnections > 0, settings.maximumOutstandingRequests > 0, settings.idleTimeout > .zero else {
            throw GatewaySetupError("--websocket-max-connections, --websocket-max-outstanding and --websocket-idle-timeout must be positive")
        }
        self.settings = settings
        self.security = try GatewaySecurity(settings, logger: logger)
        self.controllerName = controllerName
        self.logger = logger
        self.connections = GatewayConnections(requestLifetime: settings.idleTimeout)
        self.channelCount = ConnectionCount(limit: settings.maximumConnections)
    }

    var address: String { "\(security.tls == nil ? "ws" : "wss")://\(security.host):\(settings.port)\(Self.path)" }

    public func run(on endpoint: any MessageBus) async throws {
        let server: NIOAsyncChannel<EventLoopFuture<Upgrade>, Never>
        do {
            server = try await bind()
        } catch {
            throw GatewaySetupError("cannot serve zeek-client on \(security.host):\(settings.port) (--websocket): \(error)")
        }
        logger.notice("zeek-client WebSocket endpoint listening", metadata: [
            "address": "\(address)",
            "client-certificates": "\(security.tls == nil ? "no TLS" : settings.tls?.clientCA == nil ? "not asked for" : "required")",
            "clients": "\(settings.clientsFile ?? "any")",
        ])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await relayControllerEvents(from: endpoint) }
                try? await server.executeThenClose { inbound in
                    for try await upgrade in inbound {
                        group.addTask { await handle(upgrade, endpoint: endpoint) }
                    }
                }
                connections.closeAll()
                // The relay reads until cancelled: the endpoint is shut down only after this returns.
                group.cancelAll()
            }
        } onGracefulShutdown: {
            server.channel.close(promise: nil)
        }
        logger.info("zeek-client WebSocket endpoint stopped")
    }

    // MARK: Handshake

    enum Upgrade {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, path: String, client: GatewayClient)
        /// Not upgraded: refused (no credential, a browser), or not a WebSocket handshake at all.
        case refused(NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Refusal)
        /// Accepted past the connection limit: closed at once.
        case overLimit(any Channel)
    }

    /// Whether a WebSocket handshake may go on, and as whom.
    enum Admission {
        case admitted(GatewayClient)
        case refused(HTTPResponseStatus, String)
    }

    /// Listens with the TLS, HTTP and WebSocket upgrade handlers in every accepted channel.
    private func bind() async throws -> NIOAsyncChannel<EventLoopFuture<Upgrade>, Never> {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: security.host, port: settings.port) { [self] channel in
                guard channelCount.admit() else {
                    return channel.eventLoop.makeSucceededFuture(channel.eventLoop.makeSucceededFuture(Upgrade.overLimit(channel)))
                }
                channel.closeFuture.whenComplete { [channelCount] _ in channelCount.closed() }
                return channel.eventLoop.makeCompletedFuture { try configure(channel) }
            }
    }

    private func configure(_ channel: any Channel) throws -> EventLoopFuture<Upgrade> {
        let handshakeDeadline = channel.eventLoop.scheduleTask(in: Self.handshakeTimeout) { channel.close(promise: nil) }
        let refusal = Refusal()
        if let tls = security.tls {
            try channel.pipeline.syncOperations.addHandlers(NIOSSLServerHandler(context: tls), TLSFailureLogger(logger: logger))
        }
        let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
            maxFrameSize: settings.maximumMessageSize,
            // Protocol errors (an oversized frame above all) are answered and logged by serve().
            enableAutomaticErrorHandling: false,
            shouldUpgrade: { [self] channel, head in
                switch admit(head, channel: channel) {
                case .admitted:
                    return channel.eventLoop.makeSucceededFuture(HTTPHeaders())
                case let .refused(status, reason):
                    refusal.set(status, reason, version: head.version)
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
            },
            upgradePipelineHandler: { [self] channel, head in
                handshakeDeadline.cancel()
                return channel.eventLoop.makeCompletedFuture {
                    guard case .admitted(let client) = admit(head, channel: channel) else {
                        throw GatewaySetupError("the client was refused after its handshake was accepted")
                    }
                    try channel.pipeline.syncOperations.addHandler(NIOWebSocketFrameAggregator(
                        minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 1024, maxAccumulatedFrameSize: settings.maximumMessageSize
                    ))
                    return Upgrade.websocket(try NIOAsyncChannel(wrappingChannelSynchronously: channel), path: head.uri, client: client)
                }
            }
        )
        let configuration = NIOTypedHTTPServerUpgradeConfiguration<Upgrade>(
            upgraders: [upgrader],
            notUpgradingCompletionHandler: { channel in
                channel.eventLoop.makeCompletedFuture {
                    Upgrade.refused(try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel), refusal)
                }
            }
        )
        return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
            configuration: .init(upgradeConfiguration: configuration)
        )
    }

    /// Decides on a handshake: first the origin, then the credential — a bearer token when the
    /// request carries one, else the client certificate TLS verified. Runs on the channel's
    /// event loop.
    private func admit(_ head: HTTPRequestHead, channel: any Channel) -> Admission {
        if let origin = head.headers.first(name: "origin"), !originAllowed(origin, head: head) {
            return .refused(.forbidden, "WebSocket handshakes from web pages (Origin: \(origin.prefix(200))) are refused; allow an origin with --websocket-allowed-origin")
        }
        if let authorization = head.headers.first(name: "authorization") {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                return .refused(.unauthorized, "the Authorization header must be `Bearer TOKEN`")
            }
            guard let client = security.clients?.client(token: String(parts[1].drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())) else {
                return .refused(.unauthorized, "the bearer token is not in the clients file")
            }
            return .admitted(client)
        }
        if security.tls != nil, let certificate = try? channel.pipeline.syncOperations.nioSSL_peerCertificate(),
           let der = try? certificate.toDERBytes() {
            let commonName = certificate.subjectName.first { $0.type == .commonName }?.value
            guard let clients = security.clients else {
                return .admitted(GatewayClient(name: commonName ?? GatewayClients.fingerprint(ofDER: der), role: .deploy, authenticatedBy: "certificate"))
            }
            guard let client = clients.client(certificateDER: der, commonName: commonName) else {
                return .refused(.forbidden, "the client certificate (CN \(commonName ?? "none"), SHA-256 fingerprint \(GatewayClients.fingerprint(ofDER: der))) is not in the clients file")
            }
            return .admitted(client)
        }
        if security.admitsAnonymousLocalClients {
            return .admitted(GatewayClient(name: "local", role: .deploy, authenticatedBy: "loopback"))
        }
        return .refused(.unauthorized, "authenticate with a client certificate or an Authorization: Bearer token")
    }

    /// Whether a handshake's `Origin` may connect. Browsers send the origin of the page that
    /// opens the WebSocket; zeek-client's library (websocket-client) sends one too, naming the
    /// address it connects to: `http://` (`https://` with TLS) and the `Host` header. A page
    /// elsewhere cannot make its origin equal the gateway's address; a page that rebinds a DNS
    /// name of its own to 127.0.0.1 can, so without TLS only loopback names count as the
    /// gateway's (with TLS, the browser would not accept the gateway's certificate for its name).
    private func originAllowed(_ origin: String, head: HTTPRequestHead) -> Bool {
        if settings.allowedOrigins.contains(origin) { return true }
        guard let host = head.headers.first(name: "host"),
              origin.lowercased() == (security.tls == nil ? "http://" : "https://") + host.lowercased() else { return false }
        if security.tls != nil { return true }
        let name: Substring = if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            host[host.index(after: host.startIndex)..<end]
        } else if let colon = host.lastIndex(of: ":") {
            host[..<colon]
        } else {
            host[...]
        }
        return ZeekClientGatewaySettings.isLoopback(name.lowercased())
    }

    private func handle(_ upgrade: EventLoopFuture<Upgrade>, endpoint: any MessageBus) async {
        let id = "zeek-client-\(UUID().uuidString.prefix(8).lowercased())"
        let upgraded: Upgrade
        do {
            upgraded = try await upgrade.get()
        } catch {
            // A failed TLS handshake is logged where it happens (TLSFailureLogger).
            logger.debug("connection closed before its WebSocket handshake: \(error)")
            return
        }
        do {
            switch upgraded {
            case .overLimit(let channel):
                logger.warning("refusing a zeek-client connection from \(channel.remoteAddress?.description ?? "?"): \(settings.maximumConnections) are open (--websocket-max-connections)")
                try await channel.close()
            case let .refused(channel, refusal):
                try await refuse(channel, refusal: refusal)
            case let .websocket(channel, path, client):
                try await serve(channel, path: path, client: client, id: id, endpoint: endpoint)
            }
        } catch NIOSSLError.uncleanShutdown {
            // zeek-client closes its socket without a TLS close_notify after every command.
            logger.debug("zeek-client connection \(id) closed")
        } catch {
            logger.info("zeek-client connection \(id) ended: \(error)")
        }
    }

    /// Answers an HTTP request that was not upgraded: why its WebSocket handshake was refused,
    /// or that only WebSocket is served.
    private func refuse(_ channel: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, refusal: Refusal) async throws {
        let remote = channel.channel.remoteAddress?.description ?? "?"
        try await channel.executeThenClose { inbound, outbound in
            // A refused handshake's head was read by the upgrade handler (shouldUpgrade said why);
            // any other request's head comes here.
            var parts = inbound.makeAsyncIterator()
            guard let first = try await parts.next() else { return }
            let status: HTTPResponseStatus, reason: String, version: HTTPVersion
            if let refused = refusal.value {
                (status, reason, version) = refused
            } else if case .head(let head) = first {
                (status, reason, version) = (.upgradeRequired, "only WebSocket is served, at \(Self.path)", head.version)
            } else {
                return
            }
            if refusal.value != nil {
                logger.warning("refused zeek-client handshake from \(remote): \(reason)", metadata: ["status": "\(status.code)"])
            }
            var headers = HTTPHeaders([("Content-Type", "text/plain; charset=utf-8"), ("Connection", "close")])
            if status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer") }
            let body = ByteBuffer(string: reason + "\n")
            headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            try await outbound.write(contentsOf: [
                .head(HTTPResponseHead(version: version, status: status, headers: headers)), .body(.byteBuffer(body)), .end(nil),
            ])
        }
    }

    // MARK: Serving a client

    private func serve(_ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, path: String, client: GatewayClient,
                       id: String, endpoint: any MessageBus) async throws {
        let remote = channel.channel.remoteAddress?.description ?? "?"
        let queue = OutboundQueue(messageLimit: settings.maximumQueuedMessages, byteLimit: settings.maximumQueuedBytes) { [logger, settings] in
            logger.warning("disconnecting zeek-client \(id) (operator \(client.name)): it does not read what is sent to it (more than \(settings.maximumQueuedMessages) messages or \(settings.maximumQueuedBytes) bytes queued)")
            channel.channel.close(promise: nil)
        }
        defer { connections.remove(id) }
        try await channel.executeThenClose { inbound, outbound in
            guard path.split(separator: "?").first.map(String.init) == Self.path else {
                try await outbound.write(try Self.frame(.error(code: "invalid_uri", context: "unsupported path \(path.prefix(200)); use \(Self.path)")))
                try await outbound.write(Self.closeFrame(.policyViolation, reason: "unsupported path"))
                return
            }
            let activity = Activity()
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await read(inbound, client: client, id: id, remote: remote, queue: queue, activity: activity, endpoint: endpoint)
                    queue.finish()
                }
                group.addTask { await watch(activity, client: client, id: id, queue: queue) }
                // The writer decides when the connection ends: once a close frame is out, or when
                // the queue ended (the client left, or fell behind).
                var closing = false
                do {
                    for await item in queue.items {
                        switch item {
                        case .frame(let frame):
                            try await outbound.write(frame)
                            queue.sent(frame)
                        case let .close(code, reason):
                            try await outbound.write(Self.closeFrame(code, reason: reason))
                            closing = true
                        }
                    }
                } catch {
                    logger.debug("zeek-client \(id): cannot send: \(error)")
                }
                // The client gets a moment to read the close frame and hang up: closing the socket
                // with its data unread would reset the connection, and the frame could be lost.
                let deadline = ContinuousClock.now + .seconds(1)
                while closing, channel.channel.isActive, ContinuousClock.now < deadline {
                    try? await Task.sleep(for: .milliseconds(20))
                }
                group.cancelAll()
            }
        }
        logger.debug("zeek-client connection \(id) closed")
    }

    /// Reads the client's frames until it closes, goes away or breaks the protocol.
    private func read(_ inbound: NIOAsyncChannelInboundStream<WebSocketFrame>, client: GatewayClient, id: String, remote: String,
                      queue: OutboundQueue, activity: Activity, endpoint: any MessageBus) async {
        var subscribed = false
        do {
            for try await frame in inbound {
                activity.touch()
                switch frame.opcode {
                case .text:
                    let data = Data(frame.unmaskedData.readableBytesView)
                    if !subscribed {
                        subscribed = subscribe(data, client: client, id: id, remote: remote, queue: queue)
                    } else {
                        await relay(data, client: client, id: id, queue: queue, endpoint: endpoint)
                    }
                case .ping:
                    queue.enqueue(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
                case .connectionClose:
                    var data = frame.unmaskedData
                    queue.enqueue(WebSocketFrame(fin: true, opcode: .connectionClose, data: data.readSlice(length: 2) ?? ByteBuffer()))
                    return
                case .binary:
                    queue.enqueue(try Self.frame(.error(code: "deserialization_failed", context: "binary frames are not Broker's JSON")))
                default:
                    continue
                }
            }
        } catch NIOWebSocketError.invalidFrameLength {
            refuseOversized(client: client, id: id, queue: queue)
        } catch NIOWebSocketFrameAggregator.Error.accumulatedFrameSizeIsTooLarge {
            refuseOversized(client: client, id: id, queue: queue)
        } catch let error as NIOWebSocketError {
            logger.warning("zeek-client \(id) (operator \(client.name)) broke the WebSocket protocol: \(error); closing")
            queue.close(.protocolError, reason: "protocol error")
        } catch let error as NIOWebSocketFrameAggregator.Error {
            logger.warning("zeek-client \(id) (operator \(client.name)) broke the WebSocket protocol: \(error); closing")
            queue.close(.protocolError, reason: "protocol error")
        } catch NIOSSLError.uncleanShutdown {
            // zeek-client closes its socket without a TLS close_notify after every command.
        } catch {
            logger.debug("zeek-client \(id): connection ended: \(error)")
        }
    }

    private func refuseOversized(client: GatewayClient, id: String, queue: OutboundQueue) {
        let limit = settings.maximumMessageSize
        logger.warning("zeek-client \(id) (operator \(client.name)) sent a message larger than \(limit) bytes, the Kafka message limit (message.max.bytes): closing the connection with 1009")
        queue.close(.messageTooLarge, reason: "message exceeds \(limit) bytes (message.max.bytes)")
    }

    /// Pings a client silent for half the idle timeout, and closes the connection of one silent
    /// for all of it.
    private func watch(_ activity: Activity, client: GatewayClient, id: String, queue: OutboundQueue) async {
        let half = settings.idleTimeout / 2
        var pinged = false
        // Checked every quarter of the timeout, so the ping goes out well before the end.
        while (try? await Task.sleep(for: settings.idleTimeout / 4)) != nil {
            let silence = activity.silence
            if silence >= settings.idleTimeout {
                logger.info("closing zeek-client \(id) (operator \(client.name)): silent for \(settings.idleTimeout) (--websocket-idle-timeout)")
                queue.close(.normalClosure, reason: "idle for \(settings.idleTimeout)")
                return
            }
            if silence >= half && !pinged {
                queue.enqueue(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer()))
                pinged = true
            } else if silence < half {
                pinged = false
            }
        }
    }

    /// Handles the client's first frame, its topic subscriptions: answers with the ack.
    private func subscribe(_ data: Data, client: GatewayClient, id: String, remote: String, queue: OutboundQueue) -> Bool {
        do {
            guard case .subscription(let topics) = try BrokerMessage(frame: data, expectingSubscription: true) else { return false }
            queue.enqueue(try Self.frame(.ack(endpoint: id, version: "zeek-management-kafka")))
            // Broker's prefix matching: a subscription to `zeek/management` covers the controller's topic.
            connections.add(id, queue: queue, subscribed: topics.contains { Self.topic.hasPrefix($0) })
            logger.info("zeek-client \(id) connected", metadata: [
                "operator": "\(client.name)", "role": "\(client.role.rawValue)", "authenticated-by": "\(client.authenticatedBy)",
                "remote": "\(remote)", "topics": "\(topics.joined(separator: ","))",
            ])
            return true
        } catch {
            if let frame = try? Self.frame(.error(code: "deserialization_failed", context: "invalid subscription: \(error)")) { queue.enqueue(frame) }
            return false
        }
    }

    /// Relays one request to the controller once the client's role allows it and its reqid is
    /// this connection's; problems go back as the request's failed response or Broker errors.
    private func relay(_ data: Data, client: GatewayClient, id: String, queue: OutboundQueue, endpoint: any MessageBus) async {
        do {
            guard case let .data(topic, value) = try BrokerMessage(frame: data, maximumSize: settings.maximumMessageSize) else {
                throw BrokerJSONError(path: "type", problem: "expected a data-message")
            }
            guard topic == Self.topic else { return }
            let event = try BrokerEvent(value)
            // Responses and events zeek-client does not send (its own, echoed) are not relayed.
            guard ZeekClientEvents.requests[event.name] != nil else {
                if ZeekClientEvents.responses[event.name] == nil { logger.info("zeek-client \(id) sent unsupported event \(event.name.prefix(120))") }
                return
            }
            guard case .string(let reqid)? = event.arguments.first else {
                throw BrokerJSONError(path: "data", problem: "\(event.name) must start with its reqid, a string")
            }
            var metadata: Logger.Metadata = [
                "operator": "\(client.name)", "role": "\(client.role.rawValue)", "event": "\(event.name)",
                "reqid": "\(reqid.prefix(100))", "connection": "\(id)",
            ]
            func fail(_ error: String) {
                if let failure = ZeekClientEvents.failedResponse(to: event.name, reqid: reqid, error: error),
                   let frame = try? Self.frame(.data(topic: Self.topic, value: failure.value)) {
                    queue.enqueue(frame)
                }
            }
            guard client.role.allows(event.name) else {
                logger.warning("zeek-client request refused: the operator's role does not allow it", metadata: metadata)
                fail("operator \(client.name) has role \(client.role.rawValue), which may not send \(event.name) (role deploy may)")
                return
            }
            switch connections.claim(reqid, by: id, limit: settings.maximumOutstandingRequests) {
            case .claimed:
                break
            case .taken:
                logger.warning("zeek-client request refused: its reqid is another connection's", metadata: metadata)
                fail("reqid \(reqid.prefix(100)) is in use by another client")
                return
            case .tooMany(let count):
                logger.warning("zeek-client request refused: too many outstanding", metadata: metadata)
                fail("\(count) requests of this connection await their response (--websocket-max-outstanding); wait for them")
                return
            }
            metadata["controller"] = "\(controllerName)"
            logger.info("zeek-client request", metadata: metadata)
            do {
                try await ZeekClientEvents.relay(event.name, arguments: try ZeekClientEvents.arguments(of: event), through: endpoint, to: controllerName)
            } catch {
                // A request that cannot go on (too large for Kafka, the broker down) is answered
                // here, so the client shows why instead of waiting for its timeout.
                connections.release(reqid, by: id)
                logger.warning("zeek-client \(id): \(event.name) not relayed: \(error)")
                fail("\(error)")
            }
        } catch {
            logger.warning("zeek-client \(id): cannot relay a message: \(error)")
            if let frame = try? Self.frame(.error(code: "deserialization_failed", context: "\(error)")) { queue.enqueue(frame) }
        }
    }

    /// Sends each controller response to the connection that asked, and notifications to
    /// every subscribed connection.
    private func relayControllerEvents(from endpoint: any MessageBus) async {
        for await message in endpoint.inbound {
            guard let schema = ZeekClientEvents.responses[message.event],
                  let arguments = message.document["args"],
                  let event = ZeekClientEvents.brokerEvent(named: message.event, arguments: arguments),
                  let frame = try? Self.frame(.data(topic: Self.topic, value: event.value)) else { continue }
            if schema.first?.name == "reqid" {
                guard case .string(let reqid)? = event.arguments.first else { continue }
                connections.deliver(response: frame, reqid: reqid)
            } else {
                connections.notify(frame)
            }
        }
    }

    static func frame(_ message: BrokerMessage) throws -> WebSocketFrame {
        WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: try message.encoded()))
    }

    static func closeFrame(_ code: WebSocketErrorCode, reason: String) -> WebSocketFrame {
        var data = ByteBuffer()
        data.write(webSocketErrorCode: code)
        data.writeString(String(reason.utf8.prefix(120)) ?? "")
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: data)
    }
}

/// Why a connection's WebSocket handshake was refused, from the upgrade handler that decided
/// it to the task that answers it.
final class Refusal: Sendable {
    private let refusal = Mutex<(HTTPResponseStatus, String, HTTPVersion)?>(nil)

    func set(_ status: HTTPResponseStatus, _ reason: String, version: HTTPVersion) {
        refusal.withLock { $0 = (status, reason, version) }
    }

    var value: (HTTPResponseStatus, String, HTTPVersion)? { refusal.withLock { $0 } }
}

/// Says why a TLS connection failed (a plaintext client, a missing or untrusted client
/// certificate): the WebSocket upgrade behind it only sees the channel close.
private final class TLSFailureLogger: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case NIOSSLError.handshakeFailed = error {
            logger.warning("zeek-client TLS handshake from \(context.remoteAddress?.description ?? "?") failed: \(error); zeek-client needs ssl.enable = true, and a client certificate (ssl.certificate, ssl.keyfile) signed by --websocket-ca")
        }
        context.fireErrorCaught(error)
    }
}
