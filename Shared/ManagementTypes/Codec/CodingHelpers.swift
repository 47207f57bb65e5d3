#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Zeek `set`s are unordered; on the wire they are arrays sorted by their elements' natural
/// order, so equal sets always encode to identical bytes.
extension KeyedEncodingContainer {
    mutating func encodeSet<Element: Encodable & Comparable>(_ set: Set<Element>, forKey key: Key) throws {
        try encode(set.sorted(), forKey: key)
    }

    mutating func encodeSetIfPresent<Element: Encodable & Comparable>(_ set: Set<Element>?, forKey key: Key) throws {
        if let set { try encodeSet(set, forKey: key) }
    }
}

extension KeyedDecodingContainer {
    /// Decodes a field that has a Zeek `&default`: absent or `null` yields `defaultValue`.
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key, default defaultValue: @autoclosure () -> T) throws -> T {
        try decodeIfPresent(type, forKey: key) ?? defaultValue()
    }

    /// Decodes a Zeek `int`/`count`. Foundation reports a fractional number for an integer
    /// field as "not valid JSON" without a path; this names the field and the value instead.
    func decodeInteger(forKey key: Key) throws -> Int {
        guard let value = try decodeIntegerIfPresent(forKey: key) else {
            throw DecodingError.valueNotFound(Int.self, .init(codingPath: codingPath + [key], debugDescription: "null integer"))
        }
        return value
    }

    func decodeIntegerIfPresent(forKey key: Key) throws -> Int? {
        switch try decodeIfPresent(JSONValue.self, forKey: key) {
        case nil, .null?:
            return nil
        case .int(let value)?:
            return Int(value)
        case .double(let value)?:
            throw DecodingError.dataCorruptedError(forKey: key, in: self, debugDescription: "wrong type: expected integer, found \(value)")
        default:
            throw DecodingError.typeMismatch(Int.self, .init(codingPath: codingPath + [key], debugDescription: "expected integer"))
        }
    }
}

/// Orders two records by their canonical JSON: a total order for set elements whose natural
/// key (a name) may legitimately repeat, as in a configuration that the controller must still
/// see whole in order to reject it.
func canonicalJSONOrder<T: Encodable>(_ lhs: T, _ rhs: T) -> Bool {
    let left = (try? ZeekJSON.encode(lhs)) ?? Data()
    let right = (try? ZeekJSON.encode(rhs)) ?? Data()
    return left.lexicographicallyPrecedes(right)
}
