import Foundation
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import Testing

/// The wire's JSON parser and tree decoder: the same values and the same refusals as
/// Foundation's `JSONDecoder`, which the contract was first written against.
@Suite("JSON parser")
struct JSONParserTests {
    /// Foundation's reading of the same bytes, through `JSONValue`'s own `init(from:)`.
    func foundation(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    static let documents = [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
        #"  [ 1 , -2 , 0 , -0.5 , 1.25e3 , 2E-2 , 9223372036854775807 , -9223372036854775808 ]  "#,
        #"[18446744073709551616, 1e300, -1.5e-300, 0.1, 123456789.125]"#,
        #""a \"quoted\" \\ \/ \b\f\n\r\t string""#,
        #"["\u00e9\u4e2d\ud83d\ude00", "é中😀", "\u0000"]"#,
        #"{"nested":[[[[{"x":[]}]]]],"empty":{},"s":""}"#,
        #"{"dup":1,"dup":2}"#,
        "true", "false", "null", "0", #""""#,
    ]

    @Test("parses as Foundation does", arguments: documents)
    func parsesAsFoundation(_ text: String) throws {
        #expect(try JSONValue(parsing: Data(text.utf8)) == foundation(text))
    }

    static let malformed: [(String, String)] = [
        ("", "unexpected end at byte 0"),
        ("[1,]", "unexpected character at byte 3"),
        (#"{"a":1,}"#, "expected a member name at byte 7"),
        (#"{"a" 1}"#, "expected ':' at byte 5"),
        ("[01]", "leading zero in a number at byte 2"),
        ("[+1]", "unexpected character at byte 1"),
        ("[1.]", "expected a digit after '.' at byte 3"),
        ("[1e]", "expected a digit in the exponent at byte 3"),
        ("[-]", "expected a digit at byte 2"),
        ("[1e999]", "number out of range at byte 6"),
        ("[NaN]", "unexpected character at byte 1"),
        (#"["abc"#, "unterminated string at byte 5"),
        ("[\"a\u{01}\"]", "control character in a string at byte 3"),
        (#"["\x"]"#, "invalid escape at byte 4"),
        (#"["\ud800"]"#, "unpaired UTF-16 surrogate at byte 8"),
        (#"["\udc00"]"#, "unpaired UTF-16 surrogate at byte 8"),
        (#"["\u12g4"]"#, #"invalid \u escape at byte 6"#),
        ("[tru]", "unexpected character at byte 1"),
        ("{} {}", "unexpected text after the value at byte 3"),
        ("[1 2]", "expected ',' or ']' at byte 3"),
    ]

    /// RFC 8259's grammar; Foundation's decoder also accepts trailing commas, which no Zeek sends.
    @Test("refuses what is not JSON, saying what and where", arguments: malformed)
    func refusesMalformed(_ testCase: (String, String)) {
        #expect(throws: WireDecodingError(path: "", problem: "not valid JSON (\(testCase.1))")) {
            try JSONValue(parsing: Data(testCase.0.utf8))
        }
    }

    @Test func refusesInvalidUTF8() {
        #expect(throws: WireDecodingError(path: "", problem: "not valid JSON (invalid UTF-8 in a string at byte 3)")) {
            try JSONValue(parsing: Data([0x22, 0x61, 0xC3, 0x22]))
        }
        #expect(throws: WireDecodingError(path: "", problem: "not valid JSON (invalid UTF-8 in a string at byte 6)")) {
            try JSONValue(parsing: Data([0x22, 0x5C, 0x6E, 0xFF, 0xFE, 0x61, 0x22]))
        }
    }

    /// A hostile message nested a million levels deep is an error, not a stack overflow.
    @Test func refusesDeepNesting() throws {
        let deep = String(repeating: "[", count: 1_000_000) + String(repeating: "]", count: 1_000_000)
        #expect(throws: WireDecodingError(path: "", problem: "not valid JSON (nested deeper than 512 levels at byte 512)")) {
            try JSONValue(parsing: Data(deep.utf8))
        }
        let allowed = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try JSONValue(parsing: Data(allowed.utf8)) }
    }

    /// Random trees survive encoding and parsing unchanged.
    @Test func randomTreesRoundTrip() throws {
        var generator = SplitMix64(seed: 0x5eed)
        for _ in 0..<200 {
            let value = Self.randomValue(depth: 4, using: &generator)
            #expect(try JSONValue(parsing: ZeekJSON.encode(value)) == value)
            #expect(try JSONValue(parsing: ZeekJSON.encode(value)) == JSONDecoder().decode(JSONValue.self, from: ZeekJSON.encode(value)))
        }
    }

    /// Damaged documents (bytes replaced, inserted, dropped, cut short) never crash the parser,
    /// and whatever it accepts Foundation accepts as the same value: it is only ever stricter.
    @Test func damagedDocumentsAreRefusedOrReadAsFoundationReadsThem() throws {
        var generator = SplitMix64(seed: 0xbad)
        let alphabet = Array("{}[]\":,.-+eE0123456789 \tnulltruefalse\\u00e9é".utf8) + [0x00, 0x1f, 0x80, 0xc3, 0xff]
        var accepted = 0
        for _ in 0..<2_000 {
            var bytes = Array(try ZeekJSON.encode(Self.randomValue(depth: 3, using: &generator)))
            for _ in 0..<Int.random(in: 1...3, using: &generator) where !bytes.isEmpty {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<4, using: &generator) {
                case 0: bytes[at] = alphabet.randomElement(using: &generator)!
                case 1: bytes.insert(alphabet.randomElement(using: &generator)!, at: at)
                case 2: bytes.remove(at: at)
                default: bytes.removeSubrange(at...)
                }
            }
            let data = Data(bytes)
            guard let ours = try? JSONValue(parsing: data) else { continue }
            accepted += 1
            #expect(Self.same(try JSONDecoder().decode(JSONValue.self, from: data), ours), "\(String(decoding: data, as: UTF8.self))")
        }
        #expect(accepted > 0, "some damage leaves valid JSON, so the comparison ran")
    }

    /// Equal, except that a number may be an integer on one side and a double on the other
    /// if both are the same double: past 2^53, Foundation reads a fraction such as
    /// `-86450029380330356.4` as the integer nearest its double; the parser keeps the double.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case let (.int(x), .double(y)), let (.double(y), .int(x)): return Double(x) == y
        case let (.array(x), .array(y)): return x.count == y.count && zip(x, y).allSatisfy(same)
        case let (.object(x), .object(y)): return x.keys == y.keys && x.allSatisfy { key, value in same(value, y[key]!) }
        default: return a == b
        }
    }

