/// A `Decoder` over a parsed ``JSONValue`` tree: the second half of ``ZeekJSON/decode(_:from:pathPrefix:)``.
///
/// A ``JSONValue`` inside the decoded type (Zeek's `any`) is the subtree itself, taken without
/// trying kinds. Errors are the `DecodingError`s Foundation's decoder throws, with the same
/// coding paths, so ``WireDecodingError`` names fields the same way.
struct JSONValueDecoder: Decoder {
    let value: JSONValue
    private let path: CodingPathNode

    init(value: JSONValue, path: CodingPathNode = .root) {
        self.value = value
        self.path = path
    }

    var codingPath: [any CodingKey] { path.keys }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        switch value {
        case .object(let members): return KeyedDecodingContainer(KeyedContainer(members: members, path: path))
        case .null: throw DecodingError.valueNotFound([String: JSONValue].self, .init(codingPath: codingPath, debugDescription: "expected an object, found null"))
        default: throw DecodingError.typeMismatch([String: JSONValue].self, .init(codingPath: codingPath, debugDescription: "expected an object, found \(value.kind)"))
        }
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        switch value {
        case .array(let elements): return UnkeyedContainer(elements: elements, path: path)
        case .null: throw DecodingError.valueNotFound([JSONValue].self, .init(codingPath: codingPath, debugDescription: "expected an array, found null"))
        default: throw DecodingError.typeMismatch([JSONValue].self, .init(codingPath: codingPath, debugDescription: "expected an array, found \(value.kind)"))
        }
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    /// Decodes `T` from `value` found at `path`: the one place every container decodes from.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue, at path: CodingPathNode) throws -> T {
        if T.self == JSONValue.self { return value as! T }
        return try T(from: JSONValueDecoder(value: value, path: path))
    }

    private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let members: [String: JSONValue]
        let path: CodingPathNode

        var codingPath: [any CodingKey] { path.keys }
        var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

        private func member(_ key: Key) throws -> JSONValue {
            guard let value = members[key.stringValue] else {
                throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for key \"\(key.stringValue)\""))
            }
            return value
        }

        func decodeNil(forKey key: Key) throws -> Bool { try member(key) == .null }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            try JSONValueDecoder.decode(type, from: member(key), at: path.appending(key))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            try JSONValueDecoder(value: member(key), path: path.appending(key)).container(keyedBy: type)
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            try JSONValueDecoder(value: member(key), path: path.appending(key)).unkeyedContainer()
        }

        func superDecoder() throws -> any Decoder {
            JSONValueDecoder(value: members["super"] ?? .null, path: path.appending(IndexKey(stringValue: "super")))
        }

        func superDecoder(forKey key: Key) throws -> any Decoder {
            JSONValueDecoder(value: members[key.stringValue] ?? .null, path: path.appending(key))
        }
    }

    private struct UnkeyedContainer: UnkeyedDecodingContainer {
        let elements: [JSONValue]
        let path: CodingPathNode
        private(set) var currentIndex = 0

        init(elements: [JSONValue], path: CodingPathNode) {
            self.elements = elements
            self.path = path
        }

        var codingPath: [any CodingKey] { path.keys }
        var count: Int? { elements.count }
        var isAtEnd: Bool { currentIndex >= elements.count }

        private var elementPath: CodingPathNode { path.appending(IndexKey(index: currentIndex)) }

        private mutating func next() throws -> (JSONValue, CodingPathNode) {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: elementPath.keys, debugDescription: "unkeyed container is at end"))
            }
            defer { currentIndex += 1 }
            return (elements[currentIndex], elementPath)
        }

        mutating func decodeNil() throws -> Bool {
            guard !isAtEnd else {
                throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: elementPath.keys, debugDescription: "unkeyed container is at end"))
            }
            guard elements[currentIndex] == .null else { return false }
            currentIndex += 1
            return true
        }

        mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
            let (value, path) = try next()
            return try JSONValueDecoder.decode(type, from: value, at: path)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
            let (value, path) = try next()
            return try JSONValueDecoder(value: value, path: path).container(keyedBy: type)
        }

        mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
            let (value, path) = try next()
            return try JSONValueDecoder(value: value, path: path).unkeyedContainer()
        }

        mutating func superDecoder() throws -> any Decoder {
            let (value, path) = try next()
            return JSONValueDecoder(value: value, path: path)
        }
    }
}

extension JSONValueDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { value == .null }

    func decode(_ type: Bool.Type) throws -> Bool {
        guard case .bool(let bool) = value else { throw mismatch(type) }
        return bool
    }

    func decode(_ type: String.Type) throws -> String {
        guard case .string(let string) = value else { throw mismatch(type) }
        return string
    }

    func decode(_ type: Double.Type) throws -> Double {
        switch value {
        case .double(let double): return double
        case .int(let int): return Double(int)
        default: throw mismatch(type)
        }
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }

    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try Self.decode(type, from: value, at: path)
    }

    /// An integer of type `T`: a JSON integer in `T`'s range, or a number with an integral value
    /// (`2.0`, `1e3`) that `T` holds exactly, as Foundation accepts.
    private func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let converted: T?
        switch value {
        case .int(let int): converted = T(exactly: int)
        case .double(let double) where double.rounded(.towardZero) == double: converted = T(exactly: double)
        default: throw mismatch(type)
        }
        guard let converted else {
            throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "number \(value.kind) does not fit in \(T.self)"))
        }
        return converted
    }

    private func mismatch(_ type: Any.Type) -> DecodingError {
        if value == .null {
            return DecodingError.valueNotFound(type, .init(codingPath: codingPath, debugDescription: "expected \(type), found null"))
        }
        return DecodingError.typeMismatch(type, .init(codingPath: codingPath, debugDescription: "expected \(type), found \(value.kind)"))
    }
}

/// The coding path of a value inside a tree, as a list shared by every value below it: a
/// decoder's path costs one node per level and becomes an array only when an error asks for it.
indirect enum CodingPathNode {
    case root
    case key(any CodingKey, parent: CodingPathNode)

    func appending(_ key: any CodingKey) -> CodingPathNode {
        .key(key, parent: self)
    }

    var keys: [any CodingKey] {
        var keys: [any CodingKey] = []
        var node = self
        while case .key(let key, let parent) = node {
            keys.append(key)
            node = parent
        }
        return keys.reversed()
    }
}

/// A coding key made from another's string and integer forms, or an array index, which
/// ``WireDecodingError`` renders as `[n]`.
struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?

    init(stringValue: String, intValue: Int?) {
        self.stringValue = stringValue
        self.intValue = intValue
    }

    init(stringValue: String) { self.init(stringValue: stringValue, intValue: nil) }
    init(intValue: Int) { self.init(stringValue: "\(intValue)", intValue: intValue) }
    init(index: Int) { self.init(stringValue: "Index \(index)", intValue: index) }
}

extension JSONValue {
    /// The kind and, for a scalar, the value, for error messages: `string "x"`, `1.5`, `an object`.
    var kind: String {
        switch self {
        case .null: "null"
        case .bool(let bool): "\(bool)"
        case .int(let int): "\(int)"
        case .double(let double): "\(double)"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
