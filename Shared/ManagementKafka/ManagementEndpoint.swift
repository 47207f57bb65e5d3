#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KafkaTransport
import ManagementMessaging
import AsyncAlgorithms
import Logging
import ManagementTypes
import MessageSigning

/// How an endpoint joins the conversation.
public struct EndpointConfiguration: Sendable {
    public enum Membership: Sendable {
        /// Consumer group `id` (unprefixed): resumes from the offsets committed under it.
        ///
        /// With `mayStandBy` (the controller), several processes share the group and the one
        /// the group gives the topics to is active: it joins the group, and connecting does not
        /// wait for partitions, since it may be a standby that reads nothing until the active
        /// member goes (see ``ManagementEndpoint/assignmentChanges``). Without, the endpoint
        /// is its group's only member (an agent, a supervisor): it reads its partitions
        /// directly, with no join to wait for, and commits under the group id.
        case group(id: String, mayStandBy: Bool = false)
        /// No group: starts at the current end of each partition, ready in milliseconds.
        case fromEnd
    }

    /// The endpoint's name, sent as `sender`.
    public var name: String
    public var kafka: KafkaConfiguration
    public var namespace: TopicNamespace
    /// What this endpoint reads, under its membership.
    public var consumes: [TopicReading]
    /// What it also reads from the end, outside its group: for an active/standby group, the
    /// partitioned topics, which a group would share out among its members.
    public var follows: [TopicReading]
    /// Topics created at start if missing (those read are always included).
    public var creates: [Topic]
    public var membership: Membership
    public var addressing: AddressFilter
    /// How it signs what it writes and whom it believes.
    public var security: MessageSecurity
    /// How far back a group member starts in a partition its group never read: requests still
    /// within a deadline are answered, older history is not read.
    public var lookback: Duration
    /// Set: before anything else, one of the bootstrap brokers must accept a TCP connection
    /// within this time, else connecting fails at once (``BrokerReachability``). A command-line
    /// client wants one quick line when no broker is there; a service waits and retries.
    public var unreachableAfter: Duration?
    /// What tells a record's age: the freshness of signed records, the horizon of requests
    /// looked up as answered.
    public var clock: any ManagementClock

    public init(
        name: String, kafka: KafkaConfiguration, namespace: TopicNamespace, consumes: [TopicReading], follows: [TopicReading] = [],
        creates: [Topic] = [], membership: Membership, addressing: AddressFilter, security: MessageSecurity, lookback: Duration = .seconds(120),
        unreachableAfter: Duration? = nil, clock: any ManagementClock = SystemClock()
    ) {
        self.unreachableAfter = unreachableAfter
        self.clock = clock
        self.name = name
        self.kafka = kafka
        self.namespace = namespace
        self.consumes = consumes
        self.follows = follows
        self.creates = creates
        self.membership = membership
        self.addressing = addressing
        self.security = security
        self.lookback = lookback
    }

