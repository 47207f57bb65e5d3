import KafkaTransport
import ManagementKafka
import ManagementMessaging
import Testing

/// The partition of a key is part of the wire contract: another Kafka client reading one
/// host's partition, or writing to it, must reach the same one.
@Suite("Partitioning")
struct PartitioningTests {
    /// Apache Kafka's own test vectors for `Utils.murmur2` (signed Java ints).
    @Test(arguments: [
        ("21", -973_932_308),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        ("abc", 479_470_107),
    ])
    func murmur2MatchesKafkasJavaClient(key: String, javaHash: Int) {
        #expect(Int32(bitPattern: Murmur2Partitioner.murmur2(Array(key.utf8))) == Int32(javaHash))
    }

    /// Where librdkafka's `murmur2_random` partitioner put these keys on a real broker.
    @Test(arguments: [
        ("host-1", 16, 13), ("host-2", 16, 11), ("controller", 16, 12), ("agent-a", 16, 14),
        ("host-1", 64, 29), ("host-2", 64, 27), ("controller", 64, 28), ("agent-a", 64, 46),
    ])
    func partitionOfAKeyIsWhereKafkaClientsPutIt(key: String, partitions: Int, expected: Int32) {
        #expect(Murmur2Partitioner.partition(of: key, among: partitions) == expected)
    }

    @Test func onePartitionTakesEveryKey() {
        #expect(["a", "b", "", "controller"].allSatisfy { Murmur2Partitioner.partition(of: $0, among: 1) == 0 })
    }

    @Test func perHostTopicsArePartitionedAndTheControllersAreNot() {
        let partitioned: [Topic] = [.agentAPI, .agentAPI.notify, .nodeAPI, .nodeAPI.notify, .supervisorAPI, .supervisorAPI.notify,
                                    .legacyAgentAPI, .legacyAgentAPI.notify]
        #expect(partitioned.allSatisfy { $0.isPartitioned })
        let single: [Topic] = [.controllerAPI, .controllerAPI.notify, .legacyControllerAPI, .legacyControllerAPI.notify, .controllerState]
        #expect(!single.contains { $0.isPartitioned })
        let namespace = TopicNamespace(prefix: "site-a.", partitions: 32)
        #expect(namespace.specification(.agentAPI).partitions == 32)
        #expect(namespace.specification(.controllerAPI).partitions == 1)
        #expect(namespace.specification(.controllerState).config == ["cleanup.policy": "compact"])
    }
}
