import CRdKafka
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// A topic this project needs, as it should be created when missing.
public struct TopicSpecification: Sendable, Hashable {
    public var name: String
    public var partitions: Int32
    /// `-1` lets the broker apply its `default.replication.factor`.
    public var replicationFactor: Int32
    /// Topic-level configuration, e.g. `cleanup.policy=compact`.
    public var config: [String: String]

    public init(name: String, partitions: Int32 = 1, replicationFactor: Int32 = -1, config: [String: String] = [:]) {
        self.name = name
        self.partitions = partitions
        self.replicationFactor = replicationFactor
        self.config = config
    }
}

/// Topic administration through librdkafka's admin API.
public struct KafkaAdmin: Sendable {
    private enum Source: Sendable {
        case configuration(KafkaConfiguration)
        case client(RdKafkaClient)
    }

    private let source: Source

    private var isOwnedSource: Bool { if case .configuration = source { true } else { false } }
    private let logger: Logger

    /// An admin client with a connection of its own, for the duration of each operation.
    public init(configuration: KafkaConfiguration, logger: Logger) {
        self.source = .configuration(configuration)
        self.logger = logger
    }

    /// Administration over a producer's existing connection: nothing to set up or tear down.
    ///
    /// Meant for while the producer runs, but safe beside its shutdown: every use of the
    /// producer's handle goes through its `withHandle`, so a call made once the shutdown began
    /// throws a `.shutDown` ``KafkaError`` (not worth retrying on this producer), and one under
    /// way ends before the handle is destroyed.
    public init(producer: KafkaProducer, logger: Logger) {
        self.source = .client(producer.client)
        self.logger = logger
    }

    /// Creates each topic that does not exist yet; existing topics are left as they are.
    ///
    /// Asks for the topic list first and sends a CreateTopics request only for missing topics:
    /// services start often and their topics almost always exist, and CreateTopics must wait
    /// for the cluster controller to be known, which can add a second to every start.
    /// Throws if the broker cannot be reached within `timeout` or refuses a topic.
    public func ensureTopics(_ topics: [TopicSpecification], timeout: Duration = .seconds(5)) async throws {
        guard !topics.isEmpty else { return }
        let logger = self.logger, source = self.source
        let milliseconds = Int32(clamping: timeout.milliseconds)
        // Only a connection of our own may be left behind on cancellation; a producer's is
        // destroyed with the producer.
        let created = try await runBlocking(abandonOnCancel: isOwnedSource) { () throws -> [String] in
            let client: RdKafkaClient
            switch source {
            case .client(let shared):
                client = shared
            case .configuration(let configuration):
                client = try RdKafkaClient(kind: .producer, properties: configuration.properties(role: []), context: ClientContext(logger: logger))
            }
            defer {
                // rd_kafka_destroy can take a second (its threads wake on a 1 s tick); nobody
                // needs to wait for that.
                if case .configuration = source { OSThread.detach { client.close() } }
            }
            let existing = try client.topicNames(timeoutMilliseconds: milliseconds)
            let missing = topics.filter { !existing.contains($0.name) }
            guard !missing.isEmpty else { return [] }
            return try Self.createTopics(missing, client: client, timeoutMilliseconds: milliseconds)
        }
        for name in created { logger.info("created topic \(name)") }
    }

    /// Returns the names of the topics that were created (not those that already existed).
    private static func createTopics(_ topics: [TopicSpecification], client: RdKafkaClient, timeoutMilliseconds: Int32) throws -> [String] {
        var errorBuffer = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(topic.name, topic.partitions, topic.replicationFactor, &errorBuffer, errorBuffer.count) else {
                throw KafkaError(.admin, "topic \(topic.name): \(RdKafkaClient.string(errorBuffer))")
            }
            newTopics.append(newTopic)
            for (key, value) in topic.config.sorted(by: { $0.key < $1.key }) {
                let error = rd_kafka_NewTopic_set_config(newTopic, key, value)
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(.admin, "topic \(topic.name) config \(key)=\(value)", error: error)
                }
            }
        }

        // The result queue, the options and the result event all refer to the handle, so they
        // are made, used and destroyed inside one withHandle: the client may be a producer's,
        // whose shutdown must not destroy the handle under them, and a call after that
        // shutdown began is refused with `.shutDown` instead of touching freed memory.
        return try client.withHandle { handle in
            guard let queue = rd_kafka_queue_new(handle) else {
                throw KafkaError(.admin, "could not allocate an admin result queue")
            }
            defer { rd_kafka_queue_destroy(queue) }
            let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
            defer { rd_kafka_AdminOptions_destroy(options) }
            _ = rd_kafka_AdminOptions_set_request_timeout(options, timeoutMilliseconds, &errorBuffer, errorBuffer.count)
            _ = rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMilliseconds, &errorBuffer, errorBuffer.count)
            newTopics.withUnsafeMutableBufferPointer { buffer in
                rd_kafka_CreateTopics(handle, buffer.baseAddress, buffer.count, options, queue)
            }
            // The admin request times out on its own; the extra second only covers queue delivery.
            guard let event = try awaitEvent(on: queue, client: client, milliseconds: Int64(timeoutMilliseconds) + 1_000) else {
                throw KafkaError(.timedOut, "creating topics: no answer from the broker within \(timeoutMilliseconds) ms")
            }
            defer { rd_kafka_event_destroy(event) }
            return try createdTopics(event)
        }
    }

    /// The next event on `queue` within `milliseconds` (nil if none came), waited for in short
    /// slices: the client's close waits for this call to leave withHandle, so a shutdown that
    /// begins meanwhile ends the wait with `.shutDown` rather than being held up for it.
    private static func awaitEvent(on queue: OpaquePointer, client: RdKafkaClient, milliseconds: Int64) throws -> OpaquePointer? {
        let deadline = ContinuousClock.now + .milliseconds(milliseconds)
        while true {
            if client.isClosing {
                throw KafkaError(.shutDown, "creating topics: the Kafka client was shut down before the broker answered")
            }
            let left = (deadline - .now).milliseconds
            guard left > 0 else { return nil }
            if let event = rd_kafka_queue_poll(queue, Int32(min(left, 100))) { return event }
        }
    }

    /// The topics a CreateTopics result event says were created; throws for a refused one.
    private static func createdTopics(_ event: OpaquePointer) throws -> [String] {
        let eventError = rd_kafka_event_error(event)
        guard eventError == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            let kind: KafkaError.Kind = eventError == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timedOut : .admin
            throw KafkaError(kind, "creating topics failed: \(text)", code: eventError.rawValue)
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(.admin, "unexpected admin result event")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return [] }
        var created: [String] = []
        for index in 0..<count {
            let topicResult = results[index]
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let error = rd_kafka_topic_result_error(topicResult)
            switch error {
            case RD_KAFKA_RESP_ERR_NO_ERROR:
                created.append(name)
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                continue
            default:
                let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(error))
                throw KafkaError(.admin, "broker refused to create topic \(name): \(text)", code: error.rawValue)
            }
        }
        return created
    }
}
