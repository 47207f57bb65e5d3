import CRdKafka
import Foundation
import KafkaTransport
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
    let responders: Int
    let partitions: Int

    func measure(rounds: Int, warmup: Int) throws -> [Duration] {
        let suffix = UUID().uuidString.prefix(8)
        let clientTopic = "bench-relay-client-\(suffix)", agentTopic = "bench-relay-agents-\(suffix)"
        let relayPartition = Murmur2Partitioner.partition(of: "relay", among: partitions)
        var handles: [RelayHandle] = []
        func make(_ type: rd_kafka_type_t) throws -> OpaquePointer {
            let role = type == RD_KAFKA_PRODUCER ? KafkaConfiguration.Tuning.producer
                : KafkaConfiguration.Tuning.consumer + KafkaConfiguration.Tuning.standalone(groupID: "bare-relay-\(UUID())")
            let handle = try RelayHandle.make(type, properties: configuration.properties(role: role))
            handles.append(handle)
            return handle.pointer
        }
        defer { handles.reversed().forEach { $0.close() } }
        try RelayHandle.createTopics([(clientTopic, 1), (agentTopic, partitions)], using: try make(RD_KAFKA_PRODUCER))

        let client = (producer: try make(RD_KAFKA_PRODUCER), consumer: try make(RD_KAFKA_CONSUMER))
        let relay = (producer: try make(RD_KAFKA_PRODUCER), requests: try make(RD_KAFKA_CONSUMER), answers: try make(RD_KAFKA_CONSUMER))
        try RelayHandle.assignAtEnd(client.consumer, topic: clientTopic, partitions: [0])
        try RelayHandle.assignAtEnd(relay.requests, topic: clientTopic, partitions: [0])
        try RelayHandle.assignAtEnd(relay.answers, topic: agentTopic, partitions: [relayPartition])
        var responderHandles: [(name: String, producer: OpaquePointer, consumer: OpaquePointer)] = []
        for index in 1...responders {
            let name = "bench-\(index)"
            let consumer = try make(RD_KAFKA_CONSUMER)
            try RelayHandle.assignAtEnd(consumer, topic: agentTopic, partitions: [Murmur2Partitioner.partition(of: name, among: partitions)])
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
                guard let text = RelayHandle.poll(relayHandles.b, milliseconds: 50), text.hasPrefix("ping:") else { continue }
                for partition in 0..<partitionCount {
                    RelayHandle.produce(relayHandles.a, topic: agentTopic, partition: partition, key: "relay", payload: "req:" + text.dropFirst(5))
                }
            }
        }
        // Relay, agent side: once every responder answered "resp:<n>:<name>", "pong:<n>".
        let expected = responders
        spawn {
            var answers: [Substring: Int] = [:]
            while !stop.load(ordering: .relaxed) {
                guard let text = RelayHandle.poll(relayHandles.c, milliseconds: 50), text.hasPrefix("resp:") else { continue }
                let round = text.dropFirst(5).prefix { $0 != ":" }
                answers[round, default: 0] += 1
                if answers[round] == expected {
                    answers[round] = nil
                    RelayHandle.produce(relayHandles.a, topic: clientTopic, partition: 0, key: "client", payload: "pong:" + round)
                }
            }
        }
        for responder in responderHandles {
            let handles = RelayHandles(responder.producer, responder.consumer, responder.consumer)
            let name = responder.name
            spawn {
                while !stop.load(ordering: .relaxed) {
                    guard let text = RelayHandle.poll(handles.b, milliseconds: 50), text.hasPrefix("req:") else { continue }
                    RelayHandle.produce(handles.a, topic: agentTopic, partition: relayPartition, key: "relay", payload: "resp:" + text.dropFirst(4) + ":" + name)
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
            RelayHandle.produce(client.producer, topic: clientTopic, partition: 0, key: "relay", payload: "ping:\(round)")
            let deadline = start + .seconds(10)
            while true {
                guard ContinuousClock.now < deadline else { throw BenchmarkError("bare relay round \(round) got no answer within 10 s") }
                if RelayHandle.poll(client.consumer, milliseconds: 50) == "pong:\(round)" { break }
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

/// One librdkafka handle of the bare relay, and the C calls it needs.
private struct RelayHandle {
    let pointer: OpaquePointer
    let isConsumer: Bool

    static func make(_ type: rd_kafka_type_t, properties: [(String, String)]) throws -> RelayHandle {
        let conf = rd_kafka_conf_new()
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            guard rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) == RD_KAFKA_CONF_OK else {
                throw BenchmarkError("\(key)=\(value) rejected")
            }
        }
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else { throw BenchmarkError("rd_kafka_new failed") }
        if type == RD_KAFKA_CONSUMER { rd_kafka_poll_set_consumer(handle) }
        return RelayHandle(pointer: handle, isConsumer: type == RD_KAFKA_CONSUMER)
    }

    func close() {
        if isConsumer { _ = rd_kafka_consumer_close(pointer) } else { _ = rd_kafka_flush(pointer, 2_000) }
        rd_kafka_destroy(pointer)
    }

    static func createTopics(_ topics: [(name: String, partitions: Int)], using producer: OpaquePointer) throws {
        var errorText = [CChar](repeating: 0, count: 512)
        var newTopics = topics.map { rd_kafka_NewTopic_new($0.name, Int32($0.partitions), -1, &errorText, errorText.count) }
        defer { newTopics.forEach { rd_kafka_NewTopic_destroy($0) } }
        let queue = rd_kafka_queue_new(producer)
        defer { rd_kafka_queue_destroy(queue) }
        rd_kafka_CreateTopics(producer, &newTopics, newTopics.count, nil, queue)
        guard let event = rd_kafka_queue_poll(queue, 10_000) else { throw BenchmarkError("no answer to CreateTopics") }
        rd_kafka_event_destroy(event)
    }

    static func assignAtEnd(_ consumer: OpaquePointer, topic: String, partitions: [Int32]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            var low: Int64 = 0
            var high: Int64 = 0
            let error = rd_kafka_query_watermark_offsets(consumer, topic, partition, &low, &high, 5_000)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw BenchmarkError("watermarks of \(topic)[\(partition)]") }
            rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = high
        }
        guard rd_kafka_assign(consumer, list) == RD_KAFKA_RESP_ERR_NO_ERROR else { throw BenchmarkError("assign \(topic)") }
    }

    static func poll(_ consumer: OpaquePointer, milliseconds: Int32) -> String? {
        guard let message = rd_kafka_consumer_poll(consumer, milliseconds) else { return nil }
        defer { rd_kafka_message_destroy(message) }
        guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR, let payload = message.pointee.payload else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: payload, count: message.pointee.len), as: UTF8.self)
    }

    static func produce(_ producer: OpaquePointer, topic: String, partition: Int32, key: String, payload: some StringProtocol) {
        var bytes = Array(payload.utf8)
        var keyBytes = Array(key.utf8)
        let handle = rd_kafka_topic_new(producer, topic, nil)
        defer { rd_kafka_topic_destroy(handle) }
        _ = rd_kafka_produce(handle, partition, RD_KAFKA_MSG_F_COPY, &bytes, bytes.count, &keyBytes, keyBytes.count, nil)
        _ = rd_kafka_poll(producer, 0)
    }
}
