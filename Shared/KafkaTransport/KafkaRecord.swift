#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A Kafka record header. Values are raw bytes; `nil` is a header without a value.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: Data?

    public init(name: String, value: Data?) {
        self.name = name
        self.value = value
    }

    public init(name: String, string: String) {
        self.init(name: name, value: Data(string.utf8))
    }

    public var stringValue: String? { value.flatMap { String(data: $0, encoding: .utf8) } }
}

/// A record to produce.
public struct KafkaRecord: Sendable {
    public var topic: String
    public var key: Data?
    public var value: Data
    public var headers: [KafkaHeader]
    /// The partition to write to; nil lets the client's partitioner choose from the key
    /// (``Murmur2Partitioner``, as Kafka's Java client).
    public var partition: Int32?

    public init(topic: String, key: Data? = nil, value: Data, headers: [KafkaHeader] = [], partition: Int32? = nil) {
        self.topic = topic
        self.key = key
        self.value = value
        self.headers = headers
        self.partition = partition
    }
}

/// Where the broker stored a produced record.
public struct KafkaDeliveryReport: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
}

/// A consumed record.
public struct KafkaMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: Data?
    public var value: Data
    public var headers: [KafkaHeader]
    /// The record's timestamp (producer create time or broker append time), if it has one.
    public var timestamp: Date?

    public init(topic: String, partition: Int32, offset: Int64, key: Data?, value: Data, headers: [KafkaHeader], timestamp: Date?) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    public func header(_ name: String) -> KafkaHeader? { headers.first { $0.name == name } }
}
