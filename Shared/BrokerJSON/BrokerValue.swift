#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementTypes

/// A value of Broker's data model, as its WebSocket JSON protocol carries it: every value is an
/// object `{"@data-type": <tag>, "data": <payload>}`, records travel as vectors of their fields
/// in declaration order (unset fields as `none`).
///
/// This is what zeek-client speaks; see ``BrokerMessage`` for the frames around it.
public indirect enum BrokerValue: Hashable, Sendable {
    case none
    case boolean(Bool)
    case count(UInt64)
    case integer(Int64)
    case real(Double)
    /// `<n><unit>` with unit ns, ms, s, min, h or d, kept as nanoseconds.
    case timespan(nanoseconds: Int64)
    /// Milliseconds since the epoch (the wire has millisecond precision).
    case timestamp(milliseconds: Int64)
    case string(String)
    /// A fully qualified enum name, e.g. `Management::RUNNING`.
    case enumValue(String)
    case address(IPAddress)
    /// `10.0.0.0/8`, kept as text (validated: an address, a slash, a prefix length).
    case subnet(String)
    case port(ZeekPort)
    case vector([BrokerValue])
    case set([BrokerValue])
    case table([(key: BrokerValue, value: BrokerValue)])

    public static func == (lhs: BrokerValue, rhs: BrokerValue) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): true
        case let (.boolean(a), .boolean(b)): a == b
        case let (.count(a), .count(b)): a == b
        case let (.integer(a), .integer(b)): a == b
        case let (.real(a), .real(b)): a == b
        case let (.timespan(a), .timespan(b)): a == b
        case let (.timestamp(a), .timestamp(b)): a == b
        case let (.string(a), .string(b)), let (.enumValue(a), .enumValue(b)), let (.subnet(a), .subnet(b)): a == b
        case let (.address(a), .address(b)): a == b
        case let (.port(a), .port(b)): a == b
        case let (.vector(a), .vector(b)), let (.set(a), .set(b)): a == b
        case let (.table(a), .table(b)): a.elementsEqual(b) { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(tag)
        switch self {
        case .none: break
        case .boolean(let value): hasher.combine(value)
        case .count(let value): hasher.combine(value)
        case .integer(let value): hasher.combine(value)
        case .real(let value): hasher.combine(value)
        case .timespan(let value), .timestamp(let value): hasher.combine(value)
        case .string(let value), .enumValue(let value), .subnet(let value): hasher.combine(value)
        case .address(let value): hasher.combine(value)
        case .port(let value): hasher.combine(value)
        case .vector(let values), .set(let values): hasher.combine(values)
        case .table(let entries):
            for entry in entries {
                hasher.combine(entry.key)
                hasher.combine(entry.value)
            }
        }
    }

    /// The `@data-type` tag.
    public var tag: String {
        switch self {
        case .none: "none"
        case .boolean: "boolean"
        case .count: "count"
        case .integer: "integer"
        case .real: "real"
        case .timespan: "timespan"
        case .timestamp: "timestamp"
        case .string: "string"
        case .enumValue: "enum-value"
        case .address: "address"
        case .subnet: "subnet"
        case .port: "port"
        case .vector: "vector"
        case .set: "set"
        case .table: "table"
        }
    }
}

/// Why a Broker JSON value or frame was refused; `path` says where (`data[2].data[0]`).
public struct BrokerJSONError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var problem: String

    public init(path: String, problem: String) {
        self.path = path
        self.problem = problem
    }

    public var description: String { path.isEmpty ? problem : "\(path): \(problem)" }
}
