#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension JSONValue {
    /// Parses JSON text (RFC 8259) into a tree, in one pass over the bytes.
    ///
    /// Every message is parsed this way, once, and then decoded from the tree (see
    /// ``JSONValueDecoder``): Foundation's decoder can tell the kind of a Zeek `any` only by
    /// failing to decode it as other kinds, which made the controller's decode of 1,000 agents'
    /// node lists its largest cost. Nesting deeper than ``JSONParser/maximumDepth`` is refused
    /// rather than recursed into, so a hostile message cannot exhaust the stack.
    public init(parsing data: Data) throws(WireDecodingError) {
        let result: Result<JSONValue, JSONParser.SyntaxError> = data.withUnsafeBytes { bytes in
            var parser = JSONParser(bytes: bytes)
            do throws(JSONParser.SyntaxError) {
                return .success(try parser.document())
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let value): self = value
        case .failure(let error): throw WireDecodingError(path: "", problem: "not valid JSON (\(error.reason) at byte \(error.offset))")
        }
    }
}

/// A recursive-descent JSON parser over a byte buffer, strict to RFC 8259 (no trailing commas,
/// no comments). A number whose value is an integer that fits `Int64` becomes
/// ``JSONValue/int(_:)``; every other number becomes ``JSONValue/double(_:)``.
struct JSONParser {
    /// Foundation's limit too; Zeek's own records nest a handful of levels.
    static let maximumDepth = 512

    struct SyntaxError: Error {
        var reason: String
        var offset: Int
    }

    private let bytes: UnsafeRawBufferPointer
    private var index = 0
    private var depth = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    mutating func document() throws(SyntaxError) -> JSONValue {
        skipWhitespace()
        let value = try value()
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected text after the value") }
        return value
    }

    private mutating func value() throws(SyntaxError) -> JSONValue {
        guard index < bytes.count else { throw failure("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw failure("unexpected character")
        }
    }

    private mutating func object() throws(SyntaxError) -> JSONValue {
        try enter()
        index += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if try consume(UInt8(ascii: "}")) {
            depth -= 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a member name") }
            let name = try string()
            skipWhitespace()
            guard try consume(UInt8(ascii: ":")) else { throw failure("expected ':'") }
            skipWhitespace()
            let member = try value()
            // The first of repeated names counts, as with Foundation's decoder.
            if members.index(forKey: name) == nil { members[name] = member }
            skipWhitespace()
            if try consume(UInt8(ascii: ",")) { continue }
            guard try consume(UInt8(ascii: "}")) else { throw failure("expected ',' or '}'") }
            depth -= 1
            return .object(members)
        }
    }

    private mutating func array() throws(SyntaxError) -> JSONValue {
        try enter()
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if try consume(UInt8(ascii: "]")) {
            depth -= 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try value())
            skipWhitespace()
            if try consume(UInt8(ascii: ",")) { continue }
            guard try consume(UInt8(ascii: "]")) else { throw failure("expected ',' or ']'") }
            depth -= 1
            return .array(elements)
        }
    }

