#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import BrokerJSON
import KafkaTransport
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
/// `Management.Controller.API`, and every controller response and notification is sent to the
/// connected clients, as Broker's publish/subscribe would (zeek-client picks its own by reqid).
///
/// Every controller process runs one, active or standing by, since it only relays over Kafka:
/// clients keep working across a failover. It runs on an endpoint of its own that reads from
/// the end (`EndpointService` connects it, retrying while Kafka is unreachable), so it never
/// takes the controller group's partitions.
public struct ZeekClientGateway: BusService {
    static let topic = "zeek/management/controller"
    /// The largest message zeek-client may send: Broker's JSON of a configuration is about three
    /// times the size of its envelope on Kafka, so a configuration just past the Kafka limit
    /// still arrives and is refused with the reason, not by closing the connection.
    static let maximumFrameSize = 8 * KafkaConfiguration.defaultMaximumMessageSize
    static let path = "/v1/messages/json"

    let host: String
    let port: Int
    /// Serves `wss://` when set.
    let tls: NIOSSLContext?
    let controllerName: String
    let logger: Logger
    private let connections = Connections()

    public init(host: String, port: Int, tls: NIOSSLContext?, controllerName: String, logger: Logger) {
        self.host = host
        self.port = port
        self.tls = tls
        self.controllerName = controllerName
        self.logger = logger
    }

    public func run(on endpoint: any MessageBus) async throws {
        let server: NIOAsyncChannel<EventLoopFuture<Upgrade>, Never>
        do {
            server = try await bind()
        } catch {
            throw ZeekClientGatewayError(description: "cannot serve zeek-client on \(host):\(port) (--websocket): \(error)")
        }
        logger.notice("zeek-client WebSocket endpoint listening", metadata: ["address": "\(tls == nil ? "ws" : "wss")://\(host):\(port)\(Self.path)"])
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

    /// Listens with the TLS, HTTP and WebSocket upgrade handlers in every accepted channel.
    private func bind() async throws -> NIOAsyncChannel<EventLoopFuture<Upgrade>, Never> {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: host, port: port) { [tls, logger] channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandlers(NIOSSLServerHandler(context: tls), TLSFailureLogger(logger: logger))
                    }
                    let upgrader = NIOTypedWebSocketServerUpgrader<Upgrade>(
                        maxFrameSize: Self.maximumFrameSize,
                        shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                        upgradePipelineHandler: { channel, head in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(NIOWebSocketFrameAggregator(
                                    minNonFinalFragmentSize: 0, maxAccumulatedFrameCount: 4096, maxAccumulatedFrameSize: Self.maximumFrameSize
                                ))
                                return Upgrade.websocket(try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(wrappingChannelSynchronously: channel), path: head.uri)
                            }
                        }
                    )
                    let configuration = NIOTypedHTTPServerUpgradeConfiguration<Upgrade>(
                        upgraders: [upgrader],
                        notUpgradingCompletionHandler: { channel in
                            channel.eventLoop.makeCompletedFuture { Upgrade.plainHTTP(channel) }
                        }
                    )
                    return try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                        configuration: .init(upgradeConfiguration: configuration)
                    )
                }
            }
    }

    enum Upgrade {
        case websocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, path: String)
        case plainHTTP(any Channel)
    }

    /// Sends every controller response and notification to every connected client.
    private func relayControllerEvents(from endpoint: any MessageBus) async {
        for await message in endpoint.inbound {
            guard ZeekClientEvents.responses[message.event] != nil,
                  let arguments = message.document["args"],
                  let event = ZeekClientEvents.brokerEvent(named: message.event, arguments: arguments) else { continue }
            connections.broadcast(.data(topic: Self.topic, value: event.value))
        }
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
            case .plainHTTP(let channel):
                // Not a WebSocket handshake: nothing is served over plain HTTP.
                try await channel.close()
            case let .websocket(channel, path):
                try await serve(channel, path: path, id: id, endpoint: endpoint)
            }
        } catch NIOSSLError.uncleanShutdown {
            // zeek-client closes its socket without a TLS close_notify after every command.
            logger.debug("zeek-client connection \(id) closed")
        } catch {
            logger.info("zeek-client connection \(id) ended: \(error)")
        }
    }

    private func serve(_ channel: NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, path: String, id: String, endpoint: any MessageBus) async throws {
        try await channel.executeThenClose { inbound, outbound in
            func send(_ message: BrokerMessage) async throws {
                try await outbound.write(WebSocketFrame(fin: true, opcode: .text, data: ByteBuffer(bytes: try message.encoded())))
            }
            guard path.split(separator: "?").first.map(String.init) == Self.path else {
                try await send(.error(code: "invalid_uri", context: "unsupported path \(path.prefix(200)); use \(Self.path)"))
                try await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [0x03, 0xF0]))) // 1008
                return
            }
            let (outgoing, continuation) = AsyncStream<BrokerMessage>.makeStream(bufferingPolicy: .bufferingNewest(1024))
            defer { connections.remove(id) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await message in outgoing { try await send(message) }
                }
                group.addTask {
                    var subscribed = false
                    for try await frame in inbound {
                        switch frame.opcode {
                        case .text:
                            let data = Data(frame.unmaskedData.readableBytesView)
                            if !subscribed {
                                subscribed = try await subscribe(data, id: id, continuation: continuation, send: send)
                            } else {
                                await relay(data, id: id, endpoint: endpoint, continuation: continuation)
                            }
                        case .ping:
                            try await outbound.write(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData))
                        case .connectionClose:
                            var data = frame.unmaskedData
                            try await outbound.write(WebSocketFrame(fin: true, opcode: .connectionClose, data: data.readSlice(length: 2) ?? ByteBuffer()))
                            continuation.finish()
                            return
                        default:
                            continue
                        }
                    }
                    continuation.finish()
                }
                try await group.next()
                group.cancelAll()
            }
        }
        logger.debug("zeek-client connection \(id) closed")
    }

    /// Handles the client's first frame: its topic subscriptions; answers with the ack.
    private func subscribe(_ data: Data, id: String, continuation: AsyncStream<BrokerMessage>.Continuation,
                           send: (BrokerMessage) async throws -> Void) async throws -> Bool {
        do {
            guard case .subscription(let topics) = try BrokerMessage(frame: data, expectingSubscription: true) else { return false }
            try await send(.ack(endpoint: id, version: "zeek-management-kafka"))
            if topics.contains(where: { Self.topic.hasPrefix($0) || $0.hasPrefix(Self.topic) }) {
                connections.add(id, continuation)
            }
            logger.info("zeek-client \(id) connected", metadata: ["topics": "\(topics.joined(separator: ","))"])
            return true
        } catch let error as BrokerJSONError {
            try await send(.error(code: "deserialization_failed", context: "invalid subscription: \(error)"))
            return false
        }
    }

    /// Relays one data message to the controller; problems go back as Broker error frames.
    private func relay(_ data: Data, id: String, endpoint: any MessageBus, continuation: AsyncStream<BrokerMessage>.Continuation) async {
        do {
            guard case let .data(topic, value) = try BrokerMessage(frame: data, maximumSize: Self.maximumFrameSize) else {
                throw BrokerJSONError(path: "type", problem: "expected a data-message")
            }
            guard topic == Self.topic else { return }
            let event = try BrokerEvent(value)
            // Responses and events zeek-client does not send (its own, echoed) are not relayed.
            guard ZeekClientEvents.requests[event.name] != nil else {
                if ZeekClientEvents.responses[event.name] == nil { logger.info("zeek-client \(id) sent unsupported event \(event.name.prefix(120))") }
                return
            }
            do {
                try await ZeekClientEvents.relay(event.name, arguments: try ZeekClientEvents.arguments(of: event), through: endpoint, to: controllerName)
            } catch {
                // A request that cannot go on (too large for Kafka, the broker down) is answered
                // here, so the client shows why instead of waiting for its timeout.
                guard case .string(let reqid)? = event.arguments.first,
                      let failure = ZeekClientEvents.failedResponse(to: event.name, reqid: reqid, error: "\(error)") else { throw error }
                logger.warning("zeek-client \(id): \(event.name) not relayed: \(error)")
                continuation.yield(.data(topic: Self.topic, value: failure.value))
            }
        } catch {
            logger.warning("zeek-client \(id): cannot relay a message: \(error)")
            continuation.yield(.error(code: "deserialization_failed", context: "\(error)"))
        }
    }
}

