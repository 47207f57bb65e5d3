#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KafkaTransport
import Logging
import ManagementTypes

/// How an endpoint joins the conversation.
public struct EndpointConfiguration: Sendable {
    public enum Membership: Sendable {
        /// Consumer group `id` (unprefixed): resumes from committed offsets, supports failover.
        /// With `mayStandBy`, connecting does not wait for partitions: the endpoint may be a
        /// standby that reads nothing until the active member goes (see
        /// ``ManagementEndpoint/assignmentChanges``).
        case group(id: String, mayStandBy: Bool = false)
        /// No group: starts at the current end of each topic, ready in milliseconds.
        case fromEnd
    }

    /// The endpoint's name, sent as `sender`.
    public var name: String
    public var kafka: KafkaConfiguration
    public var namespace: TopicNamespace
    /// Topics read by this endpoint.
    public var consumes: [Topic]
    /// Topics created at start if missing (those consumed are always included).
    public var creates: [Topic]
    public var membership: Membership
    public var addressing: AddressFilter

    public init(
        name: String, kafka: KafkaConfiguration, namespace: TopicNamespace, consumes: [Topic],
        creates: [Topic] = [], membership: Membership, addressing: AddressFilter
    ) {
        self.name = name
        self.kafka = kafka
        self.namespace = namespace
        self.consumes = consumes
        self.creates = creates
        self.membership = membership
        self.addressing = addressing
    }
}

extension KafkaConfiguration {
    /// An active/standby group must not hand its topics to a member that merely joins (a
    /// standby starting, a controller restarted elsewhere): that would drop the requests the
    /// active member has in flight. The range assignor gives every single-partition topic to
    /// the member whose id sorts first, and brokers build member ids from `client.id`; a
    /// zero-padded start time in the client id makes that the member that has been up longest.
    func keepingOldestMemberActive(startedAt start: Date = Date()) -> KafkaConfiguration {
        var configuration = self
        let milliseconds = Int64(start.timeIntervalSince1970 * 1000)
        configuration.clientID = "\(clientID).\(String(repeating: "0", count: max(0, 15 - String(milliseconds).count)))\(milliseconds)"
        configuration.overrides["partition.assignment.strategy"] = "range"
        return configuration
    }
}

/// A named participant on the bus: publishes envelopes and receives those addressed to it.
///
/// Messages for other targets are skipped (and committed) without copying their payload;
/// a message that does not parse is logged with the path of the problem and skipped: bad input
/// never stops an endpoint.
public final class ManagementEndpoint: MessageBus {
    public let name: String
    public let namespace: TopicNamespace
    /// How the endpoint connects; also used to read state topics.
    public let kafka: KafkaConfiguration
    private let producer: KafkaProducer
    private let consumer: KafkaConsumer
    private let addressing: AddressFilter
    /// For a group member: requests read again after resuming that were answered already.
    private let answeredRequests: AnsweredRequests?
    private let logger: Logger

    /// Creates missing topics, starts the producer and the consumer, and waits until the
    /// consumer reads its partitions, so nothing published after this returns is missed.
    public static func connect(_ configuration: EndpointConfiguration, logger: Logger, assignmentTimeout: Duration = .seconds(30)) async throws -> ManagementEndpoint {
        let namespace = configuration.namespace
        var topics = configuration.consumes
        for topic in configuration.creates where !topics.contains(topic) { topics.append(topic) }
        let producer = try KafkaProducer(configuration: configuration.kafka, logger: logger)
        do {
            try await KafkaAdmin(producer: producer, logger: logger).ensureTopics(topics.map(namespace.specification))
        } catch {
            await producer.shutdown()
            throw error
        }

        let subscription: KafkaConsumer.Subscription
        let kafkaTopics = configuration.consumes.map(namespace.kafkaName)
        var waitsForAssignment = !kafkaTopics.isEmpty
        switch configuration.membership {
        case let .group(id, mayStandBy):
            subscription = .group(id: namespace.groupID(id), topics: kafkaTopics)
            if mayStandBy { waitsForAssignment = false }
        case .fromEnd:
            subscription = .fromEnd(topics: kafkaTopics)
        }
        var consumerConfiguration = configuration.kafka
        if case .group(_, mayStandBy: true) = configuration.membership {
            if let strategy = consumerConfiguration.overrides["partition.assignment.strategy"], strategy != "range" {
                logger.warning("ignoring partition.assignment.strategy=\(strategy): an active/standby group needs the range assignor")
            }
            consumerConfiguration = consumerConfiguration.keepingOldestMemberActive()
        }
        let consumer: KafkaConsumer
        do {
            // Messages for other targets are dropped on the poll thread, by their `target`
            // header, before their payload is copied.
            let addressing = configuration.addressing
            consumer = try await KafkaConsumer(configuration: consumerConfiguration, subscription: subscription, accepting: { head in
                head.header(EnvelopeHeader.target)?.stringValue.map(addressing.accepts(target:)) ?? true
            }, logger: logger)
        } catch {
            await producer.shutdown()
            throw error
        }
        var answeredRequests: AnsweredRequests?
        if case .group = configuration.membership {
            answeredRequests = AnsweredRequests(name: configuration.name, kafka: configuration.kafka, logger: logger)
        }
        let endpoint = ManagementEndpoint(name: configuration.name, namespace: namespace, kafka: configuration.kafka, producer: producer,
                                          consumer: consumer, addressing: configuration.addressing,
                                          answeredRequests: answeredRequests, logger: logger)
        if waitsForAssignment {
            do {
                try await consumer.waitForAssignment(timeout: assignmentTimeout)
            } catch {
                await endpoint.shutdown()
                throw error
            }
        }
        return endpoint
    }

