import Synchronization

/// Where a group member's committed position may move: past every record it fetched that is
/// handled or needed no handling, and never past one still being handled.
///
/// Kafka commits one position per partition, and a position covers every record before it.
/// A reader that handles records concurrently (a controller answering a quick request while a
/// deploy takes seconds) finishes them out of order; committing each as it finishes would move
/// the position past the deploy, and a crash would lose it. So the position is the first
/// record still outstanding, or, with none outstanding, the one after the last fetched.
final class HandledOffsets: Sendable {
    private struct Partition {
        /// Fetched (delivered to the reader) and not yet handled.
        var outstanding: Set<Int64> = []
        /// The offset after the last record fetched.
        var end: Int64 = 0
        /// The position last given out.
        var position: Int64?

        var committable: Int64 { outstanding.min() ?? end }

        /// The record at `offset` was fetched.
        mutating func fetched(_ offset: Int64) {
            if offset < end {
                // Fetched again (the partition was reassigned): what was outstanding is gone,
                // and the position never moves back.
                self = Partition(position: position)
            }
            // The first record fetched is where the group's position already is.
            if position == nil { position = offset }
            end = offset + 1
        }
    }

    private let partitions = Mutex<[TopicPartition: Partition]>([:])

    /// A record was fetched and delivered: the position stays before it until it is handled.
    func delivered(_ partition: TopicPartition, offset: Int64) {
        partitions.withLock { partitions in
            var state = partitions[partition] ?? Partition()
            state.fetched(offset)
            state.outstanding.insert(offset)
            partitions[partition] = state
        }
    }

    /// A record was fetched and needs no handling (it is for someone else). Returns the new
    /// position if it moved.
    func rejected(_ partition: TopicPartition, offset: Int64) -> Int64? {
        partitions.withLock { partitions in
            var state = partitions[partition] ?? Partition()
            state.fetched(offset)
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
