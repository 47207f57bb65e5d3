import Foundation
@testable import KafkaTransport
import Synchronization
import Testing

/// The hand-over between a poll thread and a reader without a broker: a synthetic poll loop
/// fast enough to hit every race of pausing, resuming and storing rejected offsets.
@Suite("Message buffer", .timeLimit(.minutes(1)))
struct MessageBufferTests {
    static let partition = TopicPartition(topic: "t", partition: 0)

    @Test func everyRecordArrivesInOrderAndRejectedOffsetsAreStoredOnlyBehindTheReader() async throws {
        let total: Int64 = 19_999 // the last record, total - 1, is rejected
        let limits = KafkaConsumer.BufferLimits(lowWatermark: 2, highWatermark: 8)
        // The highest offset the reader has been given; a rejected offset may be stored only
        // once every accepted record before it was given out.
        let lastTaken = Atomic<Int64>(-1)
        let violations = Recorder<String>()
        let stored = Recorder<Int64>()
        let parking = ThreadParking()
        let buffer = MessageBuffer(limits: limits, fetching: parking) { _, nextOffset in
            let rejected = nextOffset - 1
            // Every third record is rejected, so the accepted one before it is rejected - 1.
            if rejected > 0, lastTaken.load(ordering: .sequentiallyConsistent) < rejected - 1 {
                violations.append("offset \(rejected) stored before \(rejected - 1) was taken")
            }
            stored.append(nextOffset)
        }
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
                if offset % 3 == 0 {
                    buffer.skip(Self.partition, offset: offset)
                } else {
                    buffer.deliver(Self.message(offset))
                }
            },
            finish: { buffer.finish() }
        )

        var iterator = KafkaConsumer.Messages(buffer: buffer).makeAsyncIterator()
        var received: [Int64] = []
        var largestBuffered = 0
        while received.last != total - 2 {
            guard let message = await iterator.next() else { break }
            lastTaken.store(message.offset, ordering: .sequentiallyConsistent)
            received.append(message.offset)
            largestBuffered = max(largestBuffered, buffer.count)
            if received.count % 1_000 == 0 { await Task.yield() }
        }
        #expect(received == (0..<total).filter { $0 % 3 != 0 })
        #expect(largestBuffered <= limits.highWatermark)

        // Asking for more means the reader is done with everything: the last rejected record
        // is stored, and the reader then waits until shutdown.
        let waiting = Task {
            var next = KafkaConsumer.Messages(buffer: buffer).makeAsyncIterator()
            return await next.next()
        }
        try await eventually("the last rejected offset to be stored") { stored.items.last == total }
        await thread.stop()
        #expect(await waiting.value == nil)
        #expect(violations.items.isEmpty, "\(violations.items.prefix(3))")
        #expect(stored.items == stored.items.sorted(), "stores never move a position back")
    }

    @Test func stopWakesAPausedThreadAndEndsTheSequence() async throws {
        let parking = ThreadParking()
        let buffer = MessageBuffer(limits: .init(lowWatermark: 0, highWatermark: 3), fetching: parking) { _, _ in }
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
