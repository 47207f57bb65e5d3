@testable import ManagementMessaging
import Testing

/// What a flood of forged messages does to the log: a line a minute per claimed sender, and a
/// few lines a minute in all, however many senders it claims, each saying how many went unlogged.
@Suite("Rejection log")
struct RejectionLogTests {
    @Test func aFloodFromManySendersIsAFewLinesAMinute() {
        var log = RejectionLog()
        let start = ContinuousClock.now
        var lines = 0
        for index in 0..<100_000 where log.note("fake-\(index)", at: start).log { lines += 1 }
        #expect(lines == RejectionLog.budget)
        // The same sender again within the minute: no line.
        #expect(!log.note("fake-0", at: start + .seconds(30)).log)
        // A minute on, one line that counts what was left out.
        let next = log.note("fake-0", at: start + .seconds(61))
        #expect(next.log && next.suppressed == 100_000 - RejectionLog.budget + 1)
    }
}