    static func randomValue(depth: Int, using generator: inout SplitMix64) -> JSONValue {
        let strings = ["", "a", "é中😀", "quote \" and \\ and \n", "\u{7}", "/path/to"]
        switch Int.random(in: 0..<(depth > 0 ? 8 : 6), using: &generator) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &generator))
        case 2: return .int(Int64.random(in: .min ... .max, using: &generator))
        case 3: return .double(Double(Int32.random(in: .min ... .max, using: &generator)) + 0.5)
        case 4: return .double(Double.random(in: -1e10...1e10, using: &generator).nextUp)
        case 5: return .string(strings.randomElement(using: &generator)!)
        case 6: return .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in randomValue(depth: depth - 1, using: &generator) })
        default:
            return .object(Dictionary((0..<Int.random(in: 0...4, using: &generator)).map { index in
                ("k\(index)", randomValue(depth: depth - 1, using: &generator))
            }, uniquingKeysWith: { $1 }))
        }
    }

    // MARK: Decoding typed values from the tree

    struct Sample: Codable, Equatable {
        var name: String
        var count: Int
        var small: UInt8
        var ratio: Double
        var flag: Bool
        var tags: [String]
        var labels: [String: Int]
        var note: String?
        var any: JSONValue?
        var items: [Item]
        struct Item: Codable, Equatable { var id: Int64; var value: Float }
    }

    @Test func typedValuesDecodeAsWithFoundation() throws {
        let text = #"{"name":"n","count":3,"small":255,"ratio":2,"flag":true,"tags":["a","b"],"labels":{"x":1},"note":null,"any":{"k":[1,"2",null]},"items":[{"id":-7,"value":1.5}],"extra":0}"#
        let ours = try ZeekJSON.decode(Sample.self, from: Data(text.utf8))
        #expect(ours == (try JSONDecoder().decode(Sample.self, from: Data(text.utf8))))
        #expect(ours.any == ["k": [1, "2", nil]])
        #expect(ours.ratio == 2)
    }

    @Test("typed errors name the path", arguments: [
        (#"{"count":3}"#, "name: missing required field"),
        (#"{"name":"n","count":1.5}"#, "count: wrong type: expected integer"),
        (#"{"name":"n","count":"3"}"#, "count: wrong type: expected integer"),
        (#"{"name":"n","count":3,"small":256}"#, "small: number 256 does not fit in UInt8"),
        (#"{"name":"n","count":3,"small":1,"ratio":null}"#, "ratio: null where a value of type number is required"),
        (#"{"name":"n","count":3,"small":1,"ratio":1,"flag":1}"#, "flag: wrong type: expected bool"),
        (#"{"name":"n","count":3,"small":1,"ratio":1,"flag":true,"tags":["a",2]}"#, "tags[1]: wrong type: expected string"),
        (#"{"name":"n","count":3,"small":1,"ratio":1,"flag":true,"tags":[],"labels":{"x":"y"}}"#, "labels.x: wrong type: expected integer"),
        (#"{"name":"n","count":3,"small":1,"ratio":1,"flag":true,"tags":[],"labels":{},"items":[{"id":1,"value":1},{"value":1}]}"#,
         "items[1].id: missing required field"),
    ])
    func typedErrors(_ testCase: (String, String)) {
        let error = #expect(throws: WireDecodingError.self) { try ZeekJSON.decode(Sample.self, from: Data(testCase.0.utf8)) }
        #expect(error?.description == testCase.1)
    }

    /// A number is an integer if its decimal value is one, computed exactly from its digits.
    @Test func numbersAreIntegersByValue() throws {
        func parse(_ text: String) throws -> JSONValue { try JSONValue(parsing: Data(text.utf8)) }
        #expect(try parse("[2.0, 0.2e1, 1500e-2, 1e3, -0.0, -554179089252932815.0, -9223372036854775808]")
                == [2, 2, 15, 1000, 0, .int(-554_179_089_252_932_815), .int(.min)])
        #expect(try parse("[1.5, 15e-2, 9223372036854775808, 1e-400, 1e19]")
                == [.double(1.5), .double(0.15), .double(9_223_372_036_854_775_808), .double(0), .double(1e19)])
    }

    @Test func integralNumbersDecodeAsIntegers() throws {
        #expect(try ZeekJSON.decode([Int].self, from: Data("[2.0, 1e3, -0.0]".utf8)) == [2, 1000, 0])
        #expect(try ZeekJSON.decode([Double].self, from: Data("[2, -3, 0.5]".utf8)) == [2, -3, 0.5])
    }

    /// A message is parsed once: its head, its `reqid` and its arguments come from the tree it keeps.
    @Test func inboundMessageKeepsItsParsedDocument() throws {
        let data = Data(#"{"event":"Management::Controller::API::get_instances_request","args":{"reqid":"r1"},"sender":"c","ts":1,"api_version":1}"#.utf8)
        let message = try InboundMessage(parsing: .init(topic: "t", partition: 0, offset: 0, key: nil, value: data, headers: [], timestamp: nil),
                                         on: .controllerAPI)
        #expect(message.head.sender == "c")
        #expect(message.reqid == "r1")
        #expect(message.document == (try JSONValue(parsing: data)))
    }
}

/// A small seeded generator, so a failing tree can be found again.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
