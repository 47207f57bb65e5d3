#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The one JSON encoder/decoder configuration used for everything on the wire.
///
/// Keys are sorted so identical values always produce identical bytes (golden files, compacted
/// topics, log diffs); slashes are not escaped because Zeek's `to_json` does not escape them.
public enum ZeekJSON {
    public static func encode(_ value: some Encodable) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    public static func encodeString(_ value: some Encodable) throws -> String {
        String(decoding: try encode(value), as: UTF8.self)
    }

    /// Decodes `T`; every failure becomes a ``WireDecodingError`` naming where and what.
    ///
    /// The bytes are parsed into a ``JSONValue`` tree once, then `T` is decoded from the tree
    /// (``JSONValueDecoder``); a caller that has the tree already decodes from it with
    /// ``decode(_:from:pathPrefix:)-(_,JSONValue,_)`` and skips the parse.
    public static func decode<T: Decodable>(_ type: T.Type, from data: Data, pathPrefix: String = "") throws(WireDecodingError) -> T {
        let document: JSONValue
        do {
            document = try JSONValue(parsing: data)
        } catch {
            throw WireDecodingError(path: pathPrefix, problem: error.problem)
        }
        return try decode(type, from: document, pathPrefix: pathPrefix)
    }

    /// Decodes `T` from a parsed document.
    public static func decode<T: Decodable>(_ type: T.Type, from document: JSONValue, pathPrefix: String = "") throws(WireDecodingError) -> T {
        do {
            return try JSONValueDecoder.decode(type, from: document, at: .root)
        } catch let error as DecodingError {
            throw WireDecodingError(error, pathPrefix: pathPrefix)
        } catch {
            throw WireDecodingError(path: pathPrefix, problem: "\(error)")
        }
    }
}

/// Why a message or record could not be decoded, and where: `args.config.nodes[2].role:
/// unknown value "Supervisor::WORKR" (...)`. Safe to show to operators and to send back in a
/// `notify_error`.
public struct WireDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Dotted path from the top of the message, with `[n]` for array elements; empty for the whole.
    public var path: String
    public var problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    init(_ error: DecodingError, pathPrefix: String) {
        func render(_ codingPath: [any CodingKey]) -> String {
            codingPath.reduce(pathPrefix) { path, key in
                if let index = key.intValue, key.stringValue.hasPrefix("Index ") || key.stringValue == "\(index)" {
                    return path + "[\(index)]"
                }
                return path.isEmpty ? key.stringValue : path + "." + key.stringValue
            }
        }
        switch error {
        case let .keyNotFound(key, context):
            self.init(path: render(context.codingPath + [key]), problem: "missing required field")
        case let .valueNotFound(type, context):
            self.init(path: render(context.codingPath), problem: "null where a value of type \(Self.zeekTypeName(type)) is required")
        case let .typeMismatch(type, context):
            self.init(path: render(context.codingPath), problem: "wrong type: expected \(Self.zeekTypeName(type))")
        case let .dataCorrupted(context):
            if context.codingPath.isEmpty, context.underlyingError != nil || context.debugDescription.contains("JSON") {
                self.init(path: pathPrefix, problem: "not valid JSON")
            } else {
                self.init(path: render(context.codingPath), problem: context.debugDescription)
            }
        @unknown default:
            self.init(path: pathPrefix, problem: "\(error)")
        }
    }

    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }

    private static func zeekTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "string"
        case is Bool.Type: return "bool"
        case is Int.Type, is Int64.Type, is Int32.Type: return "integer"
        case is Double.Type: return "number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Dictionary") || name.hasPrefix("KeyedDecodingContainer") { return "object" }
            if name.hasPrefix("Array") || name.hasPrefix("UnkeyedDecodingContainer") { return "array" }
            return name
        }
    }
}
