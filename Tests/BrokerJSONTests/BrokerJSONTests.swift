import BrokerJSON
import Foundation
import ManagementTypes
import Testing

@Suite("Broker's WebSocket JSON data model")
struct BrokerJSONTests {
    func roundTrip(_ value: BrokerValue) throws -> BrokerValue {
        let text = try ZeekJSON.encode(value.json)
        return try BrokerValue(json: try ZeekJSON.decode(JSONValue.self, from: text))
    }

    @Test("every data type round-trips", arguments: [
        BrokerValue.none, .boolean(true), .boolean(false), .count(0), .count(42), .integer(-7), .real(1.5),
        .timespan(nanoseconds: 1_500_000_000), .timespan(nanoseconds: 120_000_000_000), .timespan(nanoseconds: 7),
        .timestamp(milliseconds: 1_649_574_000_123), .string("wörker \"1\""), .enumValue("Management::RUNNING"),
        .address(IPAddress("192.0.2.1")!), .address(IPAddress("2001:db8::1")!), .subnet("10.0.0.0/8"),
        .port(ZeekPort(2151, .tcp)), .port(ZeekPort(53, .udp)), .port(ZeekPort(0, .unknown)),
        .vector([.string("a"), .none, .vector([.count(1)])]), .set([.string("x"), .string("y")]),
        .table([(key: .string("A"), value: .string("b")), (key: .string("C"), value: .none)]),
    ])
    func roundTrips(_ value: BrokerValue) throws {
        #expect(try roundTrip(value) == value)
    }

    @Test func wireFormsMatchBroker() throws {
        #expect(BrokerValue.timespan(nanoseconds: 1_500_000_000).jsonData == "1500ms")
        #expect(BrokerValue.timespan(nanoseconds: 120_000_000_000).jsonData == "2min")
        #expect(BrokerValue.timestamp(milliseconds: 1_649_574_000_000).jsonData == "2022-04-10T07:00:00.000")
        #expect(BrokerValue.port(ZeekPort(0, .unknown)).jsonData == "0/?")
        #expect(BrokerValue.none.json == ["@data-type": "none", "data": [:]])
        #expect(try BrokerValue(tag: "timestamp", data: "2022-04-10T07:00:00.5") == .timestamp(milliseconds: 1_649_574_000_500))
        #expect(try BrokerValue(tag: "timestamp", data: "2022-04-10T07:00:00.123456789") == .timestamp(milliseconds: 1_649_574_000_123))
        // Fractions of any length are read, not overflowed on (which stopped the controller).
        let long = "2022-04-10T07:00:00." + String(repeating: "0", count: 40) + "1"
        #expect(try BrokerValue(tag: "timestamp", data: .string(long)) == .timestamp(milliseconds: 1_649_574_000_000))
        #expect(throws: BrokerJSONError.self) { try BrokerValue(tag: "timestamp", data: "2022-04-10T07:00:00.+5") }
        #expect(try BrokerValue(tag: "timespan", data: "2.5s") == .timespan(nanoseconds: 2_500_000_000))
        #expect(try BrokerValue(tag: "real", data: 3) == .real(3))
    }

    @Test func zeekClientRequestParses() throws {
        let frame = """
            {"type":"data-message","topic":"zeek/management/controller","@data-type":"vector","data":[
             {"@data-type":"count","data":1},{"@data-type":"count","data":1},
             {"@data-type":"vector","data":[
               {"@data-type":"string","data":"Management::Controller::API::get_instances_request"},
               {"@data-type":"vector","data":[{"@data-type":"string","data":"4f2e1c3a-0000-11ef-9a3b-0242ac120002"}]}]}]}
            """
        guard case let .data(topic, value) = try BrokerMessage(frame: Data(frame.utf8)) else {
            Issue.record("not a data message")
            return
        }
        #expect(topic == "zeek/management/controller")
        let event = try BrokerEvent(value)
        #expect(event.name == "Management::Controller::API::get_instances_request")
        #expect(event.arguments == [.string("4f2e1c3a-0000-11ef-9a3b-0242ac120002")])
        #expect(event.metadata == nil)
        #expect(try BrokerEvent(event.value) == event)
        let withMetadata = BrokerEvent(name: "x", arguments: [], metadata: [.vector([.count(1), .timestamp(milliseconds: 0)])])
        #expect(try BrokerEvent(withMetadata.value) == withMetadata)
    }

