import Foundation
import KafkaTransport
import LocalServers
import Logging
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import MessageSigning
import Synchronization

/// Plays a peer's part in tests (the agent towards a supervisor, the controller towards an
/// agent): sends requests, matches responses by reqid, and records everything it sees.
final class TestAgent: Sendable {
    let instance: String
    /// The key it signs with (``keyPath(instance:name:)``).
    let keyPath: String
    let endpoint: ManagementEndpoint
    private let requester: Requester
    private let seen = MessageLog()
    private let reader: Task<Void, Never>

    /// Whom it signs as, by the part it plays: an operator towards the controller, the
    /// controller towards an agent, else the agent of `instance` (its host's key).
    static func keyPath(instance: String, name: String) -> String {
        if instance == "controller" { return LocalKeys.shared.deployer }
        if name == "controller" { return LocalKeys.shared.controller }
        return LocalKeys.shared.host(instance)
    }

    /// - Parameters:
    ///   - instance: the instance requests go to by default.
    ///   - name: the sender name (default: the instance, as an agent talks to its supervisor).
    init(broker: LocalBroker, instance: String, name: String? = nil, prefix: String = "",
         consumes: [Topic] = [.supervisorAPI, .supervisorAPI.notify, .nodeAPI, .nodeAPI.notify]) async throws {
        var logger = Logger(label: "test-agent")
        logger.logLevel = .warning
        self.instance = instance
        keyPath = Self.keyPath(instance: instance, name: name ?? instance)
        endpoint = try await ManagementEndpoint.connect(EndpointConfiguration(
            name: name ?? instance,
            kafka: KafkaConfiguration(bootstrapServers: [broker.address], clientID: "test-agent", overrides: LocalBroker.clientOptions),
            namespace: TopicNamespace(prefix: prefix),
            consumes: consumes.map(\.whole),
            membership: .fromEnd,
            addressing: .everything,
            security: .signed(EndpointSecurity(key: try SigningKey(file: keyPath),
                                               trust: try LocalKeys.shared.trustStore(), policy: .observer))
        ), logger: logger)
        let requester = Requester(bus: endpoint)
        self.requester = requester
        let endpoint = self.endpoint, seen = self.seen
        reader = Task {
            for await message in endpoint.inbound {
                requester.deliver(message)
                seen.append(message)
            }
        }
    }

    /// Sends `request` on `topic` to `target` (default: the instance) and returns the response.
    func request<Request: ManagementRequest>(
        _ request: Request, on topic: Topic = .supervisorAPI, target: String? = nil,
        expecting: Request.Response.Type, timeout: Duration = .seconds(30)
    ) async throws -> Request.Response {
        try await requester.request(request, on: topic, target: target ?? instance, until: .now + timeout)
    }

    /// Announces a response to a request sent some other way (e.g. as raw bytes).
    func expect(_ reqid: String) async {
        requester.expect(reqid)
    }

    func response(_ reqid: String, timeout: Duration = .seconds(30)) async throws -> InboundMessage {
        try await requester.response(to: reqid, until: .now + timeout)
    }

    /// Publishes raw JSON as an envelope would be, bypassing the codecs (for malformed input).
    /// Writes `json` as it is on `topic`, keyed by `target`: signed with this peer's own key,
    /// with `key`, or, `unsigned`, as anyone with write access to Kafka could.
    func sendRaw(_ json: String, to topic: Topic, target: String, broker: LocalBroker, signedWith key: SigningKey? = nil, unsigned: Bool = false) async throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: [broker.address], clientID: "test-raw", overrides: LocalBroker.clientOptions), logger: Logger(label: "test-raw"))
        var record = KafkaRecord(topic: topic.name, key: Data(target.utf8), value: Data(json.utf8), headers: [KafkaHeader(name: "target", string: target)])
        if !unsigned {
            let signer = try key ?? SigningKey(file: keyPath)
            record.headers += SignedRecord(signing: record.value, topic: record.topic, key: record.key ?? Data(), with: signer).kafkaHeaders
        }
        try await producer.send(record)
        await producer.shutdown()
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

    /// Responses seen more than once for the same request from the same sender: each is
    /// `event reqid from sender`.
    func duplicateAnswers() -> [String] {
        var counts: [String: Int] = [:]
        for message in seen.messages where message.event.hasSuffix("_response") {
            counts["\(message.event) \(message.reqid ?? "?") from \(message.head.sender)", default: 0] += 1
        }
        return counts.filter { $0.value > 1 }.keys.sorted()
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