    /// The endpoint of a service that takes part in the bus as `participation` declares.
    public init(name: String, kafka: KafkaConfiguration, namespace: TopicNamespace, participating participation: BusParticipation,
                security: MessageSecurity) {
        self.init(name: name, kafka: kafka, namespace: namespace, consumes: participation.consumes, follows: participation.follows,
                  creates: participation.creates, membership: .group(id: participation.group, mayStandBy: participation.mayStandBy),
                  addressing: participation.addressing, security: security)
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
///
/// On a partitioned topic (``Topic/isPartitioned``) a record goes to the partition of its key
/// (its target, else its sender); an untargeted request is a broadcast and is written once to
/// every partition, so that each reader of one partition gets it.
public final class ManagementEndpoint: MessageBus {
    public let name: String
    public let namespace: TopicNamespace
    /// How the endpoint connects; also used to read state topics.
    public let kafka: KafkaConfiguration
    private let producer: KafkaProducer
    /// The consumer of ``EndpointConfiguration/consumes``, then that of
    /// ``EndpointConfiguration/follows`` if any.
    private let consumers: [KafkaConsumer]
    /// Which consumer reads a Kafka topic, to commit a message where it was read.
    private let consumerOfTopic: [String: KafkaConsumer]
    /// The partitioned Kafka topics read whole, where every copy of a broadcast arrives.
    private let topicsReadWhole: Set<String>
    private let addressing: AddressFilter
    /// Signs what is sent and verifies what is received; nil for an unsigned endpoint.
    private let messageGuard: MessageGuard?
    /// For a group member: requests read again after resuming that were answered already.
    private let answeredRequests: AnsweredRequests?
    /// The Kafka topics of ``EndpointConfiguration/consumes``: where a group member resumes
    /// from its committed position. Followed topics are read from their end, so nothing read
    /// there can have been answered before.
    private let consumedTopics: Set<String>
    private let logger: Logger

    /// Creates missing topics, starts the producer and the consumers, and waits until the
    /// consumers read their partitions, so nothing published after this returns is missed.
    public static func connect(_ configuration: EndpointConfiguration, logger: Logger, assignmentTimeout: Duration = .seconds(30)) async throws -> ManagementEndpoint {
        let namespace = configuration.namespace
        var topics = (configuration.consumes + configuration.follows).map(\.topic)
        for topic in configuration.creates where !topics.contains(topic) { topics.append(topic) }
        if let limit = configuration.unreachableAfter {
            try await BrokerReachability.requireOne(of: configuration.kafka.bootstrapServers, within: limit)
        }
        let producer = try KafkaProducer(configuration: configuration.kafka, logger: logger)
        do {
            try await KafkaAdmin(producer: producer, logger: logger).ensureTopics(topics.map(namespace.specification))
            // Known before the first broadcast, which ``enqueue`` cannot wait for.
            for topic in topics where topic.isPartitioned { _ = try await producer.partitionCount(of: namespace.kafkaName(topic)) }
        } catch {
            await producer.shutdown()
            throw error
        }

        let selections = { (readings: [TopicReading]) in
            readings.map { PartitionSelection(topic: namespace.kafkaName($0.topic), key: $0.topic.isPartitioned ? $0.key : nil) }
        }
        var subscriptions: [KafkaConsumer.Subscription] = []
        var consumerConfiguration = configuration.kafka
        var waitsForAssignment = false
        switch configuration.membership {
        case let .group(id, true):
            if let keyed = configuration.consumes.first(where: { $0.key != nil && $0.topic.isPartitioned }) {
                logger.warning("reading all of \(keyed.topic): members of a group that may stand by share its partitions out, they cannot pick one")
            }
            if let strategy = consumerConfiguration.overrides["partition.assignment.strategy"], strategy != "range" {
                logger.warning("ignoring partition.assignment.strategy=\(strategy): an active/standby group needs the range assignor")
            }
            consumerConfiguration = consumerConfiguration.keepingOldestMemberActive()
            subscriptions.append(.group(id: namespace.groupID(id), topics: configuration.consumes.map { namespace.kafkaName($0.topic) },
                                        start: .recent(configuration.lookback)))
        case let .group(id, false):
            subscriptions.append(.assigned(selections(configuration.consumes), committedIn: namespace.groupID(id), lookback: configuration.lookback))
            waitsForAssignment = true
        case .fromEnd:
            subscriptions.append(.assigned(selections(configuration.consumes), committedIn: nil))
            waitsForAssignment = true
        }
        if !configuration.follows.isEmpty {
            subscriptions.append(.assigned(selections(configuration.follows), committedIn: nil))
        }
        var consumers: [KafkaConsumer] = []
        do {
            // Messages for other targets are dropped on the poll thread, by their `target`
            // header, before their payload is copied.
            let addressing = configuration.addressing
            for subscription in subscriptions {
                let ownKeys = ownNotificationKeys(of: subscription, in: namespace)
                consumers.append(try await KafkaConsumer(configuration: consumerConfiguration, subscription: subscription, accepting: { head in
                    if !ownKeys.isEmpty, let key = ownKeys[head.topic], !head.hasKey(key) { return false }
                    return head.header(EnvelopeHeader.target)?.stringValue.map(addressing.accepts(target:)) ?? true
                }, logger: logger))
            }
        } catch {
            for consumer in consumers { await consumer.shutdown() }
            await producer.shutdown()
            throw error
        }
        var answeredRequests: AnsweredRequests?
        if case .group = configuration.membership {
            answeredRequests = AnsweredRequests(name: configuration.name, kafka: configuration.kafka, clock: configuration.clock, logger: logger) { request in
                let topic = namespace.kafkaName(request.replyTopic)
                guard let partitions = try? await producer.partitionCount(of: topic) else { return nil }
                return TopicPartition(topic: topic, partition: Murmur2Partitioner.partition(of: request.head.sender, among: partitions))
            }
        }
        let endpoint = ManagementEndpoint(name: configuration.name, namespace: namespace, kafka: configuration.kafka, producer: producer,
                                          consumers: consumers, readings: [configuration.consumes, configuration.follows],
                                          addressing: configuration.addressing, messageGuard: configuration.security.makeGuard(clock: configuration.clock, logger: logger),
                                          answeredRequests: answeredRequests, logger: logger)
        if waitsForAssignment, !configuration.consumes.isEmpty, let consumer = consumers.first {
            do {
                try await consumer.waitForAssignment(timeout: assignmentTimeout)
            } catch {
                await endpoint.shutdown()
                throw error
            }
        }
        return endpoint
    }

    /// The `.notify` topics `subscription` reads one partition of, each with the key it
    /// selects that partition by (its host's instance).
    ///
    /// Hosts share partitions, and a host's notifications are keyed by the host (the target,
    /// else the sender) but carry no target when meant for anyone. Without this, an agent
    /// would read, verify and refuse, with a warning each, every notification of the other
    /// hosts' supervisors in its partition. A record keyed by another name is another host's
    /// and is skipped unread, as one addressed to another target is. Readers of the whole
    /// topic (the controller, a monitoring system) see every record as before.
    private static func ownNotificationKeys(of subscription: KafkaConsumer.Subscription, in namespace: TopicNamespace) -> [String: Data] {
        guard case .assigned(let selections, _, _) = subscription else { return [:] }
        return Dictionary(selections.compactMap { selection in
            guard let key = selection.key, namespace.topic(forKafkaName: selection.topic)?.isNotify == true else { return nil }
            return (selection.topic, Data(key.utf8))
        }, uniquingKeysWith: { first, _ in first })
    }

    private init(name: String, namespace: TopicNamespace, kafka: KafkaConfiguration, producer: KafkaProducer, consumers: [KafkaConsumer],
                 readings: [[TopicReading]], addressing: AddressFilter, messageGuard: MessageGuard?, answeredRequests: AnsweredRequests?, logger: Logger) {
        self.name = name
        self.namespace = namespace
        self.kafka = kafka
        self.producer = producer
        self.consumers = consumers
        var consumerOfTopic: [String: KafkaConsumer] = [:]
        for (consumer, topics) in zip(consumers, readings) {
            for reading in topics { consumerOfTopic[namespace.kafkaName(reading.topic)] = consumer }
        }
        self.consumerOfTopic = consumerOfTopic
        consumedTopics = Set((readings.first ?? []).map { namespace.kafkaName($0.topic) })
        topicsReadWhole = Set(readings.joined().filter { $0.key == nil && $0.topic.isPartitioned }.map { namespace.kafkaName($0.topic) })
        self.addressing = addressing
        self.messageGuard = messageGuard
        self.answeredRequests = answeredRequests
        self.logger = logger
    }

    /// Hands `envelope` to the producer for `topic`: one record, or one per partition for a
    /// broadcast (an untargeted request on a partitioned topic), sharing one copy of the value.
    private func enqueue<Event: ManagementEvent>(_ envelope: Envelope<Event>, on topic: Topic) throws -> [KafkaDelivery] {
        let kafkaTopic = namespace.kafkaName(topic)
        var record = try envelope.kafkaRecord(topic: kafkaTopic)
        sign(&record)
        let size = record.value.count + (record.key?.count ?? 0) + record.headers.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) }
        guard size <= kafka.maximumMessageSize else {
            throw EnvelopeTooLarge(event: Event.eventName, size: size, limit: kafka.maximumMessageSize)
        }
        guard envelope.target == nil, topic.isPartitioned, !topic.isNotify,
              let partitions = producer.knownPartitionCount(of: kafkaTopic), partitions > 1 else { return [try producer.enqueue(record)] }
        return try producer.enqueue(record, toEachOf: (0..<Int32(partitions)).map { $0 })
    }

