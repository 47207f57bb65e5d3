import CRdKafka
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a consumer starts reading a partition it was given.
///
/// Where its group committed a position, there. Where it has none (a group that never read the
/// partition, a consumer without a group), at its ``Fallback``: for a lookback, records
/// younger than that may still matter (a request within its deadline), older ones are history
/// a newcomer has no use for, and a topic's whole retention is never read.
///
/// Knowing the concrete offset also lets the consumer tell a record the broker hands out of
/// order at the very start of a partition from the first one (``OffsetContinuity``).
enum StartOffsets {
    /// Where a partition without a committed position starts.
    enum Fallback {
        /// The oldest retained record.
        case earliest
        /// The current end.
        case end
        /// The first record published at most this long ago (else the end).
        case since(Duration)
    }

    /// Fills in the `offset` of every entry of `list`: concrete offsets wherever the broker
    /// tells them, so that nothing published after this returns can be skipped.
    ///
    /// Blocking (up to `timeoutMilliseconds` per broker request): call it off the cooperative
    /// pool, or from librdkafka's rebalance callback on the poll thread.
    /// `continuity` is told where each partition starts.
    static func resolve(
        _ client: OpaquePointer, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        committedIn hasGroup: Bool, fallback: Fallback, telling continuity: OffsetContinuity?, timeoutMilliseconds: Int32 = 5_000
    ) throws {
        defer {
            for index in 0..<Int(list.pointee.cnt) {
                let entry = list.pointee.elems[index]
                if entry.offset >= 0 { continuity?.expect(TopicPartition(topic: String(cString: entry.topic), partition: entry.partition), at: entry.offset) }
            }
        }
        let count = Int(list.pointee.cnt)
        for index in 0..<count { list.pointee.elems[index].offset = Int64(RD_KAFKA_OFFSET_INVALID) }
        if hasGroup {
            let error = rd_kafka_committed(client, list, timeoutMilliseconds)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(error == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timedOut : .consumer, "committed offsets", error: error)
            }
        }
        let missing = (0..<count).filter { list.pointee.elems[$0].offset < 0 }
        guard !missing.isEmpty else { return }
        if case .since(let lookback) = fallback {
            let partitions = missing.map { TopicPartition(topic: String(cString: list.pointee.elems[$0].topic), partition: list.pointee.elems[$0].partition) }
            let found = try? firstOffsets(client, of: partitions, at: Date().addingTimeInterval(-lookback.timeInterval), timeoutMilliseconds: timeoutMilliseconds)
            for (position, index) in missing.enumerated() {
                // nil: no record that recent (or the broker could not say); the end it is.
                if case .success(let offset?)? = found?[position] { list.pointee.elems[index].offset = offset }
            }
        }
        for index in missing where list.pointee.elems[index].offset < 0 {
            let entry = list.pointee.elems[index]
            var low: Int64 = 0
            var high: Int64 = 0
            let error = rd_kafka_query_watermark_offsets(client, entry.topic, entry.partition, &low, &high, timeoutMilliseconds)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw KafkaError(error == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timedOut : .consumer,
                                 "end offset of \(String(cString: entry.topic))[\(entry.partition)]", error: error)
            }
            if case .earliest = fallback { list.pointee.elems[index].offset = low } else { list.pointee.elems[index].offset = high }
        }
    }

    /// For each of `partitions`, the offset of the first record stamped at or after `time`
    /// (nil: none is), or why the broker could not tell; throws if the query failed as a whole.
    static func firstOffsets(
        _ client: OpaquePointer, of partitions: [TopicPartition], at time: Date, timeoutMilliseconds: Int32 = 5_000
    ) throws -> [Result<Int64?, KafkaError>] {
        guard let query = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1))) else {
            throw KafkaError(.consumer, "could not allocate an offset query")
        }
        defer { rd_kafka_topic_partition_list_destroy(query) }
        let milliseconds = Int64(time.timeIntervalSince1970 * 1000)
        for partition in partitions { rd_kafka_topic_partition_list_add(query, partition.topic, partition.partition)?.pointee.offset = milliseconds }
        let error = rd_kafka_offsets_for_times(client, query, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumer, "offsets of \(partitions.map(\.description).joined(separator: ", ")) at \(time)", error: error)
        }
        return partitions.indices.map { index in
            let entry = query.pointee.elems[index]
            guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                return .failure(KafkaError(.consumer, "offset of \(partitions[index]) at \(time)", error: entry.err))
            }
            return .success(entry.offset >= 0 ? entry.offset : nil)
        }
    }
}
