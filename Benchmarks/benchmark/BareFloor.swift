import CRdKafka
import Foundation
import KafkaTransport
import Synchronization

/// Request/response ping-pong written directly against librdkafka's C API: the physical floor
/// any transport on this broker can reach. Same topic layout and the same librdkafka
/// properties as the project's transport, so the ratio shows only what the Swift layers add.
struct BareFloor {
    let configuration: KafkaConfiguration
    let topic: String

    func measure(rounds: Int, warmup: Int) throws -> [Duration] {
        let responderProducer = try makeHandle(RD_KAFKA_PRODUCER, role: KafkaConfiguration.Tuning.producer)
        let responderConsumer = try makeHandle(RD_KAFKA_CONSUMER, role: KafkaConfiguration.Tuning.consumer + KafkaConfiguration.Tuning.standalone(groupID: "bare-responder-\(UUID())"))
        let requesterProducer = try makeHandle(RD_KAFKA_PRODUCER, role: KafkaConfiguration.Tuning.producer)
        let requesterConsumer = try makeHandle(RD_KAFKA_CONSUMER, role: KafkaConfiguration.Tuning.consumer + KafkaConfiguration.Tuning.standalone(groupID: "bare-requester-\(UUID())"))
        defer {
            for handle in [responderProducer, requesterProducer] { _ = rd_kafka_flush(handle, 2_000); rd_kafka_destroy(handle) }
            for handle in [responderConsumer, requesterConsumer] { _ = rd_kafka_consumer_close(handle); rd_kafka_destroy(handle) }
        }
        try assignAtEnd(responderConsumer)
        try assignAtEnd(requesterConsumer)

        // Responder: answers every "ping:<n>" with "pong:<n>".
        let stop = Atomic<Bool>(false)
        let responderHandles = ThreadSafeHandles(consumer: responderConsumer, producer: responderProducer)
        let responderFinished = DispatchSemaphore(value: 0)
        let responder = Thread { [topic] in
            defer { responderFinished.signal() }
            while !stop.load(ordering: .relaxed) {
                guard let message = rd_kafka_consumer_poll(responderHandles.consumer, 50) else { continue }
                defer { rd_kafka_message_destroy(message) }
                guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR, let payload = message.pointee.payload else { continue }
                let text = String(decoding: UnsafeRawBufferPointer(start: payload, count: message.pointee.len), as: UTF8.self)
                guard text.hasPrefix("ping:") else { continue }
                produce(responderHandles.producer, topic: topic, payload: "pong:" + text.dropFirst(5))
            }
        }
        responder.start()
        defer {
            stop.store(true, ordering: .relaxed)
            responderFinished.wait()
        }

        var samples: [Duration] = []
        let clock = ContinuousClock()
        for round in 0..<(warmup + rounds) {
            let expected = "pong:\(round)"
            let start = clock.now
            produce(requesterProducer, topic: topic, payload: "ping:\(round)")
            var answered = false
            let deadline = start + .seconds(10)
            while !answered {
                guard clock.now < deadline else { throw KafkaError(.timedOut, "bare ping-pong round \(round) got no answer") }
                guard let message = rd_kafka_consumer_poll(requesterConsumer, 50) else { continue }
                if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR, let payload = message.pointee.payload {
                    answered = String(decoding: UnsafeRawBufferPointer(start: payload, count: message.pointee.len), as: UTF8.self) == expected
                }
                rd_kafka_message_destroy(message)
            }
            if round >= warmup { samples.append(clock.now - start) }
            _ = rd_kafka_poll(requesterProducer, 0)
        }
        return samples
    }

    private func makeHandle(_ type: rd_kafka_type_t, role: [(String, String)]) throws -> OpaquePointer {
        let conf = rd_kafka_conf_new()
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in configuration.properties(role: role) {
            guard rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) == RD_KAFKA_CONF_OK else {
                throw KafkaError(.configuration, "\(key)=\(value) rejected")
            }
        }
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            throw KafkaError(.configuration, "rd_kafka_new failed")
        }
        if type == RD_KAFKA_CONSUMER { rd_kafka_poll_set_consumer(handle) }
        return handle
    }

    private func assignAtEnd(_ consumer: OpaquePointer) throws {
        var low: Int64 = 0
        var high: Int64 = 0
        let error = rd_kafka_query_watermark_offsets(consumer, topic, 0, &low, &high, 5_000)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consumer, "watermarks of \(topic)") }
        let list = rd_kafka_topic_partition_list_new(1)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_topic_partition_list_add(list, topic, 0)?.pointee.offset = high
        let assigned = rd_kafka_assign(consumer, list)
        guard assigned == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumer, "assign \(topic): \(String(cString: rd_kafka_err2str(assigned)))")
        }
    }
}

/// librdkafka handles may be used from any thread.
private struct ThreadSafeHandles: @unchecked Sendable {
    let consumer: OpaquePointer
    let producer: OpaquePointer
}

private func produce(_ producer: OpaquePointer, topic: String, payload: some StringProtocol) {
    var bytes = Array(payload.utf8)
    var values = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 3)
    topic.withCString { topicName in
        bytes.withUnsafeMutableBytes { buffer in
            values[0].vtype = RD_KAFKA_VTYPE_TOPIC
            values[0].u.cstr = topicName
            values[1].vtype = RD_KAFKA_VTYPE_VALUE
            values[1].u.mem.ptr = buffer.baseAddress
            values[1].u.mem.size = buffer.count
            values[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS
            values[2].u.i = RD_KAFKA_MSG_F_COPY
            if let error = rd_kafka_produceva(producer, &values, values.count) { rd_kafka_error_destroy(error) }
        }
    }
    _ = rd_kafka_poll(producer, 0)
}
