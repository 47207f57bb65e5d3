import Foundation
@testable import KafkaTransport
import LocalServers
import Testing

/// One record to many partitions, as a broadcast is sent: the producer keeps a single copy of
/// the value, which librdkafka reads in place until the last delivery.
@Suite("Producing to every partition", .timeLimit(.minutes(2)))
struct BroadcastProduceTests {
    @Test func oneValueToEveryPartitionArrivesIntactInEachAndIsLetGoOnceDelivered() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "wide", partitions: 8)])
        let consumer = try await KafkaConsumer(configuration: config, subscription: .assigned([.all("wide")], committedIn: nil), logger: testLogger)
        let producer = try KafkaProducer(configuration: config, logger: testLogger)

        // Larger than a consumer's 1 MiB prefetch, as a 1,000-agent configuration is.
        let value = Data((0..<2_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let deliveries = try producer.enqueue(KafkaRecord(topic: "wide", key: Data("k".utf8), value: value), toEachOf: (0..<8).map { $0 })
        var partitions: Set<Int32> = []
        for delivery in deliveries { partitions.insert(try await delivery.report().partition) }
        #expect(partitions == Set(0..<8))
        #expect(deliveries.allSatisfy { !$0.holdsValue }, "the shared value is let go once every copy is delivered")

        let messages = try await first(8, of: consumer.messages)
        #expect(Set(messages.map(\.partition)) == Set(0..<8))
        #expect(messages.allSatisfy { $0.value == value && $0.key == Data("k".utf8) })

        await consumer.shutdown()
        await producer.shutdown()
    }
}
