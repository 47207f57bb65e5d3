/// The partition a keyed record goes to, as Apache Kafka's Java client (its default
/// partitioner) and librdkafka's `murmur2` / `murmur2_random` partitioners choose it:
/// `(murmur2(key) & 0x7fffffff) % partitions`.
///
/// Readers that consume only the partition of their own key (an agent, a supervisor, a node)
/// compute it with this; writers leave it to the Kafka client. Any client that can be set to
/// Java's partitioner reaches the same partition, so the choice is part of the wire contract.
public enum Murmur2Partitioner {
    /// The partition of `key` among `partitions` (> 0).
    public static func partition<Key: Collection<UInt8>>(of key: Key, among partitions: Int) -> Int32 {
        precondition(partitions > 0, "a topic has at least one partition")
        return Int32(Int(murmur2(key) & 0x7fff_ffff) % partitions)
    }

    /// The partition of the UTF-8 bytes of `key`.
    public static func partition(of key: String, among partitions: Int) -> Int32 {
        partition(of: Array(key.utf8), among: partitions)
    }

    /// Kafka's 32-bit MurmurHash2 (seed `0x9747b28c`), as `org.apache.kafka.common.utils.Utils.murmur2`.
    public static func murmur2<Key: Collection<UInt8>>(_ key: Key) -> UInt32 {
        let bytes = Array(key)
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: bytes.count)
        let whole = bytes.count / 4
        for block in 0..<whole {
            let i = block * 4
            var k = UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = whole * 4
        switch bytes.count % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            fallthrough
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            fallthrough
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default:
            break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return h
    }
}
