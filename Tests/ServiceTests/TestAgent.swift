import Foundation
import KafkaTransport
import LocalServers
import Logging
import ManagementMessaging
import ManagementTypes
import Synchronization

/// Plays the agent's part in tests: sends requests on the instance's behalf, matches responses
/// by reqid, and records every notification it sees.
final class TestAgent: Sendable {
    let instance: String
    let endpoint: ManagementEndpoint
    private let pending = PendingResponses<InboundMessage>()
    private let seen = MessageLog()
    private let reader: Task<Void, Never>

    private struct RequestID: Decodable {
        struct Args: Decodable { var reqid: String }
        var args: Args
    }

    init(broker: LocalBroker, instance: String, prefix: String = "") async throws {
        var logger = Logger(label: "test-agent")
        logger.logLevel = .warning
        self.instance = instance
        endpoint = try await ManagementEndpoint.connect(EndpointConfiguration(
            name: instance,
            kafka: KafkaConfiguration(bootstrapServers: [broker.address], clientID: "test-agent"),
            namespace: TopicNamespace(prefix: prefix),
            consumes: [.supervisorAPI, .supervisorAPI.notify, .nodeAPI, .nodeAPI.notify],
            membership: .fromEnd,
            addressing: .everything
        ), logger: logger)
        let endpoint = self.endpoint, pending = self.pending, seen = self.seen
        reader = Task {
            for await message in endpoint.inbound {
                if message.event.hasSuffix("_response"),
                   let reqid = try? ZeekJSON.decode(RequestID.self, from: message.kafkaMessage.value).args.reqid {
                    await pending.deliver(message, for: reqid)
                }
                seen.append(message)
            }
        }
    }

    /// Sends `request` on `topic` to `target` (default: the instance) and returns the response.
    func request<Response: ManagementEvent>(
        _ request: some ManagementEvent & Identified, on topic: Topic = .supervisorAPI, target: String? = nil,
        expecting: Response.Type, timeout: Duration = .seconds(30)
    ) async throws -> Response {
        await pending.register(request.reqid)
        try await endpoint.publish(request, to: topic, target: target ?? instance)
        return try await pending.response(for: request.reqid, timeout: timeout).decode(Response.self).event
    }

    /// Every recorded message of type `Event` for which `predicate` holds.
    func all<Event: ManagementEvent>(_ type: Event.Type, where predicate: (Event) -> Bool = { _ in true }) -> [Event] {
        seen.messages.filter { $0.event == Event.eventName }.compactMap { try? $0.decode(Event.self).event }.filter(predicate)
    }

    /// Publish times of the recorded messages of type `Event`, in order.
    func timestamps<Event: ManagementEvent>(of type: Event.Type) -> [Double] {
        seen.messages.filter { $0.event == Event.eventName }.map(\.head.timestamp)
    }

    /// Waits until `count` messages of type `Event` matching `predicate` were seen; returns them.
    @discardableResult
    func waitFor<Event: ManagementEvent>(
        _ type: Event.Type, count: Int = 1, timeout: Duration = .seconds(30), where predicate: @escaping (Event) -> Bool = { _ in true }
    ) async throws -> [Event] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let matches = all(type, where: predicate)
            if matches.count >= count { return matches }
            guard ContinuousClock.now < deadline else {
                throw ServiceProcessError("saw \(matches.count) of \(count) \(Event.eventName) within \(timeout)")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    func shutdown() async {
        await endpoint.shutdown()
        await reader.value
    }
}

private final class MessageLog: Sendable {
    private let state = Mutex<[InboundMessage]>([])
    var messages: [InboundMessage] { state.withLock { $0 } }
    func append(_ message: InboundMessage) { state.withLock { $0.append(message) } }
}

/// Requests carry a reqid.
protocol Identified {
    var reqid: String { get }
}

extension SupervisorControl.CreateRequest: Identified {}
extension SupervisorControl.StatusRequest: Identified {}
extension SupervisorControl.RestartRequest: Identified {}
extension SupervisorControl.DestroyRequest: Identified {}
extension NodeAPI.DispatchRequest: Identified {}

/// Whether `pid` is a live process (not gone, not a zombie).
func isAlive(_ pid: Int) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return false }
    let state = stat[stat.index(close, offsetBy: 2)]
    return state != "Z" && state != "X"
}

/// Waits until none of `pids` is alive.
func waitUntilGone(_ pids: [Int], timeout: Duration = .seconds(15)) async throws {
    let deadline = ContinuousClock.now + timeout
    while pids.contains(where: isAlive) {
        guard ContinuousClock.now < deadline else {
            throw ServiceProcessError("processes still alive after \(timeout): \(pids.filter(isAlive))")
        }
        try await Task.sleep(for: .milliseconds(10))
    }
}

func reqid() -> String { UUID().uuidString }
