#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A Zeek `addr`: an IPv4 or IPv6 address, encoded as its text form.
///
/// Validated on construction and decoding, and kept in canonical text form (IPv6 compressed,
/// lower case) so equal addresses compare equal.
public struct IPAddress: Hashable, Sendable, Codable, Comparable, CustomStringConvertible {
    public let text: String

    /// `0.0.0.0`: "not known yet" in an `Instance` (the agent connects to the controller).
    public static let unspecified = IPAddress(uncheckedText: "0.0.0.0")
    public static let loopback = IPAddress(uncheckedText: "127.0.0.1")

    public init?(_ text: String) {
        guard let canonical = Self.canonicalize(text) else { return nil }
        self.text = canonical
    }

    private init(uncheckedText: String) {
        self.text = uncheckedText
    }

    public var isUnspecified: Bool { self == .unspecified || text == "::" }

    public var description: String { text }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool { lhs.text < rhs.text }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let address = IPAddress(text) else {
            throw DecodingError.dataCorruptedError(in: container,
                debugDescription: "invalid IP address \"\(text.truncatedForDisplay)\"")
        }
        self = address
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }

    private static func canonicalize(_ text: String) -> String? {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { format(family: AF_INET, $0, length: Int(INET_ADDRSTRLEN)) }
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { format(family: AF_INET6, $0, length: Int(INET6_ADDRSTRLEN)) }
        }
        return nil
    }

    private static func format(family: Int32, _ address: UnsafeRawBufferPointer, length: Int) -> String? {
        var buffer = [CChar](repeating: 0, count: length)
        guard inet_ntop(family, address.baseAddress, &buffer, socklen_t(length)) != nil else { return nil }
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
