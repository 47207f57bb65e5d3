#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One header of a record on the bus. Values are raw bytes; `nil` is a header without a value.
public struct WireHeader: Sendable, Hashable {
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

/// A record as a bus carried it, whatever the bus (Kafka, or the in-memory one of the tests):
/// what a signature covers (topic, key, value), the headers that travel beside it, and where
/// the bus keeps it, so that the bus can mark it handled.
///
/// The contract is stated in these terms so that reading, verifying and answering messages
/// never depends on a transport.
public struct WireRecord: Sendable, Hashable {
    /// The topic name as written, with the deployment's prefix.
    public var topic: String
    /// The partition the bus stored it in (0 for a bus without partitions).
    public var partition: Int32
    /// Its position in that partition.
    public var offset: Int64
    public var key: Data?
    public var value: Data
    public var headers: [WireHeader]

    public init(topic: String, partition: Int32 = 0, offset: Int64 = 0, key: Data?, value: Data, headers: [WireHeader]) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
    }

    /// The first header called `name`.
    public func header(_ name: String) -> WireHeader? {
        headers.first { $0.name == name }
    }
}
