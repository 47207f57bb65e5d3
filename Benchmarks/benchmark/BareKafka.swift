import CRdKafka
import Foundation
import KafkaTransport

/// The librdkafka C calls the bare floors make (``BareFloor``, ``BareRelay``, the idle fetch
/// count of ``FleetCommand``): written directly against the C API, without the project's
/// transport, so the floors measure only librdkafka and the broker.
enum BareKafka {
    /// A client with exactly `properties`; `configure` may set callbacks on its configuration.
    static func handle(_ type: rd_kafka_type_t, properties: [(String, String)],
                       configure: (OpaquePointer) -> Void = { _ in }) throws -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else { throw KafkaError(.configuration, "rd_kafka_conf_new failed") }
        var errorText = [CChar](repeating: 0, count: 512)
        for (key, value) in properties {
            guard rd_kafka_conf_set(conf, key, value, &errorText, errorText.count) == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(.configuration, "\(key)=\(value) rejected")
            }
        }
        configure(conf)
        guard let handle = rd_kafka_new(type, conf, &errorText, errorText.count) else {
            throw KafkaError(.configuration, "rd_kafka_new failed")
        }
        if type == RD_KAFKA_CONSUMER { rd_kafka_poll_set_consumer(handle) }
        return handle
    }

    /// Closes a consumer or flushes a producer, and destroys it.
    static func close(_ handle: OpaquePointer, isConsumer: Bool) {
        if isConsumer { _ = rd_kafka_consumer_close(handle) } else { _ = rd_kafka_flush(handle, 2_000) }
        rd_kafka_destroy(handle)
    }

    /// Assigns `partitions` of `topic` at their current high watermark.
    static func assignAtEnd(_ consumer: OpaquePointer, topic: String, partitions: [Int32] = [0]) throws {
        let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions {
            var low: Int64 = 0
            var high: Int64 = 0
            let error = rd_kafka_query_watermark_offsets(consumer, topic, partition, &low, &high, 5_000)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consumer, "watermarks of \(topic)[\(partition)]: \(String(cString: rd_kafka_err2str(error)))") }
            rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = high
        }
        let assigned = rd_kafka_assign(consumer, list)
        guard assigned == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(.consumer, "assign \(topic): \(String(cString: rd_kafka_err2str(assigned)))") }
    }

    /// The payload of the next record within `milliseconds`, as text; nil if none came.
    static func poll(_ consumer: OpaquePointer, milliseconds: Int32) -> String? {
        guard let message = rd_kafka_consumer_poll(consumer, milliseconds) else { return nil }
        defer { rd_kafka_message_destroy(message) }
        guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR, let payload = message.pointee.payload else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: payload, count: message.pointee.len), as: UTF8.self)
    }

    /// Produces `payload` (with `key`, to `partition` if given) and serves delivery reports.
    static func produce(_ producer: OpaquePointer, topic: String, partition: Int32? = nil, key: String? = nil, payload: some StringProtocol) {
        var bytes = Array(payload.utf8)
        var keyBytes = Array((key ?? "").utf8)
        var values = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 3)
        topic.withCString { topicName in
            bytes.withUnsafeMutableBytes { buffer in
                keyBytes.withUnsafeMutableBytes { keyBuffer in
                    values[0].vtype = RD_KAFKA_VTYPE_TOPIC
                    values[0].u.cstr = topicName
                    values[1].vtype = RD_KAFKA_VTYPE_VALUE
                    values[1].u.mem.ptr = buffer.baseAddress
                    values[1].u.mem.size = buffer.count
                    values[2].vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    values[2].u.i = RD_KAFKA_MSG_F_COPY
                    if let partition {
                        var value = rd_kafka_vu_t()
                        value.vtype = RD_KAFKA_VTYPE_PARTITION
                        value.u.i32 = partition
                        values.append(value)
                    }
                    if key != nil {
                        var value = rd_kafka_vu_t()
                        value.vtype = RD_KAFKA_VTYPE_KEY
                        value.u.mem.ptr = keyBuffer.baseAddress
                        value.u.mem.size = keyBuffer.count
                        values.append(value)
                    }
                    if let error = rd_kafka_produceva(producer, &values, values.count) { rd_kafka_error_destroy(error) }
                }
            }
        }
        _ = rd_kafka_poll(producer, 0)
    }
}
