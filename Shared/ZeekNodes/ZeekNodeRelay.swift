import BrokerJSON
import Foundation
import LocalPorts
import Logging
import ManagementMessaging
import ManagementTypes
import WSClient

/// Bridges a host's Zeek nodes and `Management.Node.API`: Zeek cannot speak Kafka, so the
/// relay connects to each node's WebSocket API (Broker's JSON messages, on 127.0.0.1) and
/// speaks for it on Kafka, exactly as a node that spoke Kafka itself would.
///
/// - A node's `notify_node_hello` is published only once Zeek itself answered over the
///   WebSocket: its node script says hello when the relay subscribes, and the relay asks
///   again (`get_id_value Cluster::node`) until one of them arrives.
/// - `node_dispatch_request`s addressed to the host are sent to the nodes they name;
///   `node_dispatch_response`s come back with `sender` = the node, `target` = the instance.
///
/// One Kafka client serves every node of the host, however many workers it runs.
public actor ZeekNodeRelay {
    private struct Connection {
        let pid: Int
        let task: Task<Void, Never>
        /// Frames to the node; set once Zeek acknowledged the connection.
        var outgoing: AsyncStream<String>.Continuation?
        /// Whether the node said hello on the current connection.
        var greeted = false
    }

    private let instance: String
    private let endpoint: any MessageBus
    private let logger: Logger
    private var connections: [String: Connection] = [:]

    /// Requests the relay sends itself to learn whether Zeek answers; never forwarded.
    static let probePrefix = "zeek-mgmt-relay-probe-"
    /// Pause before asking a silent node again, and the longest pause between reconnects.
    static let retryInterval: Duration = .seconds(1)
    /// The pause between questions to a connected node that has not answered yet, for
    /// ``steadyProbing``; then it doubles up to ``retryInterval``.
    static let firstProbeInterval: Duration = .milliseconds(20)
    /// How long a connected node that has not answered is asked every ``firstProbeInterval``:
    /// a starting Zeek answers within a second or two, and a deploy waits for that answer (a
    /// back-off from the first question on left a logger reached through the manager's
    /// WebSocket on ZeroMQ unseen for up to a third of a second after it could answer).
    static let steadyProbing: Duration = .seconds(5)
    /// How often the relay looks whether a node's port accepts connections yet.
    static let listenProbeInterval: Duration = .milliseconds(10)

    public init(instance: String, endpoint: any MessageBus, logger: Logger) {
        self.instance = instance
        self.endpoint = endpoint
        self.logger = logger
    }

    // MARK: Nodes

    /// Starts relaying for a new process of `node`, serving its WebSocket API on `port`;
    /// replaces any connection to an earlier process of the node.
    public func attach(node: String, pid: Int, port: Int) {
        connections[node]?.task.cancel()
        let task = Task { await self.serve(node: node, pid: pid, port: port) }
        connections[node] = Connection(pid: pid, task: task)
    }

    /// Stops relaying for `node`'s process `pid` (it ended or the node was destroyed).
    public func detach(node: String, pid: Int) {
        guard let connection = connections[node], connection.pid == pid else { return }
        connection.task.cancel()
        connection.outgoing?.finish()
        connections[node] = nil
    }

    /// Stops relaying for every node.
    public func stop() {
        for connection in connections.values {
            connection.task.cancel()
            connection.outgoing?.finish()
        }
        connections = [:]
    }

    // MARK: Kafka to Zeek

    /// Sends a dispatch addressed to this host to each of its nodes it names (all when it
    /// names none). Nodes without a live connection do not answer, as a node that is down.
    public func dispatch(_ request: NodeAPI.DispatchRequest) {
        for (node, connection) in connections where request.nodes.isEmpty || request.nodes.contains(node) {
            guard let outgoing = connection.outgoing else {
                logger.info("node \(node) is not connected yet: dispatch \(request.reqid) not delivered")
                continue
            }
            do {
                outgoing.yield(try Self.dispatchFrame(node: node, reqid: request.reqid, action: request.action, nodes: request.nodes))
            } catch {
                logger.warning("cannot encode dispatch \(request.reqid) for \(node): \(error)")
            }
        }
    }

    static func dispatchFrame(node: String, reqid: String, action: [String], nodes: Set<String>) throws -> String {
        let event = BrokerEvent(name: NodeAPI.DispatchRequest.eventName, arguments: [
            .string(reqid), .vector(action.map(BrokerValue.string)), .set(nodes.sorted().map(BrokerValue.string)),
        ])
        return String(decoding: try BrokerMessage.data(topic: ZeekNodeScript.requestTopic(node: node), value: event.value).encoded(), as: UTF8.self)
    }

    // MARK: Zeek to Kafka

    /// Connects to the node until it is detached: Zeek needs a moment after its start to
    /// listen, and a connection lost while the process lives is made again.
    private func serve(node: String, pid: Int, port: Int) async {
        let url = "ws://127.0.0.1:\(port)/v1/messages/json"
        let subscription = String(decoding: (try? BrokerMessage.subscription([ZeekNodeScript.relayTopic(node: node)]).encoded()) ?? Data("[]".utf8), as: UTF8.self)
        var pause = Duration.milliseconds(50)
        var attempts = 0
        while !Task.isCancelled {
            // A starting Zeek listens about a second after its start: a plain TCP probe every
            // few milliseconds finds the moment cheaply, so the hello is not held back by a
            // back-off that is only meant for failing connections.
            if !isAcceptingConnections(port: port) {
                try? await Task.sleep(for: Self.listenProbeInterval)
                continue
            }
            attempts += 1
            do {
                try await WebSocketClient.connect(
                    url: url, configuration: .init(maxFrameSize: BrokerMessage.maximumSize), logger: logger
                ) { inbound, outbound, _ in
                    try await outbound.write(.text(subscription))
                    let (frames, continuation) = AsyncStream<String>.makeStream()
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            for await frame in frames { try await outbound.write(.text(frame)) }
                        }
                        group.addTask {
                            // Asks until the node answered: in case its own hello raced the
                            // subscription, and for a node reached through another node's
                            // WebSocket, which says no hello of its own and is found only so.
                            // Every 20 ms while it starts (a deploy waits for that answer), then
                            // less and less often, up to every second.
                            let connected = ContinuousClock.now
                            var probePause = Self.firstProbeInterval
                            try await Task.sleep(for: probePause)
                            while await !self.greeted(node: node, pid: pid) {
                                let probe = try Self.dispatchFrame(node: node, reqid: Self.probePrefix + UUID().uuidString,
                                                                   action: ["get_id_value", "Cluster::node"], nodes: [])
                                continuation.yield(probe)
                                try await Task.sleep(for: probePause)
                                if ContinuousClock.now - connected >= Self.steadyProbing { probePause = min(probePause * 2, Self.retryInterval) }
                            }
                        }
                        for try await message in inbound.messages(maxSize: BrokerMessage.maximumSize) {
                            guard case .text(let text) = message else { continue }
                            await self.received(text, node: node, pid: pid, outgoing: continuation)
                        }
                        continuation.finish()
                        group.cancelAll()
                    }
                }
                pause = .milliseconds(50)
            } catch {
                if attempts % 20 == 0 { logger.info("node \(node) (pid \(pid)) does not accept the relay at \(url) yet: \(error)") }
            }
            disconnected(node: node, pid: pid)
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, Self.retryInterval)
        }
    }

    private func received(_ text: String, node: String, pid: Int, outgoing: AsyncStream<String>.Continuation) {
        guard connections[node]?.pid == pid else { return }
        let message: BrokerMessage
        do {
            message = try BrokerMessage(frame: Data(text.utf8))
        } catch {
            logger.warning("node \(node) sent an unreadable WebSocket message: \(error)")
            return
        }
        switch message {
        case .ack(let endpoint, let version):
            connections[node]?.outgoing = outgoing
            logger.debug("relay connected to node \(node) (pid \(pid), Zeek \(version), endpoint \(endpoint))")
        case .data(_, let value):
            handle(value, node: node, pid: pid)
        case .error(let code, let context):
            logger.warning("node \(node) reported a WebSocket error \(code): \(context)")
        case .subscription:
            break
        }
    }

    private func handle(_ value: BrokerValue, node: String, pid: Int) {
        guard let event = try? BrokerEvent(value) else {
            logger.warning("node \(node) published a value that is not an event")
            return
        }
        switch event.name {
        case NodeAPI.NodeHello.eventName:
            greet(node: node, pid: pid)
        case NodeAPI.DispatchResponse.eventName:
            guard event.arguments.count == 2, case .string(let reqid) = event.arguments[0] else {
                logger.warning("node \(node) sent a malformed \(event.name)")
                return
            }
            if reqid.hasPrefix(Self.probePrefix) {
                greet(node: node, pid: pid)
                return
            }
            do {
                guard let json = try ZeekType.result.json(event.arguments[1], path: "result") else {
                    throw BrokerJSONError(path: "result", problem: "missing")
                }
                let result = try json.decode(as: Management.Result.self)
                endpoint.enqueue(NodeAPI.DispatchResponse(reqid: reqid, result: result), to: .nodeAPI, target: instance, sender: node)
            } catch {
                logger.warning("node \(node) answered \(reqid) with an unreadable result: \(error)")
            }
        default:
            logger.debug("ignoring \(event.name) from node \(node)")
        }
    }

    private func greeted(node: String, pid: Int) -> Bool {
        guard let connection = connections[node], connection.pid == pid else { return true } // gone: stop asking
        return connection.greeted
    }

    private func greet(node: String, pid: Int) {
        guard let connection = connections[node], connection.pid == pid, !connection.greeted else { return }
        connections[node]?.greeted = true
        logger.info("node \(node) (pid \(pid)) answers over Zeek's WebSocket API")
        endpoint.enqueue(NodeAPI.NodeHello(node: node, pid: pid), to: .nodeAPI.notify, target: instance, sender: node)
    }

    private func disconnected(node: String, pid: Int) {
        guard connections[node]?.pid == pid else { return }
        connections[node]?.outgoing = nil
        connections[node]?.greeted = false
    }
}
