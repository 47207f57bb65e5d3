@testable import KafkaTransport
import Testing

/// When a consumer reads a partition again because a fetch skipped a record, and when it
/// accepts a gap as real.
@Suite("Offset continuity")
struct OffsetContinuityTests {
    static let partition = TopicPartition(topic: "t", partition: 0)

    @Test func contiguousRecordsAreDeliveredWithoutRereading() {
        let continuity = OffsetContinuity()
        #expect((5...9).map { continuity.check(Self.partition, offset: $0) } == Array(repeating: .deliver, count: 5))
    }

    @Test func aSkippedRecordIsFetchedAgainAndThenDeliveredInOrder() {
        let continuity = OffsetContinuity()
        #expect(continuity.check(Self.partition, offset: 0) == .deliver)
        // Offset 1 was not handed out: read again from it, and do not deliver 2 yet.
        #expect(continuity.check(Self.partition, offset: 2) == .reread(from: 1))
        #expect(continuity.check(Self.partition, offset: 1) == .deliver)
        #expect(continuity.check(Self.partition, offset: 2) == .deliver)
        // A later gap gets its own attempts.
        #expect(continuity.check(Self.partition, offset: 4) == .reread(from: 3))
        #expect(continuity.check(Self.partition, offset: 3) == .deliver)
    }

    @Test func aGapStillThereAfterThePatienceIsAccepted() {
        let continuity = OffsetContinuity()
        let start = ContinuousClock.now
        #expect(continuity.check(Self.partition, offset: 10, now: start) == .deliver)
        for elapsed in [0, 10, 500, 999] {
            #expect(continuity.check(Self.partition, offset: 12, now: start + .milliseconds(elapsed)) == .reread(from: 11))
        }
        #expect(continuity.check(Self.partition, offset: 12, now: start + OffsetContinuity.patience) == .deliver)
        #expect(continuity.check(Self.partition, offset: 13, now: start + OffsetContinuity.patience) == .deliver)
        // The next gap is given the whole patience again.
        #expect(continuity.check(Self.partition, offset: 15, now: start + .seconds(5)) == .reread(from: 14))
    }

    @Test func theStartOfReadingCountsAndEachPartitionIsOnItsOwn() {
        let continuity = OffsetContinuity()
        let other = TopicPartition(topic: "t", partition: 1)
        continuity.expect(Self.partition, at: 7)
        #expect(continuity.check(Self.partition, offset: 8) == .reread(from: 7))
        #expect(continuity.check(other, offset: 100) == .deliver)
        #expect(continuity.check(Self.partition, offset: 7) == .deliver)
    }

    @Test func afterARebalanceReadingResumesWhereverTheGroupCommitted() {
        let continuity = OffsetContinuity()
        #expect(continuity.check(Self.partition, offset: 3) == .deliver)
        // Another member handled up to 20 meanwhile: no rereading of what it handled.
        continuity.forget([Self.partition])
        #expect(continuity.check(Self.partition, offset: 20) == .deliver)
        // Older records fetched again (a partition handed back) are delivered as they come.
        #expect(continuity.check(Self.partition, offset: 15) == .deliver)
        #expect(continuity.check(Self.partition, offset: 16) == .deliver)
    }
}