    /// Publishes `event` on `topic` and waits for the broker to store it.
    public func publish<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?, replyTo: Topic?) async throws {
        let deliveries = try enqueue(Envelope(event: event, sender: name, target: target, replyTo: replyTo), on: topic)
        for delivery in deliveries { _ = try await delivery.report() }
    }

    /// Stores `value` (as its JSON) under `key` in a compacted state topic and waits for the
    /// broker to keep it. Not an event: readers take the latest value per key
    /// (``KafkaTopicSnapshot``).
    public func store<Value: Encodable & Sendable>(_ value: Value, key: String, in topic: Topic) async throws {
        var record = KafkaRecord(
            topic: namespace.kafkaName(topic), key: Data(key.utf8), value: try ZeekJSON.encode(value),
            headers: [KafkaHeader(name: EnvelopeHeader.sender, string: name), KafkaHeader(name: EnvelopeHeader.contentType, string: "application/json")]
        )
        sign(&record)
        try await producer.send(record)
    }

    /// Adds the signature headers to a record, on a signed endpoint.
    private func sign(_ record: inout KafkaRecord) {
        guard let messageGuard else { return }
        record.headers += messageGuard.sign(record.value, topic: record.topic, key: record.key ?? Data()).map(KafkaHeader.init)
    }

    /// The latest value of every key of a compacted state topic, read from its beginning; on a
    /// signed endpoint, a key whose latest record is not signed by whom the policy admits for
    /// `topic` is left out (and logged).
    public func storedValues(in topic: Topic) async throws -> [String: Data] {
        let records = try await KafkaTopicSnapshot.records(of: namespace.kafkaName(topic), configuration: kafka, logger: logger)
        return MessageGuard.latestValues(of: records.map(WireRecord.init), on: topic, admittedBy: messageGuard)
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
            for delivery in try enqueue(Envelope(event: event, sender: sender ?? name, target: target), on: topic) {
                delivery.whenFailed { error in logger.warning("\(Event.eventName) not delivered: \(error)") }
            }
        } catch {
            logger.warning("\(Event.eventName) not published: \(error)")
        }
    }

    /// Envelopes addressed to this endpoint, in arrival order. Ends at ``shutdown()``.
    ///
    /// A group member that resumes reading (a restart, a standby taking over) does not get the
    /// requests it finds already answered under its name (``AnsweredRequests``).
    public var inbound: InboundMessages {
        InboundMessages { [consumers, answeredRequests, consumedTopics, logger, name] in
            let nextBatch = Self.batches(of: consumers)
            var ready: [InboundMessage] = []
            var readyIndex = 0
            return {
                while true {
                    if readyIndex == ready.count {
                        guard let batch = await nextBatch() else { return nil }
                        ready = await self.acceptAll(batch)
                        readyIndex = 0
                        continue
                    }
                    let inbound = ready[readyIndex]
                    readyIndex += 1
                    // Only where reading resumed: a look-ahead holds up every message behind it
                    // (up to its 10 s timeout), such as the answers the controller is waiting for.
                    if let answeredRequests, consumedTopics.contains(inbound.record.topic), await answeredRequests.wasAnswered(inbound) {
                        // On Supervisor.API agent and supervisor share the instance name: an
                        // agent finds its own requests answered, which is no news.
                        logger.log(level: inbound.head.sender == name ? .debug : .info,
                                   "not answering \(inbound.event) \(inbound.reqid ?? "") from \(inbound.head.sender) again: it was answered before this endpoint resumed reading \(inbound.record.topic)")
                        self.commit(inbound.record)
                        continue
                    }
                    return inbound
                }
            }
        }
    }

    /// The records that arrive together, read as one run: a burst (a thousand answers to one
    /// broadcast) is parsed and verified on every core rather than one record after another.
    static let batchLimit = 512

    /// Below this many records a run is accepted on the reader's own thread: handing work to
    /// other threads costs more than a few signature checks.
    static let parallelThreshold = 8

    /// The cores a run is split across, read once.
    static let cores = ProcessInfo.processInfo.activeProcessorCount

    /// ``accept(_:)`` for each record of `batch`, in order: runs of a few records on the
    /// calling task, longer ones split across the cores. Verification has no order of its own
    /// to keep (the replay window and the rejection log are locked), and the messages come
    /// back in the order they were read.
    private func acceptAll(_ batch: [KafkaMessage]) async -> [InboundMessage] {
        let cores = Self.cores
        guard batch.count >= Self.parallelThreshold, cores > 1 else { return batch.compactMap(accept) }
        let chunkSize = (batch.count + cores - 1) / cores
        let chunks = stride(from: 0, to: batch.count, by: chunkSize).map { $0..<min($0 + chunkSize, batch.count) }
        var accepted = [[InboundMessage]](repeating: [], count: chunks.count)
        await withTaskGroup(of: (Int, [InboundMessage]).self) { group in
            for (index, range) in chunks.enumerated() {
                let records = Array(batch[range])
                group.addTask { (index, records.compactMap(self.accept)) }
            }
            for await (index, messages) in group { accepted[index] = messages }
        }
        return Array(accepted.joined())
    }

    /// Whether the endpoint reads partitions, at every change: for a group member that may
    /// stand by, true means it is the active one.
    public var assignmentChanges: BusSequence<Bool> {
        BusSequence { [consumers] in
            var changes = consumers[0].assignmentChanges.makeAsyncIterator()
            return { await changes.next().map { !$0.isEmpty } }
        }
    }

    /// Marks a message handled, so the endpoint's group resumes after it.
    public func handled(_ message: InboundMessage) {
        commit(message.record)
    }

    /// Stops consuming (committing what was handled) and flushes what is being published.
    public func shutdown() async {
        for consumer in consumers { await consumer.shutdown() }
        await producer.shutdown()
    }

    /// The records each consumer has waiting, a run at a time, from whichever consumer has
    /// some first; nil once all have ended.
    private static func batches(of consumers: [KafkaConsumer]) -> () async -> [KafkaMessage]? {
        if consumers.count == 1 {
            var batches = consumers[0].messages.batches(limit: batchLimit).makeAsyncIterator()
            return { await batches.next() }
        }
        var batches = merge(consumers[0].messages.batches(limit: batchLimit), consumers[1].messages.batches(limit: batchLimit)).makeAsyncIterator()
        return { await batches.next() }
    }

    private func commit(_ message: KafkaMessage) {
        consumerOfTopic[message.topic]?.commit(message)
    }

    /// Marks the record an inbound message came in handled, by where it was.
    private func commit(_ record: WireRecord) {
        consumerOfTopic[record.topic]?.commit(TopicPartition(topic: record.topic, partition: record.partition), offset: record.offset)
    }

    /// Whether `message` is one of the copies of a broadcast that a reader of several
    /// partitions gets besides the one it keeps: the copy in the partition of its key (the
    /// sender), where the record would be without the broadcast.
    private func isBroadcastCopy(_ message: KafkaMessage, head: EnvelopeHead, on topic: Topic) -> Bool {
        guard head.target == nil, topic.isPartitioned, !topic.isNotify, topicsReadWhole.contains(message.topic),
              let partitions = producer.knownPartitionCount(of: message.topic), partitions > 1 else { return false }
        return message.partition != Murmur2Partitioner.partition(of: head.sender, among: partitions)
    }

    /// Turns a raw record into an inbound message for this endpoint, or nil to skip it. The
    /// consumer already dropped those whose `target` header names another endpoint; the
    /// envelope's own `target` decides for records without the header.
    private func accept(_ message: KafkaMessage) -> InboundMessage? {
        guard let topic = namespace.topic(forKafkaName: message.topic) else {
            consumerOfTopic[message.topic]?.skip(message)
            return nil
        }
        let inbound: InboundMessage
        do {
            inbound = try InboundMessage(parsing: message, on: topic, maximumSize: kafka.maximumMessageSize)
        } catch {
            logger.warning("skipping malformed message on \(message.topic) at offset \(message.offset): \(error)",
                           metadata: ["sender": "\(message.header(EnvelopeHeader.sender)?.stringValue ?? "-")"])
            commit(message)
            return nil
        }
        guard addressing.accepts(target: inbound.head.target), !isBroadcastCopy(message, head: inbound.head, on: topic) else {
            consumerOfTopic[message.topic]?.skip(message)
            return nil
        }
        // Verified only once it is known to be for this endpoint: others' traffic costs no signature check.
        guard let messageGuard else { return inbound }
        switch messageGuard.admit(inbound) {
        case .success(let admitted):
            return admitted
        case .failure:
            commit(message)
            return nil
        }
    }
}

