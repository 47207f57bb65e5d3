import Synchronization

/// Where a group member's committed position may move: past every record it fetched that is
/// handled or needed no handling, and never past one still being handled. Also which records
/// fetched again need not be delivered again.
///
/// Kafka commits one position per partition, and a position covers every record before it.
/// A reader that handles records concurrently (a controller answering a quick request while a
/// deploy takes seconds) finishes them out of order; committing each as it finishes would move
/// the position past the deploy, and a crash would lose it. So the position is the first
/// record still outstanding, or, with none outstanding, the one after the last fetched.
///
/// A rebalance makes librdkafka fetch a partition again from the committed position, even
/// when this member keeps it (a standby joining the group does that). Records from there on
/// that this member's reader holds, or handled already, would then be delivered twice: a
/// controller would take a deploy it is carrying out for a second one. They are not.
final class HandledOffsets: Sendable {
    private struct Partition {
        /// Fetched (delivered to the reader) and not yet handled.
        var outstanding: Set<Int64> = []
        /// The offset after the last record fetched.
        var end: Int64 = 0
        /// The position last given out.
        var position: Int64?

        var committable: Int64 { outstanding.min() ?? end }

        /// The record at `offset` was fetched; whether it is new to the reader.
        ///
        /// A record before `end` was fetched again from an earlier position (a rebalance).
        /// Everything this member fetched is with its reader or was handled by it (or needed
        /// no handling); so it is new only from `end` on, whoever handled the records between.
        mutating func fetched(_ offset: Int64) -> Bool {
            // The first record fetched is where the group's position already is.
            if position == nil { position = offset }
            guard offset >= end else { return false }
            end = offset + 1
            return true
        }
    }

    private let partitions = Mutex<[TopicPartition: Partition]>([:])

    /// A record was fetched. Returns true if it is to be delivered (the position then stays
    /// before it until it is handled); false if the reader already has it or handled it.
    func deliver(_ partition: TopicPartition, offset: Int64) -> Bool {
        partitions.withLock { partitions in
            var state = partitions[partition] ?? Partition()
            defer { partitions[partition] = state }
            guard state.fetched(offset) else { return false }
            state.outstanding.insert(offset)
            return true
        }
    }

    /// A record was fetched and needs no handling (it is for someone else). Returns the new
    /// position if it moved.
    func rejected(_ partition: TopicPartition, offset: Int64) -> Int64? {
        partitions.withLock { partitions in
            var state = partitions[partition] ?? Partition()
            _ = state.fetched(offset)
            return Self.advance(&state, in: &partitions, partition)
        }
    }

    /// A delivered record was handled. Returns the new position if it moved.
    func handled(_ partition: TopicPartition, offset: Int64) -> Int64? {
        partitions.withLock { partitions in
            guard var state = partitions[partition], state.outstanding.remove(offset) != nil else { return nil }
            return Self.advance(&state, in: &partitions, partition)
        }
    }

    private static func advance(_ state: inout Partition, in partitions: inout [TopicPartition: Partition], _ partition: TopicPartition) -> Int64? {
        let position = state.committable
        defer { partitions[partition] = state }
        guard position > (state.position ?? .min) else { return nil }
        state.position = position
        return position
    }
}
