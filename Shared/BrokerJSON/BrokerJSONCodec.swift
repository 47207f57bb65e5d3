#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementTypes

extension BrokerValue {
    /// Reads a tagged value (`{"@data-type": ..., "data": ...}`).
    public init(json: JSONValue, path: String = "") throws(BrokerJSONError) {
        guard case .object(let members) = json else {
            throw BrokerJSONError(path: path, problem: "expected an object with @data-type and data")
        }
        guard case .string(let tag)? = members["@data-type"] else {
            throw BrokerJSONError(path: path, problem: "missing @data-type")
        }
        guard let data = members["data"] else {
            throw BrokerJSONError(path: path, problem: "missing data")
        }
        try self.init(tag: tag, data: data, path: path)
    }

    /// Reads a value from its tag and payload (a data message inlines both at the top level).
    public init(tag: String, data: JSONValue, path: String = "") throws(BrokerJSONError) {
        let dataPath = path.isEmpty ? "data" : "\(path).data"
        func fail(_ problem: String) -> BrokerJSONError { BrokerJSONError(path: dataPath, problem: problem) }
        func text() throws(BrokerJSONError) -> String {
            guard case .string(let value) = data else { throw fail("\(tag) must be a string") }
            return value
        }
        func elements() throws(BrokerJSONError) -> [BrokerValue] {
            guard case .array(let items) = data else { throw fail("\(tag) must be an array") }
            var values: [BrokerValue] = []
            for (index, item) in items.enumerated() { values.append(try BrokerValue(json: item, path: "\(dataPath)[\(index)]")) }
            return values
        }
        switch tag {
        case "none":
            self = .none
        case "boolean":
            guard case .bool(let value) = data else { throw fail("boolean must be true or false") }
            self = .boolean(value)
        case "count":
            guard case .int(let value) = data, value >= 0 else { throw fail("count must be a non-negative integer") }
            self = .count(UInt64(value))
        case "integer":
            guard case .int(let value) = data else { throw fail("integer must be an integer") }
            self = .integer(value)
        case "real":
            switch data {
            case .double(let value): self = .real(value)
            case .int(let value): self = .real(Double(value))
            default: throw fail("real must be a number")
            }
        case "timespan":
            guard let nanoseconds = Self.parseTimespan(try text()) else { throw fail("timespan must be <number><ns|us|ms|s|min|h|d>") }
            self = .timespan(nanoseconds: nanoseconds)
        case "timestamp":
            guard let milliseconds = Self.parseTimestamp(try text()) else { throw fail("timestamp must be ISO 8601, e.g. 2022-04-10T07:00:00.000") }
            self = .timestamp(milliseconds: milliseconds)
        case "string":
            self = .string(try text())
        case "enum-value":
            self = .enumValue(try text())
        case "address":
            let value = try text()
            guard let address = IPAddress(value) else { throw fail("\"\(value.prefix(64))\" is not an IP address") }
            self = .address(address)
        case "subnet":
            let value = try text()
            let parts = value.split(separator: "/")
            guard parts.count == 2, IPAddress(String(parts[0])) != nil, let length = Int(parts[1]), (0...128).contains(length) else {
                throw fail("\"\(value.prefix(64))\" is not a subnet")
            }
            self = .subnet(value)
        case "port":
            let value = try text()
            let parts = value.split(separator: "/", omittingEmptySubsequences: false)
            let transport: ZeekPort.TransportProtocol? = parts.count == 2 ? (parts[1] == "?" ? .unknown : ZeekPort.TransportProtocol(rawValue: String(parts[1]))) : nil
            guard parts.count == 2, let number = UInt16(parts[0]), let transport else { throw fail("port must be <number>/<tcp|udp|icmp|?>") }
            self = .port(ZeekPort(number, transport))
        case "vector":
            self = .vector(try elements())
        case "set":
            self = .set(try elements())
        case "table":
            guard case .array(let items) = data else { throw fail("table must be an array of key/value objects") }
            var entries: [(key: BrokerValue, value: BrokerValue)] = []
            for (index, item) in items.enumerated() {
                let itemPath = "\(dataPath)[\(index)]"
                guard case .object(let pair) = item, let key = pair["key"], let value = pair["value"] else {
                    throw BrokerJSONError(path: itemPath, problem: "table entry must be {\"key\": ..., \"value\": ...}")
                }
                entries.append((try BrokerValue(json: key, path: "\(itemPath).key"), try BrokerValue(json: value, path: "\(itemPath).value")))
            }
            self = .table(entries)
        default:
            throw BrokerJSONError(path: path.isEmpty ? "@data-type" : "\(path).@data-type", problem: "unknown @data-type \"\(tag.prefix(64))\"")
        }
    }

