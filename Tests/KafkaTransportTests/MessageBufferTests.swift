import Foundation
@testable import KafkaTransport
import Synchronization
import Testing

/// The hand-over between a poll thread and a reader without a broker (a synthetic poll loop
/// fast enough to hit every race of pausing and resuming), and where a position may move.
@Suite("Message buffer", .timeLimit(.minutes(1)))
struct MessageBufferTests {
    static let partition = TopicPartition(topic: "t", partition: 0)

    @Test func everyRecordArrivesInOrderWithinTheWatermarks() async throws {
        let total: Int64 = 20_000
        let limits = KafkaConsumer.BufferLimits(lowWatermark: 2, highWatermark: 8)
        let parking = ThreadParking()
        let buffer = MessageBuffer(limits: limits, fetching: parking)
        let produced = Atomic<Int64>(0)
        let thread = PollThread(
            parking: parking,
            pausedWhile: { buffer.isFetchPaused },
            iteration: {
                let offset = produced.wrappingAdd(1, ordering: .sequentiallyConsistent).oldValue
                guard offset < total else {
                    usleep(1_000) // like a poll that times out with nothing fetched
                    return
                }
                buffer.deliver(Self.message(offset))
            },
            finish: { buffer.finish() }
        )

        var iterator = KafkaConsumer.Messages(buffer: buffer).makeAsyncIterator()
        var received: [Int64] = []
        var largestBuffered = 0
        while received.last != total - 1 {
            guard let message = await iterator.next() else { break }
            received.append(message.offset)
            largestBuffered = max(largestBuffered, buffer.count)
            if received.count % 1_000 == 0 { await Task.yield() }
        }
        #expect(received == Array(0..<total))
        #expect(largestBuffered <= limits.highWatermark)
        await thread.stop()
    }

    /// A reader of runs (an endpoint verifying a burst on several cores) gets what waits, in
    /// order and at most `limit` at a time, and fetching resumes once it has taken enough.
    @Test func runsHoldWhatWaitsInOrderAndResumeFetching() async throws {
        let limits = KafkaConsumer.BufferLimits(lowWatermark: 2, highWatermark: 8)
        let parking = ThreadParking()
        let buffer = MessageBuffer(limits: limits, fetching: parking)
        for offset in Int64(0)..<8 { buffer.deliver(Self.message(offset)) }
        #expect(buffer.isFetchPaused)
        var runs = KafkaConsumer.Messages(buffer: buffer).batches(limit: 5).makeAsyncIterator()
        #expect(await runs.next()?.map(\.offset) == [0, 1, 2, 3, 4])
        #expect(buffer.isFetchPaused, "3 still wait, above the low watermark")
        #expect(await runs.next()?.map(\.offset) == [5, 6, 7])
        #expect(!buffer.isFetchPaused)
        // Nothing waits: the next run is the next record, as soon as it comes.
        let late = Task {
            try await Task.sleep(for: .milliseconds(20))
            buffer.deliver(Self.message(8))
        }
        #expect(await runs.next()?.map(\.offset) == [8])
        try await late.value
        buffer.finish()
        #expect(await runs.next() == nil)
    }

    @Test func thePositionNeverPassesARecordStillBeingHandled() {
        let offsets = HandledOffsets()
        let p = Self.partition
        for offset in Int64(0)...3 { #expect(offsets.deliver(p, offset: offset)) }
        #expect(offsets.rejected(p, offset: 4) == nil, "records 0-3 are outstanding")
        #expect(offsets.handled(p, offset: 2) == nil)
        #expect(offsets.handled(p, offset: 0) == 1)
        #expect(offsets.handled(p, offset: 1) == 3, "2 was handled already")
        #expect(offsets.handled(p, offset: 3) == 5, "and 4 needed no handling")
        #expect(offsets.rejected(p, offset: 5) == 6)
        #expect(offsets.handled(p, offset: 3) == nil, "handled twice: nothing moves")
    }

    /// A rebalance makes librdkafka fetch again from the committed position, also when this
    /// member keeps the partition: what the reader holds or handled is not delivered twice.
    @Test func recordsFetchedAgainAfterARebalanceAreNotDeliveredTwice() {
        let offsets = HandledOffsets()
        let p = Self.partition
        for offset in Int64(10)...13 { #expect(offsets.deliver(p, offset: offset)) }
        #expect(offsets.handled(p, offset: 11) == nil, "10 is still being handled (a deploy)")
        // Fetched again from the committed position, 10.
        #expect(!offsets.deliver(p, offset: 10), "the reader is handling it")
        #expect(!offsets.deliver(p, offset: 11), "handled already")
        #expect(offsets.rejected(p, offset: 12) == nil, "a position never moves for a record fetched again")
        #expect(!offsets.deliver(p, offset: 13))
        #expect(offsets.deliver(p, offset: 14), "new")
        #expect(offsets.handled(p, offset: 10) == 12)
        #expect(offsets.handled(p, offset: 12) == 13)
        #expect(offsets.handled(p, offset: 13) == 14)
        #expect(offsets.handled(p, offset: 14) == 15)
    }

    @Test func stopWakesAPausedThreadAndEndsTheSequence() async throws {
        let parking = ThreadParking()
        let buffer = MessageBuffer(limits: .init(lowWatermark: 0, highWatermark: 3), fetching: parking)
        let produced = Atomic<Int64>(0)
        let thread = PollThread(
            parking: parking,
            pausedWhile: { buffer.isFetchPaused },
            iteration: { buffer.deliver(Self.message(produced.wrappingAdd(1, ordering: .relaxed).oldValue)) },
            finish: { buffer.finish() }
        )
        try await eventually { buffer.isFetchPaused }
        try await Task.sleep(for: .milliseconds(50))
        #expect(buffer.count == 3)
        #expect(produced.load(ordering: .relaxed) == 3, "the paused thread does not iterate")

        await thread.stop()
        var iterator = KafkaConsumer.Messages(buffer: buffer).makeAsyncIterator()
        #expect(await iterator.next() == nil)
    }

    static func message(_ offset: Int64) -> KafkaMessage {
        KafkaMessage(topic: partition.topic, partition: partition.partition, offset: offset,
                     key: nil, value: Data("\(offset)".utf8), headers: [], timestamp: nil)
    }
}