    /// A string starting at the opening quote. Strings without escapes, nearly all of them, are
    /// validated and copied in one step.
    private mutating func string() throws(SyntaxError) -> String {
        index += 1
        let start = index
        var ascii = true
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = try utf8(start..<index, ascii: ascii)
                index += 1
                return text
            }
            if byte >= 0x80 { ascii = false }
            if byte == UInt8(ascii: "\\") { return try escapedString(from: start) }
            if byte < 0x20 { throw failure("control character in a string") }
            index += 1
        }
        throw failure("unterminated string")
    }

    private mutating func escapedString(from start: Int) throws(SyntaxError) -> String {
        var unescaped = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: unescaped, as: UTF8.self) else { throw failure("invalid UTF-8 in a string") }
                index += 1
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw failure("unterminated string") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): unescaped.append(escape)
                case UInt8(ascii: "b"): unescaped.append(0x08)
                case UInt8(ascii: "f"): unescaped.append(0x0C)
                case UInt8(ascii: "n"): unescaped.append(0x0A)
                case UInt8(ascii: "r"): unescaped.append(0x0D)
                case UInt8(ascii: "t"): unescaped.append(0x09)
                case UInt8(ascii: "u"): unescaped.append(contentsOf: try unicodeEscape().utf8)
                default: throw failure("invalid escape")
                }
            case 0..<0x20:
                throw failure("control character in a string")
            default:
                unescaped.append(byte)
                index += 1
            }
        }
        throw failure("unterminated string")
    }

    /// The character of a `\uXXXX` escape (after the `u`), joining a UTF-16 surrogate pair.
    private mutating func unicodeEscape() throws(SyntaxError) -> String {
        let first = try hexQuad()
        var scalar: Unicode.Scalar?
        switch first {
        case 0xD800..<0xDC00:
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                throw failure("unpaired UTF-16 surrogate")
            }
            index += 2
            let second = try hexQuad()
            guard (0xDC00..<0xE000).contains(second) else { throw failure("unpaired UTF-16 surrogate") }
            scalar = Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
        case 0xDC00..<0xE000:
            throw failure("unpaired UTF-16 surrogate")
        default:
            scalar = Unicode.Scalar(first)
        }
        guard let scalar else { throw failure("invalid \\u escape") }
        return String(Character(scalar))
    }

    private mutating func hexQuad() throws(SyntaxError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure("unterminated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`, as the grammar has it.
    ///
    /// A number whose value is an integer in `Int64`'s range is ``JSONValue/int(_:)``, however
    /// it is written (`2`, `2.0`, `2e0`, `0.2e1`), computed exactly from its digits as
    /// Foundation's decoder does; any other is ``JSONValue/double(_:)``.
    private mutating func number() throws(SyntaxError) -> JSONValue {
        let start = index
        let negative = bytes[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw failure("expected a digit") }
        let integerDigits = index
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
            if index < bytes.count, isDigit(bytes[index]) { throw failure("leading zero in a number") }
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        let integerEnd = index
        var fractionDigits = index..<index
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            let fractionStart = index
            guard index < bytes.count, isDigit(bytes[index]) else { throw failure("expected a digit after '.'") }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            fractionDigits = fractionStart..<index
        }
        var exponent = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var sign = 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                if bytes[index] == UInt8(ascii: "-") { sign = -1 }
                index += 1
            }
            guard index < bytes.count, isDigit(bytes[index]) else { throw failure("expected a digit in the exponent") }
            while index < bytes.count, isDigit(bytes[index]) {
                // Past a few hundred the value is 0, infinite or not an Int64 anyway.
                exponent = min(exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")), 100_000)
                index += 1
            }
            exponent *= sign
        }
        if let integer = exactInteger(integerDigits..<integerEnd, fractionDigits, exponent: exponent, negative: negative) {
            return .int(integer)
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(text), value.isFinite else { throw failure("number out of range") }
        return .double(value)
    }

    /// The value of the decimal digits in `integer` and `fraction` × 10^`exponent`, negated if
    /// `negative`, if it is an integer within `Int64`'s range.
    private func exactInteger(_ integer: Range<Int>, _ fraction: Range<Int>, exponent: Int, negative: Bool) -> Int64? {
        func digit(_ position: Int) -> UInt64 {
            let byte = position < integer.count ? bytes[integer.lowerBound + position] : bytes[fraction.lowerBound + position - integer.count]
            return UInt64(byte - UInt8(ascii: "0"))
        }
        var count = integer.count + fraction.count
        var scale = exponent - fraction.count
        // A negative scale must fall on trailing zeros: 1500e-2 is 15, 1.5 is not an integer.
        while scale < 0, count > 0, digit(count - 1) == 0 {
            count -= 1
            scale += 1
        }
        guard scale >= 0 else { return nil }
        var magnitude: UInt64 = 0
        for position in 0..<count {
            let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, carry) = times10.addingReportingOverflow(digit(position))
            guard !overflow, !carry else { return nil }
            magnitude = sum
        }
        if magnitude != 0 {
            for _ in 0..<scale {
                let (times10, overflow) = magnitude.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                magnitude = times10
            }
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func literal(_ word: StaticString) throws(SyntaxError) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("unexpected end") }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] {
            throw failure("unexpected character")
        }
        index += count
    }

    private mutating func consume(_ byte: UInt8) throws(SyntaxError) -> Bool {
        guard index < bytes.count else { throw failure("unexpected end") }
        guard bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func enter() throws(SyntaxError) {
        depth += 1
        guard depth <= Self.maximumDepth else { throw failure("nested deeper than \(Self.maximumDepth) levels") }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The string of the bytes in `range`. ASCII, nearly every string on the wire, needs no
    /// validation; the generic validating initialiser costs more than the parse around it.
    private func utf8(_ range: Range<Int>, ascii: Bool) throws(SyntaxError) -> String {
        let text = UnsafeRawBufferPointer(rebasing: bytes[range]).assumingMemoryBound(to: UInt8.self)
        if ascii { return String(decoding: text, as: UTF8.self) }
        guard let validated = String(validating: text, as: UTF8.self) else { throw failure("invalid UTF-8 in a string") }
        return validated
    }

    private func failure(_ reason: String) -> SyntaxError {
        SyntaxError(reason: reason, offset: index)
    }
}
