/// A Zeek `port`: a number and a transport protocol. (Named apart from Foundation's `Port`.)
///
/// Encoded as Zeek's `to_json` does: `{"port": 2151, "proto": "tcp"}`; written for people as `2151/tcp`.
public struct ZeekPort: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public enum TransportProtocol: String, Sendable, Codable, CaseIterable, Comparable {
        case tcp, udp, icmp, unknown

        public static func < (lhs: Self, rhs: Self) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    public var number: UInt16
    public var transport: TransportProtocol

    public init(_ number: UInt16, _ transport: TransportProtocol = .tcp) {
        self.number = number
        self.transport = transport
    }

    /// `0/unknown`: in a Supervisor cluster layout, a node that does not listen.
    public static let none = ZeekPort(0, .unknown)

    /// Parses `2151/tcp` (Zeek's text form).
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let number = UInt16(parts[0]),
              let transport = TransportProtocol(rawValue: String(parts[1])) else { return nil }
        self.init(number, transport)
    }

    public var description: String { "\(number)/\(transport.rawValue)" }

    public static func < (lhs: ZeekPort, rhs: ZeekPort) -> Bool {
        (lhs.number, lhs.transport) < (rhs.number, rhs.transport)
    }

    private enum CodingKeys: String, CodingKey {
        case port, proto
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let number = try container.decodeInteger(forKey: .port)
        guard let valid = UInt16(exactly: number) else {
            throw DecodingError.dataCorruptedError(forKey: .port, in: container,
                debugDescription: "port number \(number) out of range 0-65535")
        }
        let proto = try container.decode(String.self, forKey: .proto)
        guard let transport = TransportProtocol(rawValue: proto) else {
            throw DecodingError.dataCorruptedError(forKey: .proto, in: container,
                debugDescription: "unknown transport protocol \"\(proto.truncatedForDisplay)\" (expected tcp, udp, icmp or unknown)")
        }
        self.init(valid, transport)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Int(number), forKey: .port)
        try container.encode(transport.rawValue, forKey: .proto)
    }
}
