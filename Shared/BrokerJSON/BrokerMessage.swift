#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementTypes

/// A Zeek event in Broker's data model: `[count 1, count 1, [name, [args...], (metadata)]]`.
public struct BrokerEvent: Hashable, Sendable {
    public var name: String
    public var arguments: [BrokerValue]
    /// `[count id, value]` pairs (1 = network timestamp); absent unless the sender adds them.
    public var metadata: [BrokerValue]?

    public init(name: String, arguments: [BrokerValue], metadata: [BrokerValue]? = nil) {
        self.name = name
        self.arguments = arguments
        self.metadata = metadata
    }

    public init(_ value: BrokerValue) throws(BrokerJSONError) {
        guard case .vector(let outer) = value, outer.count == 3, outer[0] == .count(1), outer[1] == .count(1),
              case .vector(let inner) = outer[2], inner.count == 2 || inner.count == 3,
              case .string(let name) = inner[0], case .vector(let arguments) = inner[1] else {
            throw BrokerJSONError(path: "data", problem: "not an event: expected [count 1, count 1, [name, [args...], (metadata)]]")
        }
        var metadata: [BrokerValue]?
        if inner.count == 3 {
            guard case .vector(let entries) = inner[2] else {
                throw BrokerJSONError(path: "data[2].data[2]", problem: "event metadata must be a vector")
            }
            metadata = entries
        }
        self.init(name: name, arguments: arguments, metadata: metadata)
    }

    public var value: BrokerValue {
        var inner: [BrokerValue] = [.string(name), .vector(arguments)]
        if let metadata { inner.append(.vector(metadata)) }
        return .vector([.count(1), .count(1), .vector(inner)])
    }
}

/// One text frame of Broker's WebSocket JSON protocol (`/v1/messages/json`).
public enum BrokerMessage: Hashable, Sendable {
    /// The client's first frame: the topic prefixes it subscribes to.
    case subscription([String])
    /// The server's answer to the subscription.
    case ack(endpoint: String, version: String)
    /// A value published on a topic (usually an event).
    case data(topic: String, value: BrokerValue)
    /// The server could not handle something; clients may ignore it.
    case error(code: String, context: String)

    /// Frames larger than this are refused before parsing, unless the reader allows more.
    public static let maximumSize = 1_048_576

    /// Parses a frame. `expectingSubscription` reads the client's first frame (a JSON array).
    public init(frame: Data, expectingSubscription: Bool = false, maximumSize: Int = maximumSize) throws(BrokerJSONError) {
        guard frame.count <= maximumSize else {
            throw BrokerJSONError(path: "", problem: "frame of \(frame.count) bytes exceeds the \(maximumSize)-byte limit")
        }
        let json: JSONValue
        do {
            json = try ZeekJSON.decode(JSONValue.self, from: frame)
        } catch {
            throw BrokerJSONError(path: "", problem: "not JSON: \(error)")
        }
        if expectingSubscription {
            guard case .array(let items) = json else {
                throw BrokerJSONError(path: "", problem: "the first frame must be a JSON array of topic prefixes")
            }
            var topics: [String] = []
            for (index, item) in items.enumerated() {
                guard case .string(let topic) = item else { throw BrokerJSONError(path: "[\(index)]", problem: "topic must be a string") }
                topics.append(topic)
            }
            self = .subscription(topics)
            return
        }
        guard case .object(let members) = json else {
            throw BrokerJSONError(path: "", problem: "a frame must be a JSON object")
        }
        func string(_ key: String) throws(BrokerJSONError) -> String {
            guard case .string(let value)? = members[key] else { throw BrokerJSONError(path: key, problem: "missing or not a string") }
            return value
        }
        switch try string("type") {
        case "data-message":
            let tag = try string("@data-type")
            guard let data = members["data"] else { throw BrokerJSONError(path: "data", problem: "missing") }
            self = .data(topic: try string("topic"), value: try BrokerValue(tag: tag, data: data))
        case "ack":
            self = .ack(endpoint: try string("endpoint"), version: try string("version"))
        case "error":
            self = .error(code: try string("code"), context: try string("context"))
        case let other:
            throw BrokerJSONError(path: "type", problem: "unknown message type \"\(other.prefix(64))\"")
        }
    }

    public var json: JSONValue {
        switch self {
        case .subscription(let topics):
            .array(topics.map(JSONValue.string))
        case let .ack(endpoint, version):
            .object(["type": "ack", "endpoint": .string(endpoint), "version": .string(version)])
        case let .data(topic, value):
            .object(["type": "data-message", "topic": .string(topic), "@data-type": .string(value.tag), "data": value.jsonData])
        case let .error(code, context):
            .object(["type": "error", "code": .string(code), "context": .string(context)])
        }
    }

    /// The frame's text.
    public func encoded() throws -> Data {
        try ZeekJSON.encode(json)
    }
}
