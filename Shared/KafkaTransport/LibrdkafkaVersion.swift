import CRdKafka

/// The version of the librdkafka the process actually loaded (not the one it was built against).
public struct LibrdkafkaVersion: Sendable, Comparable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public let revision: Int

    /// Versions before 2.2.0 misparse KIP-482 tagged fields (librdkafka PR #4278), so they
    /// fail against brokers that send them ("ApiVersionRequest failed: Local: Read underflow").
    public static let minimumSupported = LibrdkafkaVersion(major: 2, minor: 2, revision: 0)

    public static var loaded: LibrdkafkaVersion {
        let raw = Int(rd_kafka_version())
        return LibrdkafkaVersion(major: (raw >> 24) & 0xff, minor: (raw >> 16) & 0xff, revision: (raw >> 8) & 0xff)
    }

    public init(major: Int, minor: Int, revision: Int) {
        self.major = major
        self.minor = minor
        self.revision = revision
    }

    public var description: String { "\(major).\(minor).\(revision)" }

    public static func < (lhs: Self, rhs: Self) -> Bool {
        (lhs.major, lhs.minor, lhs.revision) < (rhs.major, rhs.minor, rhs.revision)
    }

    /// Throws an error telling the operator how to fix an unusable librdkafka.
    public static func requireSupported() throws {
        let version = loaded
        guard version >= minimumSupported else {
            throw KafkaError(.unsupportedLibrary, """
                librdkafka \(version) is loaded, but \(minimumSupported) or newer is required \
                (older versions misparse KIP-482 tagged fields and cannot talk to current brokers). \
                Run scripts/setup to build a newer one into /usr/local, or install librdkafka-dev >= 2.2 \
                from your distribution; if an older copy is still picked up, run ldconfig or set \
                LD_LIBRARY_PATH=/usr/local/lib.
                """)
        }
    }
}
