import CRdKafka
import Foundation
import KafkaTransport
import ManagementKafka
import ManagementMessaging
import Synchronization

/// get-nodes' shape written directly against librdkafka's C API: a client asks a relay, the
/// relay broadcasts one request to every partition of a partitioned topic, each responder reads
/// its own partition and answers on the relay's, and once all answered the relay answers the
/// client. The same hops, topics, partition counts and librdkafka properties as the
/// controller's get-nodes through its agents, without any of the project's code: the floor the
/// controller is measured against.
struct BareRelay {
    let configuration: KafkaConfiguration
    /// Where client and relay talk: one partition, as `Management.Controller.API`.
    let clientTopic: String
    /// Where relay and responders talk: `partitions` partitions, as `Management.Agent.API`.
    let agentTopic: String
    let partitions: Int
    let responders: Int

    /// The topics of one measurement, to be created before it.
    static func topics(partitions: Int) -> [TopicSpecification] {
        let suffix = UUID().uuidString.prefix(8)
        return [TopicSpecification(name: "bench-relay-client-\(suffix)"), TopicSpecification(name: "bench-relay-agents-\(suffix)", partitions: Int32(partitions))]
    }

    func measure(rounds: Int, warmup: Int) throws -> [Duration] {
        let relayPartition = Murmur2Partitioner.partition(of: "relay", among: partitions)
        var handles: [(pointer: OpaquePointer, isConsumer: Bool)] = []
        func make(_ type: rd_kafka_type_t) throws -> OpaquePointer {
            let role = type == RD_KAFKA_PRODUCER ? KafkaConfiguration.Tuning.producer
                : KafkaConfiguration.Tuning.consumer + KafkaConfiguration.Tuning.standalone(groupID: "bare-relay-\(UUID())")
            let handle = try BareKafka.handle(type, properties: configuration.properties(role: role))
            handles.append((handle, type == RD_KAFKA_CONSUMER))
            return handle
        }
        defer { handles.reversed().forEach { BareKafka.close($0.pointer, isConsumer: $0.isConsumer) } }

        let client = (producer: try make(RD_KAFKA_PRODUCER), consumer: try make(RD_KAFKA_CONSUMER))
        let relay = (producer: try make(RD_KAFKA_PRODUCER), requests: try make(RD_KAFKA_CONSUMER), answers: try make(RD_KAFKA_CONSUMER))
        try BareKafka.assignAtEnd(client.consumer, topic: clientTopic, partitions: [0])
        try BareKafka.assignAtEnd(relay.requests, topic: clientTopic, partitions: [0])
        try BareKafka.assignAtEnd(relay.answers, topic: agentTopic, partitions: [relayPartition])
        var responderHandles: [(name: String, producer: OpaquePointer, consumer: OpaquePointer)] = []
        for index in 1...responders {
            let name = "bench-\(index)"
            let consumer = try make(RD_KAFKA_CONSUMER)
            try BareKafka.assignAtEnd(consumer, topic: agentTopic, partitions: [Murmur2Partitioner.partition(of: name, among: partitions)])
            responderHandles.append((name, try make(RD_KAFKA_PRODUCER), consumer))
        }

        let stop = Atomic<Bool>(false)
        var threads: [Thread] = []
        let finished = DispatchSemaphore(value: 0)
        func spawn(_ body: @escaping @Sendable () -> Void) {
            let thread = Thread {
                defer { finished.signal() }
                body()
            }
            threads.append(thread)
            thread.start()
        }
        // Relay, client side: every "ping:<n>" becomes "req:<n>" on every agent partition.
        let relayHandles = RelayHandles(relay.producer, relay.requests, relay.answers)
        let partitionCount = Int32(partitions)
        spawn {
            while !stop.load(ordering: .relaxed) {
                guard let text = BareKafka.poll(relayHandles.b, milliseconds: 50), text.hasPrefix("ping:") else { continue }
                for partition in 0..<partitionCount {
                    BareKafka.produce(relayHandles.a, topic: agentTopic, partition: partition, key: "relay", payload: "req:" + text.dropFirst(5))
                }
            }
        }
        // Relay, agent side: once every responder answered "resp:<n>:<name>", "pong:<n>".
        let expected = responders
        spawn {
            var answers: [Substring: Int] = [:]
            while !stop.load(ordering: .relaxed) {
                guard let text = BareKafka.poll(relayHandles.c, milliseconds: 50), text.hasPrefix("resp:") else { continue }
                let round = text.dropFirst(5).prefix { $0 != ":" }
                answers[round, default: 0] += 1
                if answers[round] == expected {
                    answers[round] = nil
                    BareKafka.produce(relayHandles.a, topic: clientTopic, partition: 0, key: "client", payload: "pong:" + round)
                }
            }
        }
        for responder in responderHandles {
            let handles = RelayHandles(responder.producer, responder.consumer, responder.consumer)
            let name = responder.name
            spawn {
                while !stop.load(ordering: .relaxed) {
                    guard let text = BareKafka.poll(handles.b, milliseconds: 50), text.hasPrefix("req:") else { continue }
                    BareKafka.produce(handles.a, topic: agentTopic, partition: relayPartition, key: "relay", payload: "resp:" + text.dropFirst(4) + ":" + name)
                }
            }
        }
        defer {
            stop.store(true, ordering: .relaxed)
            for _ in threads { finished.wait() }
        }

        var samples: [Duration] = []
        for round in 0..<(rounds + warmup) {
            let start = ContinuousClock.now
            BareKafka.produce(client.producer, topic: clientTopic, partition: 0, key: "relay", payload: "ping:\(round)")
            let deadline = start + .seconds(10)
            while true {
                guard ContinuousClock.now < deadline else { throw BenchmarkError("bare relay round \(round) got no answer within 10 s") }
                if BareKafka.poll(client.consumer, milliseconds: 50) == "pong:\(round)" { break }
            }
            if round >= warmup { samples.append(ContinuousClock.now - start) }
        }
        return samples
    }
}

/// Three librdkafka handles, usable from any thread.
private struct RelayHandles: @unchecked Sendable {
    let a: OpaquePointer, b: OpaquePointer, c: OpaquePointer
    init(_ a: OpaquePointer, _ b: OpaquePointer, _ c: OpaquePointer) { (self.a, self.b, self.c) = (a, b, c) }
}
