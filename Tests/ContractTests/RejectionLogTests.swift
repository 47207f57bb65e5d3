#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
@testable import ManagementMessaging
import MessageSigning
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

/// What one signer's flood does to the replay windows: fills and ages its own only.
@Suite("Replay windows")
struct ReplayWindowTests {
    @Test func oneSignersFloodLeavesTheOthersAlone() {
        var windows = ReplayWindows(capacityPerSigner: 1_000)
        let (flooder, other) = (Data([1]), Data([2]))
        let now = 1_000_000.0
        for index in 0..<5_000 {
            _ = windows.insert(.init(signer: flooder, sender: "h", event: "e", reqid: "\(index)"), at: now, notBefore: now - 300)
        }
        // The flooder's own oldest are forgotten, and its window refuses what it can no longer check ...
        #expect(windows.insert(.init(signer: flooder, sender: "h", event: "e", reqid: "late"), at: now - 1, notBefore: now - 300) != nil)
        // ... while another signer is unaffected, and its replays are still caught.
        #expect(windows.insert(.init(signer: other, sender: "c", event: "e", reqid: "x"), at: now - 1, notBefore: now - 300) == nil)
        #expect(windows.insert(.init(signer: other, sender: "c", event: "e", reqid: "x"), at: now, notBefore: now - 300) == "was seen before: a replay")
    }

    @Test func aPendingNameIsHeldForTheFirstKeyUntilItExpires() {
        let pending = PendingEnrollments(capacity: 2, expiry: .seconds(600))
        let real = SigningKey.generate().publicKey, forger = SigningKey.generate().publicKey
        #expect(pending.note("agent-9", key: real, at: 100))
        #expect(!pending.note("agent-9", key: forger, at: 101))
        #expect(pending.entry("agent-9")?.key == real.line)
        #expect(pending.note("junk-1", key: forger, at: 102))
        #expect(!pending.note("junk-2", key: forger, at: 103), "full")
        // Ten minutes on, stale entries make room.
        #expect(pending.note("junk-2", key: forger, at: 800))
    }
}
