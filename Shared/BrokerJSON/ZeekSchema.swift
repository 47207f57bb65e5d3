import ManagementTypes

/// The Zeek type of a value, enough to move it between the project's record JSON (Zeek's
/// `to_json`: objects keyed by field name, unset fields omitted) and Broker's data model
/// (records as vectors in declaration order, unset fields as `none`).
public indirect enum ZeekType: Sendable {
    case string, bool, count, int, double, addr, port, enumeration
    case vector(ZeekType)
    case set(ZeekType)
    /// `table[K] of V`, whose JSON form is an object keyed by `K`'s text.
    case table(ZeekType)
    case record([(name: String, type: ZeekType)])
    /// Zeek's `any` (`Management::Result$data`): the type is inferred from the JSON.
    case any

    /// `value` (record JSON) in Broker's data model; `nil` is `none`.
    public func broker(_ value: JSONValue?) -> BrokerValue {
        guard let value, value != .null else { return .none }
        switch (self, value) {
        case (.string, .string(let text)): return .string(text)
        case (.bool, .bool(let flag)): return .boolean(flag)
        case (.count, .int(let number)): return number >= 0 ? .count(UInt64(number)) : .integer(number)
        case (.int, .int(let number)): return .integer(number)
        case (.double, .double(let number)): return .real(number)
        case (.double, .int(let number)): return .real(Double(number))
        case (.addr, .string(let text)): return IPAddress(text).map(BrokerValue.address) ?? .string(text)
        case (.port, .object): return (try? value.decode(as: ZeekPort.self)).map(BrokerValue.port) ?? .none
        case (.enumeration, .string(let text)): return .enumValue(text)
        case (.vector(let element), .array(let items)): return .vector(items.map { element.broker($0) })
        case (.set(let element), .array(let items)): return .set(items.map { element.broker($0) })
        case (.table(let element), .object(let members)):
            return .table(members.keys.sorted().map { (key: .string($0), value: element.broker(members[$0])) })
        case (.record(let fields), .object(let members)):
            return .vector(fields.map { $0.type.broker(members[$0.name]) })
        case (.any, _): return Self.inferred(value)
        default: return Self.inferred(value)
        }
    }

    /// `value` from Broker's data model as record JSON; `nil` for `none`.
    public func json(_ value: BrokerValue, path: String = "") throws(BrokerJSONError) -> JSONValue? {
        func mismatch() -> BrokerJSONError { BrokerJSONError(path: path, problem: "expected \(self.name), got \(value.tag)") }
        switch (self, value) {
        case (_, .none): return nil
        case (.string, .string(let text)), (.enumeration, .enumValue(let text)): return .string(text)
        case (.bool, .boolean(let flag)): return .bool(flag)
        case (.count, .count(let number)), (.int, .count(let number)): return .int(Int64(clamping: number))
        case (.int, .integer(let number)), (.count, .integer(let number)): return .int(number)
        case (.double, .real(let number)): return .double(number)
        case (.addr, .address(let address)): return .string(address.description)
        case (.port, .port(let port)): return try? JSONValue(encoding: port)
        case (.vector(let element), .vector(let items)), (.set(let element), .set(let items)),
             (.vector(let element), .set(let items)), (.set(let element), .vector(let items)):
            var result: [JSONValue] = []
            for (index, item) in items.enumerated() {
                result.append(try element.json(item, path: "\(path)[\(index)]") ?? .null)
            }
            return .array(result)
        case (.table(let element), .table(let entries)):
            var result: [String: JSONValue] = [:]
            for entry in entries {
                guard case .string(let key) = entry.key else { throw BrokerJSONError(path: path, problem: "table keys must be strings") }
                result[key] = try element.json(entry.value, path: "\(path)[\(key)]") ?? .null
            }
            return .object(result)
        case (.record(let fields), .vector(let items)):
            guard items.count <= fields.count else {
                throw BrokerJSONError(path: path, problem: "record of \(fields.count) fields got \(items.count) values")
            }
            var result: [String: JSONValue] = [:]
            for (field, item) in zip(fields, items) {
                if let converted = try field.type.json(item, path: path.isEmpty ? field.name : "\(path).\(field.name)") {
                    result[field.name] = converted
                }
            }
            return .object(result)
        case (.any, _):
            return try Self.inferredJSON(value, path: path)
        default:
            throw mismatch()
        }
    }

    /// The record JSON of an `any` value from its Broker form alone (Zeek's own `any`
    /// results carry e.g. the string `to_json` made).
    private static func inferredJSON(_ value: BrokerValue, path: String) throws(BrokerJSONError) -> JSONValue? {
        switch value {
        case .none: return nil
        case .boolean(let flag): return .bool(flag)
        case .count(let number): return .int(Int64(clamping: number))
        case .integer(let number): return .int(number)
        case .real(let number): return .double(number)
        case .timespan(let nanoseconds): return .double(Double(nanoseconds) / 1e9)
        case .timestamp(let milliseconds): return .double(Double(milliseconds) / 1e3)
        case .string(let text), .enumValue(let text), .subnet(let text): return .string(text)
        case .address(let address): return .string(address.description)
        case .port(let port): return try? JSONValue(encoding: port)
        case .vector(let items), .set(let items):
            var result: [JSONValue] = []
            for (index, item) in items.enumerated() { result.append(try inferredJSON(item, path: "\(path)[\(index)]") ?? .null) }
            return .array(result)
        case .table(let entries):
            var result: [String: JSONValue] = [:]
            for entry in entries {
                guard case .string(let key) = entry.key else { throw BrokerJSONError(path: path, problem: "table keys must be strings") }
                result[key] = try inferredJSON(entry.value, path: "\(path)[\(key)]") ?? .null
            }
            return .object(result)
        }
    }

    private var name: String {
        switch self {
        case .string: "string"
        case .bool: "bool"
        case .count: "count"
        case .int: "int"
        case .double: "double"
        case .addr: "addr"
        case .port: "port"
        case .enumeration: "enum"
        case .vector: "vector"
        case .set: "set"
        case .table: "table"
        case .record: "record"
        case .any: "any"
        }
    }

    /// The Broker form of an `any` value, recognising the records results carry.
    private static func inferred(_ value: JSONValue) -> BrokerValue {
        switch value {
        case .null: return .none
        case .bool(let flag): return .boolean(flag)
        case .int(let number): return number >= 0 ? .count(UInt64(number)) : .integer(number)
        case .double(let number): return .real(number)
        case .string(let text): return .string(text)
        case .object(let members):
            if members["stdout"] != nil, members["stderr"] != nil { return ZeekType.nodeOutputs.broker(value) }
            if members["instances"] != nil || members["nodes"] != nil { return ZeekType.configuration.broker(value) }
            return ZeekType.table(.any).broker(value)
        case .array(let items):
            guard case .object(let first)? = items.first else { return .vector(items.map(inferred)) }
            if first["state"] != nil { return ZeekType.vector(.nodeStatus).broker(value) }
            if first["host"] != nil { return ZeekType.vector(.instance).broker(value) }
            return .vector(items.map(inferred))
        }
    }
}

extension ZeekType {
    public static let option = ZeekType.record([("name", .string), ("value", .string)])
    public static let instance = ZeekType.record([("name", .string), ("host", .addr), ("listen_port", .port)])
    public static let node = ZeekType.record([
        ("name", .string), ("instance", .string), ("role", .enumeration), ("state", .enumeration), ("p", .port),
        ("scripts", .vector(.string)), ("options", .set(.option)), ("interface", .string), ("cpu_affinity", .int),
        ("env", .table(.string)), ("metrics_port", .port),
    ])
    public static let configuration = ZeekType.record([("id", .string), ("instances", .set(.instance)), ("nodes", .set(.node))])
    public static let nodeStatus = ZeekType.record([
        ("node", .string), ("state", .enumeration), ("mgmt_role", .enumeration), ("cluster_role", .enumeration),
        ("pid", .int), ("p", .port), ("metrics_port", .port),
    ])
    public static let result = ZeekType.record([
        ("reqid", .string), ("success", .bool), ("instance", .string), ("data", .any), ("error", .string), ("node", .string),
    ])
    public static let nodeOutputs = ZeekType.record([("stdout", .string), ("stderr", .string)])
}