/// The endpoint could not start (its address is taken or not local, say).
struct ZeekClientGatewayError: Error, CustomStringConvertible {
    let description: String
}

/// Says why a TLS connection failed (a plaintext client, a missing or untrusted client
/// certificate): the WebSocket upgrade behind it only sees the channel close.
private final class TLSFailureLogger: ChannelInboundHandler, Sendable {
    typealias InboundIn = NIOAny
    let logger: Logger

    init(logger: Logger) { self.logger = logger }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if case NIOSSLError.handshakeFailed = error {
            logger.warning("zeek-client TLS handshake from \(context.remoteAddress?.description ?? "?") failed: \(error); zeek-client needs ssl.enable = true, and with --websocket-ca a client certificate (ssl.certificate, ssl.keyfile) signed by that CA")
        }
        context.fireErrorCaught(error)
    }
}

/// The connected clients and the queues of what is to be sent to them.
private final class Connections: Sendable {
    private let clients = Mutex<[String: AsyncStream<BrokerMessage>.Continuation]>([:])

    func add(_ id: String, _ continuation: AsyncStream<BrokerMessage>.Continuation) {
        clients.withLock { $0[id] = continuation }
    }

    func remove(_ id: String) {
        clients.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    func broadcast(_ message: BrokerMessage) {
        for continuation in clients.withLock({ Array($0.values) }) { continuation.yield(message) }
    }

    func closeAll() {
        for continuation in clients.withLock({ state in defer { state = [:] }; return Array(state.values) }) { continuation.finish() }
    }
}
