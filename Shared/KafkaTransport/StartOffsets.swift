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
    static func resolve(
        _ client: OpaquePointer, _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        committedIn hasGroup: Bool, fallback: Fallback, timeoutMilliseconds: Int32 = 5_000
    ) throws {
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
            guard let query = rd_kafka_topic_partition_list_new(Int32(missing.count)) else {
                throw KafkaError(.consumer, "could not allocate an offset query")
            }
            defer { rd_kafka_topic_partition_list_destroy(query) }
            let since = KafkaTimestamp.milliseconds(of: Date(timeIntervalSinceNow: -Double(lookback.milliseconds) / 1000))
            for index in missing {
                let entry = list.pointee.elems[index]
                rd_kafka_topic_partition_list_add(query, entry.topic, entry.partition)?.pointee.offset = since
            }
            let error = rd_kafka_offsets_for_times(client, query, timeoutMilliseconds)
            if error == RD_KAFKA_RESP_ERR_NO_ERROR {
                for (queryIndex, index) in missing.enumerated() where query.pointee.elems[queryIndex].err == RD_KAFKA_RESP_ERR_NO_ERROR {
                    // -1: no record that recent; the end it is.
                    list.pointee.elems[index].offset = query.pointee.elems[queryIndex].offset
                }
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
}