    @Test func handshakeAckAndErrorFrames() throws {
        #expect(try BrokerMessage(frame: Data(#"["zeek/management/controller"]"#.utf8), expectingSubscription: true) == .subscription(["zeek/management/controller"]))
        let ack = BrokerMessage.ack(endpoint: "0f6e7b1c", version: "8.2.2")
        #expect(try BrokerMessage(frame: ack.encoded()) == ack)
        let error = BrokerMessage.error(code: "deserialization_failed", context: "bad")
        #expect(try BrokerMessage(frame: error.encoded()) == error)
        let data = BrokerMessage.data(topic: "t", value: BrokerEvent(name: "e", arguments: [.count(3)]).value)
        #expect(try BrokerMessage(frame: data.encoded()) == data)
    }

    @Test("malformed frames are refused with the place of the problem", arguments: [
        ("not json", "not JSON"),
        (#"{"type":"data-message","topic":"t","@data-type":"count","data":-1}"#, "data: count must be a non-negative integer"),
        (#"{"type":"data-message","topic":"t","@data-type":"vector","data":[{"@data-type":"port","data":"99999/tcp"}]}"#, "data[0].data: port must be"),
        (#"{"type":"data-message","topic":"t","@data-type":"vector","data":[{"data":1}]}"#, "data[0]: missing @data-type"),
        (#"{"type":"data-message","topic":"t","@data-type":"table","data":[{"key":{"@data-type":"string","data":"k"}}]}"#, "data[0]: table entry must be"),
        (#"{"type":"data-message","topic":"t","@data-type":"widget","data":1}"#, "unknown @data-type \"widget\""),
        (#"{"type":"data-message","@data-type":"none","data":{}}"#, "topic: missing"),
        (#"{"type":"hello"}"#, "unknown message type"),
        (#"{"type":"data-message","topic":"t","@data-type":"address","data":"999.1.1.1"}"#, "is not an IP address"),
        (#"{"type":"data-message","topic":"t","@data-type":"timestamp","data":"yesterday"}"#, "timestamp must be ISO 8601"),
    ])
    func malformedFrames(_ frame: String, _ expected: String) {
        do {
            _ = try BrokerMessage(frame: Data(frame.utf8))
            Issue.record("accepted \(frame)")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
        }
    }

    @Test func oversizedFramesAreRefusedUnread() {
        let frame = Data(repeating: UInt8(ascii: " "), count: BrokerMessage.maximumSize + 1)
        #expect(throws: BrokerJSONError.self) { try BrokerMessage(frame: frame) }
        #expect(throws: BrokerJSONError.self) { try BrokerMessage(frame: Data(#"{"a":1}"#.utf8), expectingSubscription: true) }
        #expect(throws: BrokerJSONError.self) { try BrokerEvent(.vector([.count(1)])) }
    }
}

@Suite("Results of real Zeek nodes, as the relay reads them")
struct ZeekNodeResultTests {
    /// `Management::Result` as Zeek 8.0.10 publishes it for `get_id_value Cluster::node`: a
    /// vector of its fields, `data` (type `any`) holding the string `to_json` made.
    @Test func resultWithAnyData() throws {
        let frame = #"{"type":"data-message","topic":"zeek-mgmt/node/manager/relay","@data-type":"vector","data":[{"@data-type":"count","data":1},{"@data-type":"count","data":1},{"@data-type":"vector","data":[{"@data-type":"string","data":"Management::Node::API::node_dispatch_response"},{"@data-type":"vector","data":[{"@data-type":"string","data":"r1"},{"@data-type":"vector","data":[{"@data-type":"string","data":"r1"},{"@data-type":"boolean","data":true},{"@data-type":"none","data":{}},{"@data-type":"string","data":"\"manager\""},{"@data-type":"none","data":{}},{"@data-type":"string","data":"manager"}]}]}]}]}"#
        guard case .data(_, let value) = try BrokerMessage(frame: Data(frame.utf8)) else {
            Issue.record("not a data message")
            return
        }
        let event = try BrokerEvent(value)
        #expect(event.name == "Management::Node::API::node_dispatch_response")
        let result = try #require(try ZeekType.result.json(event.arguments[1])).decode(as: Management.Result.self)
        #expect(result == Management.Result(reqid: "r1", data: .string("\"manager\""), node: "manager"))
    }

    @Test("any holds whatever Zeek put there", arguments: [
        (BrokerValue.count(42), JSONValue.int(42)), (.real(0.5), .double(0.5)), (.enumValue("Cluster::WORKER"), .string("Cluster::WORKER")),
        (.set([.string("logger"), .string("proxy")]), .array([.string("logger"), .string("proxy")])),
        (.table([(key: .string("a"), value: .count(1))]), .object(["a": .int(1)])),
    ])
    func anyValues(value: BrokerValue, json: JSONValue) throws {
        #expect(try ZeekType.any.json(value) == json)
    }
}
