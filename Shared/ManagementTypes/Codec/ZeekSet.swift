/// A Zeek `set` argument with `&default=set()`: absent or `null` decodes as empty, and it
/// encodes sorted so equal sets give identical bytes.
///
/// For event arguments such as `nodes: set[string] &default=set()`, so their structs can keep
/// the synthesized `Codable` conformance.
@propertyWrapper
public struct ZeekSet<Element: Hashable & Comparable & Codable & Sendable>: Hashable, Sendable, Codable {
    public var wrappedValue: Set<Element>

    public init(wrappedValue: Set<Element> = []) {
        self.wrappedValue = wrappedValue
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        wrappedValue = container.decodeNil() ? [] : try container.decode(Set<Element>.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue.sorted())
    }
}

extension KeyedDecodingContainer {
    /// Lets a missing key mean the default empty set (synthesized decoding calls this overload).
    public func decode<Element>(_ type: ZeekSet<Element>.Type, forKey key: Key) throws -> ZeekSet<Element> {
        try decodeIfPresent(type, forKey: key) ?? ZeekSet()
    }
}
