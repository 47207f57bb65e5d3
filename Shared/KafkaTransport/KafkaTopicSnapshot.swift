import CRdKafka
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging

/// Reads a topic up to the end it has now, without a consumer group: nothing is committed and
/// any number of readers may do it.
public enum KafkaTopicSnapshot {
    /// Where a snapshot starts reading a partition.
    public enum Start: Sendable, Hashable {
        /// At this offset (the oldest retained record if that is older).
        case offset(Int64)
        /// At the first record stamped at or after this time.
        case time(Date)
    }

    /// Records read from a topic, and where each partition read ended.
    public struct Snapshot: Sendable {
        /// What the filter accepted, in offset order per partition.
        public var records: [KafkaMessage]
        /// Per partition read: its end (high watermark) when the snapshot was taken, or past
        /// it, the end of the last batch fetched.
        public var ends: [Int32: Int64]
    }

    /// The records of `topic` from `start` (per partition; the oldest retained where absent)
    /// up to the end each partition has when this is called, that `filter` accepts, in offset
    /// order per partition.
    ///
    /// - Parameter filter: sees each record's head before its payload is copied.
    public static func records(
        of topic: String,
        from start: [Int32: Int64] = [:],
        accepting filter: @escaping @Sendable (borrowing KafkaMessageHead) -> Bool = { _ in true },
        configuration: KafkaConfiguration,
        logger: Logger,
        timeout: Duration = .seconds(10)
    ) async throws -> [KafkaMessage] {
        try await snapshot(of: topic, partitions: nil, from: start.mapValues(Start.offset), accepting: filter,
                           configuration: configuration, logger: logger, timeout: timeout).records
    }

    /// Reads `partitions` of `topic` (nil: all) from `start` (the oldest retained record where
    /// a partition has none) to the end each has when this is called.
    ///
    /// - Parameter filter: sees each record's head before its payload is copied.
    public static func snapshot(
        of topic: String,
        partitions selected: Set<Int32>?,
        from start: [Int32: Start] = [:],
        accepting filter: @escaping @Sendable (borrowing KafkaMessageHead) -> Bool = { _ in true },
        configuration: KafkaConfiguration,
        logger: Logger,
        timeout: Duration = .seconds(10)
    ) async throws -> Snapshot {
        let client = try RdKafkaClient(
            kind: .consumer,
            properties: configuration.properties(role: KafkaConfiguration.Tuning.consumer
                + KafkaConfiguration.Tuning.standalone(groupID: "\(configuration.clientID).snapshot.\(UUID().uuidString)")),
            context: ClientContext(logger: logger)
        )
        defer {
            // rd_kafka_destroy can take a second; the caller need not wait for it.
            OSThread.detach {
                client.close { handle in _ = rd_kafka_consumer_close(handle) }
            }
        }
        let deadline = ContinuousClock.now + timeout
        return try await runBlocking {
            rd_kafka_poll_set_consumer(client.handle)
            let partitions = try client.partitions(of: topic, timeoutMilliseconds: 5_000).filter { selected?.contains($0) ?? true }
            var ends: [Int32: Int64] = [:]
            var remaining: [Int32: Int64] = [:]
            guard let list = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1))) else {
                throw KafkaError(.consumer, "could not allocate an assignment list")
            }
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for partition in partitions {
                var low: Int64 = 0
                var high: Int64 = 0
                let error = rd_kafka_query_watermark_offsets(client.handle, topic, partition, &low, &high, 5_000)
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    throw KafkaError(error == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timedOut : .consumer, "offsets of \(topic)[\(partition)]", error: error)
                }
                ends[partition] = high
                var first = low
                switch start[partition] {
                case .offset(let offset)?:
                    first = max(low, offset)
                case .time(let time)?:
                    first = try Self.offset(client, topic: topic, partition: partition, at: time) ?? high
                case nil:
                    break
                }
                if high > first { remaining[partition] = high }
                rd_kafka_topic_partition_list_add(list, topic, partition)?.pointee.offset = first
            }
            var records: [KafkaMessage] = []
            guard !remaining.isEmpty else { return Snapshot(records: records, ends: ends) }
            let error = rd_kafka_assign(client.handle, list)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(.consumer, "assign \(topic)", error: error)
            }
            while !remaining.isEmpty {
                guard ContinuousClock.now < deadline else {
                    throw KafkaError(.timedOut, "reading \(topic) did not reach its end within \(timeout)")
                }
                guard let message = rd_kafka_consumer_poll(client.handle, 100) else { continue }
                defer { rd_kafka_message_destroy(message) }
                guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    if message.pointee.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        logger.warning("reading \(topic): \(KafkaMessage.errorText(message.pointee))")
                    }
                    continue
                }
                let partition = message.pointee.partition
                let offset = message.pointee.offset
                if filter(KafkaMessageHead(message)) { records.append(KafkaMessage(copying: message)) }
                if let end = remaining[partition], offset + 1 >= end { remaining[partition] = nil }
            }
            // The rest of the batches already fetched. A broker may report an end inside the
            // last batch (the embedded Tansu gives the batch's first offset + 1), and what lies
            // after it was stored before the end was asked for.
            while let message = rd_kafka_consumer_poll(client.handle, 0) {
                defer { rd_kafka_message_destroy(message) }
                guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else { continue }
                let partition = message.pointee.partition
                if filter(KafkaMessageHead(message)) { records.append(KafkaMessage(copying: message)) }
                ends[partition] = max(ends[partition] ?? 0, message.pointee.offset + 1)
            }
            return Snapshot(records: records, ends: ends)
        }
    }

    /// The offset of the first record of a partition stamped at or after `time`; nil if none is.
    private static func offset(_ client: RdKafkaClient, topic: String, partition: Int32, at time: Date) throws -> Int64? {
        guard let query = rd_kafka_topic_partition_list_new(1) else {
            throw KafkaError(.consumer, "could not allocate an offset query")
        }
        defer { rd_kafka_topic_partition_list_destroy(query) }
        rd_kafka_topic_partition_list_add(query, topic, partition)?.pointee.offset = KafkaTimestamp.milliseconds(of: time)
        let error = rd_kafka_offsets_for_times(client.handle, query, 5_000)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, query.pointee.elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumer, "offset of \(topic)[\(partition)] at \(time)", error: error == RD_KAFKA_RESP_ERR_NO_ERROR ? query.pointee.elems[0].err : error)
        }
        let offset = query.pointee.elems[0].offset
        return offset >= 0 ? offset : nil
    }
}
