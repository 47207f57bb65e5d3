#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KafkaTransport
import ManagementMessaging
import ManagementTypes
import MessageSigning

// How the contract's records, headers and topics are written as Kafka's: the one place
// where the contract meets the transport.

extension WireHeader {
    public init(_ header: KafkaHeader) {
        self.init(name: header.name, value: header.value)
    }
}

extension KafkaHeader {
    public init(_ header: WireHeader) {
        self.init(name: header.name, value: header.value)
    }
}

extension WireRecord {
    /// A consumed record, as the contract reads it.
    public init(_ message: KafkaMessage) {
        self.init(topic: message.topic, partition: message.partition, offset: message.offset, key: message.key, value: message.value,
                  headers: message.headers.map(WireHeader.init))
    }
}

extension KafkaRecord {
    /// A record to produce, written where the partitioner puts its key.
    public init(_ record: WireRecord) {
        self.init(topic: record.topic, key: record.key, value: record.value, headers: record.headers.map(KafkaHeader.init))
    }
}

extension InboundMessage {
    /// Parses a consumed Kafka record of `topic` (see ``InboundMessage/init(parsing:on:maximumSize:)``).
    public init(parsing message: KafkaMessage, on topic: Topic, maximumSize: Int = EnvelopeHead.maximumSize) throws(WireDecodingError) {
        try self.init(parsing: WireRecord(message), on: topic, maximumSize: maximumSize)
    }
}

extension Envelope {
    /// The Kafka record that carries the envelope on `topic`, unsigned (see ``Envelope/record(topic:)``).
    public func kafkaRecord(topic: String) throws -> KafkaRecord {
        KafkaRecord(try record(topic: topic))
    }
}

extension SignedRecord {
    /// The `signer` and `signature` headers that carry this signature on a Kafka record.
    public var kafkaHeaders: [KafkaHeader] { headers.map(KafkaHeader.init) }
}

extension TopicNamespace {
    /// How `topic` is created when missing: partitioned topics with ``partitions`` partitions,
    /// the others with one, so that per-topic order between two endpoints holds; the state
    /// topic is compacted, keeping the last value per key.
    public func specification(_ topic: Topic) -> TopicSpecification {
        TopicSpecification(
            name: kafkaName(topic),
            partitions: topic.isPartitioned ? Int32(partitions) : 1,
            config: topic == .controllerState ? ["cleanup.policy": "compact"] : [:]
        )
    }
}
