import CRdKafka
@testable import KafkaTransport
import Logging
import Testing

/// How a rebalance is applied for each answer `rd_kafka_rebalance_protocol` can give,
/// including none: it returns NULL when it cannot say, and the rebalance callback must not trap.
@Suite("Rebalance protocol")
struct RebalanceProtocolTests {
    @Test func noAnswerIsTakenAsEager() {
        #expect(RebalanceState.isCooperative(protocol: nil) == false)
    }

    @Test func onlyCooperativeIsAppliedIncrementally() {
        #expect("COOPERATIVE".withCString { RebalanceState.isCooperative(protocol: $0) })
        for name in ["EAGER", "NONE", ""] {
            #expect(!name.withCString { RebalanceState.isCooperative(protocol: $0) }, "\(name)")
        }
    }

    /// NULL is not hypothetical: a consumer handle without a group gets it. A rebalance applied
    /// on such a handle revokes eagerly (the whole assignment) instead of trapping.
    @Test func aRebalanceOnAHandleThatNamesNoProtocolIsAppliedEagerly() throws {
        let client = try RdKafkaClient(kind: .consumer, properties: [("bootstrap.servers", "127.0.0.1:9")],
                                       context: ClientContext(logger: Self.quiet))
        defer { client.close() }
        let partition = TopicPartition(topic: "t", partition: 0)
        let state = RebalanceState()
        state.replace(with: [partition])
        try client.withHandle { handle in
            #expect(rd_kafka_rebalance_protocol(handle) == nil)
            let list = try #require(rd_kafka_topic_partition_list_new(1))
            defer { rd_kafka_topic_partition_list_destroy(list) }
            rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)
            state.handle(handle: handle, event: RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS, partitions: list, continuity: nil,
                         logger: Self.quiet)
        }
        #expect(state.assignment.isEmpty)
    }

    /// No broker listens at the address given: its connection failures are expected.
    private static let quiet = Logger(label: "rebalance-protocol") { _ in SwiftLogNoOpLogHandler() }
}
