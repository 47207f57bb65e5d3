#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Record timestamps as Kafka counts them: milliseconds since the epoch.
public enum KafkaTimestamp {
    /// Latest time a query may name: the year 33658, far past any record.
    static let latest: Int64 = 1_000_000_000_000_000

    /// `time` in milliseconds since the epoch, clamped to `0...`(year 33658).
    ///
    /// Times may derive from the wire (a request's `ts`), so the conversion must not trap on
    /// 1e300 or NaN; and a negative value would not mean "before 1970" to
    /// `rd_kafka_offsets_for_times` but select the end (-1) or the start (-2) of a partition.
    public static func milliseconds(of time: Date) -> Int64 {
        let milliseconds = (time.timeIntervalSince1970 * 1000).rounded(.down)
        guard !milliseconds.isNaN else { return 0 }
        return milliseconds <= 0 ? 0 : milliseconds >= Double(latest) ? latest : Int64(milliseconds)
    }
}