    /// The payload, without its tag.
    public var jsonData: JSONValue {
        switch self {
        case .none: .object([:])
        case .boolean(let value): .bool(value)
        case .count(let value): .int(Int64(clamping: value))
        case .integer(let value): .int(value)
        case .real(let value): .double(value)
        case .timespan(let nanoseconds): .string(Self.formatTimespan(nanoseconds))
        case .timestamp(let milliseconds): .string(Self.formatTimestamp(milliseconds))
        case .string(let value), .enumValue(let value), .subnet(let value): .string(value)
        case .address(let value): .string(value.description)
        case .port(let value): .string("\(value.number)/\(value.transport == .unknown ? "?" : value.transport.rawValue)")
        case .vector(let values), .set(let values): .array(values.map(\.json))
        case .table(let entries): .array(entries.map { .object(["key": $0.key.json, "value": $0.value.json]) })
        }
    }

    /// The tagged form, `{"@data-type": ..., "data": ...}`.
    public var json: JSONValue {
        .object(["@data-type": .string(tag), "data": jsonData])
    }

    // MARK: Time

    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("ns", 1), ("us", 1_000), ("ms", 1_000_000), ("s", 1_000_000_000),
        ("min", 60_000_000_000), ("h", 3_600_000_000_000), ("d", 86_400_000_000_000),
    ]

    static func parseTimespan(_ text: String) -> Int64? {
        guard let split = text.firstIndex(where: { $0.isLetter }), let number = Double(text[..<split]),
              let unit = units.first(where: { $0.suffix == text[split...] }) else { return nil }
        let value = number * Double(unit.nanoseconds)
        guard value.isFinite, abs(value) < 9.2e18 else { return nil }
        return Int64(value.rounded())
    }

    /// The largest unit that states the span exactly, as Broker writes it (`1500ms`, `2min`).
    static func formatTimespan(_ nanoseconds: Int64) -> String {
        let unit = units.reversed().first { nanoseconds % $0.nanoseconds == 0 } ?? units[0]
        return "\(nanoseconds / unit.nanoseconds)\(unit.suffix)"
    }

    static func parseTimestamp(_ text: String) -> Int64? {
        // YYYY-MM-DDTHH:MM:SS[.fff...], UTC.
        let characters = Array(text.utf8)
        guard characters.count >= 19, characters[4] == UInt8(ascii: "-"), characters[7] == UInt8(ascii: "-"),
              characters[10] == UInt8(ascii: "T"), characters[13] == UInt8(ascii: ":"), characters[16] == UInt8(ascii: ":") else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: characters[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var milliseconds = 0
        if characters.count > 19 {
            // Any number of digits, of which the first three count: 10^digits would overflow
            // for a long fraction, and a fraction like "+5" is no fraction.
            let fraction = characters[20...]
            guard characters[19] == UInt8(ascii: "."), !fraction.isEmpty,
                  fraction.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
            let digits = Array(fraction.prefix(3))
            for position in 0..<3 {
                milliseconds = milliseconds * 10 + (position < digits.count ? Int(digits[position] - UInt8(ascii: "0")) : 0)
            }
        }
        let days = daysFromCivil(year: year, month: month, day: day)
        return Int64(((days * 24 + hour) * 60 + minute) * 60 + second) * 1000 + Int64(milliseconds)
    }

    static func formatTimestamp(_ milliseconds: Int64) -> String {
        let totalSeconds = Int(milliseconds.floorDivided(by: 1000))
        let millis = Int(milliseconds - Int64(totalSeconds) * 1000)
        let days = totalSeconds.floorDivided(by: 86_400)
        let secondsOfDay = totalSeconds - days * 86_400
        let (year, month, day) = civilFromDays(days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let fraction = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(year)-\(two(month))-\(two(day))T\(two(secondsOfDay / 3600)):\(two(secondsOfDay / 60 % 60)):\(two(secondsOfDay % 60)).\(fraction)"
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

extension BinaryInteger {
    fileprivate func floorDivided(by divisor: Self) -> Self {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