    private init(name: String, namespace: TopicNamespace, kafka: KafkaConfiguration, producer: KafkaProducer, consumer: KafkaConsumer,
                 addressing: AddressFilter, answeredRequests: AnsweredRequests?, logger: Logger) {
        self.name = name
        self.namespace = namespace
        self.kafka = kafka
        self.producer = producer
        self.consumer = consumer
        self.addressing = addressing
        self.answeredRequests = answeredRequests
        self.logger = logger
    }

    /// Publishes `event` on `topic` and waits for the broker to store it.
    public func publish<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?) async throws {
        let envelope = Envelope(event: event, sender: name, target: target)
        try await producer.send(envelope.record(topic: namespace.kafkaName(topic)))
    }

    /// Stores `value` (as its JSON) under `key` in a compacted state topic and waits for the
    /// broker to keep it. Not an event: readers take the latest value per key
    /// (``KafkaTopicSnapshot``).
    public func store<Value: Encodable & Sendable>(_ value: Value, key: String, in topic: Topic) async throws {
        let record = KafkaRecord(
            topic: namespace.kafkaName(topic), key: Data(key.utf8), value: try ZeekJSON.encode(value),
            headers: [KafkaHeader(name: EnvelopeHeader.sender, string: name), KafkaHeader(name: EnvelopeHeader.contentType, string: "application/json")]
        )
        try await producer.send(record)
    }

    /// The latest value of every key of a compacted state topic, read from its beginning.
    public func storedValues(in topic: Topic) async throws -> [String: Data] {
        try await KafkaTopicSnapshot.latestValues(of: namespace.kafkaName(topic), configuration: kafka, logger: logger)
    }

    /// Publishes `event` at once, in order with everything else enqueued from the same task or
    /// actor, without waiting for the broker; a failed delivery is logged.
    ///
    /// For streams of notifications whose order matters more than each acknowledgement
    /// (node output lines, status changes).
    ///
    /// `sender` names another endpoint this one speaks for (a relay publishing for the Zeek
    /// nodes of its host); by default the endpoint's own name.
    public func enqueue<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?, sender: String?) {
        let logger = self.logger
        do {
            let delivery = try producer.enqueue(Envelope(event: event, sender: sender ?? name, target: target).record(topic: namespace.kafkaName(topic)))
            delivery.whenFailed { error in logger.warning("\(Event.eventName) not delivered: \(error)") }
        } catch {
            logger.warning("\(Event.eventName) not published: \(error)")
        }
    }

    /// Envelopes addressed to this endpoint, in arrival order. Ends at ``shutdown()``.
    ///
    /// A group member that resumes reading (a restart, a standby taking over) does not get the
    /// requests it finds already answered under its name (``AnsweredRequests``).
    public var inbound: InboundMessages {
        InboundMessages { [consumer, answeredRequests, logger, name] in
            var messages = consumer.messages.makeAsyncIterator()
            return {
                while let message = await messages.next() {
                    guard let inbound = self.accept(message) else { continue }
                    if let answeredRequests, await answeredRequests.wasAnswered(inbound) {
                        // On Supervisor.API agent and supervisor share the instance name: an
                        // agent finds its own requests answered, which is no news.
                        logger.log(level: inbound.head.sender == name ? .debug : .info,
                                   "not answering \(inbound.event) \(inbound.reqid ?? "") from \(inbound.head.sender) again: it was answered before this endpoint resumed reading \(message.topic)")
                        consumer.commit(message)
                        continue
                    }
                    return inbound
                }
                return nil
            }
        }
    }

    /// Whether the endpoint reads partitions, at every change: for a group member that may
    /// stand by, true means it is the active one.
    public var assignmentChanges: BusSequence<Bool> {
        BusSequence { [consumer] in
            var changes = consumer.assignmentChanges.makeAsyncIterator()
            return { await changes.next().map { !$0.isEmpty } }
        }
    }

    /// Marks a message handled, so the endpoint's group resumes after it.
    public func handled(_ message: InboundMessage) {
        consumer.commit(message.kafkaMessage)
    }

    /// Stops consuming (committing what was handled) and flushes what is being published.
    public func shutdown() async {
        await consumer.shutdown()
        await producer.shutdown()
    }

    /// Turns a raw record into an inbound message for this endpoint, or nil to skip it. The
    /// consumer already dropped those whose `target` header names another endpoint; the
    /// envelope's own `target` decides for records without the header.
    private func accept(_ message: KafkaMessage) -> InboundMessage? {
        let head: EnvelopeHead
        do {
            head = try EnvelopeHead.parse(message.value)
        } catch {
            logger.warning("skipping malformed message on \(message.topic) at offset \(message.offset): \(error)",
                           metadata: ["sender": "\(message.header(EnvelopeHeader.sender)?.stringValue ?? "-")"])
            consumer.commit(message)
            return nil
        }
        guard addressing.accepts(target: head.target), let topic = namespace.topic(forKafkaName: message.topic) else {
            consumer.skip(message)
            return nil
        }
        return InboundMessage(head: head, topic: topic, kafkaMessage: message)
    }
}

