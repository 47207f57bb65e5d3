import Foundation
import KafkaTransport
import ManagementKafka
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Testing

@Suite("Envelope")
struct EnvelopeTests {
    struct GetNodesResponse: ManagementEvent {
        static let eventName = "Management::Controller::API::get_nodes_response"
        var reqid: String
        var results: [Management.Result]
    }

    @Test func wireFormKeyAndHeaders() throws {
        let envelope = Envelope(event: GetNodesResponse(reqid: "r1", results: [Management.Result(reqid: "a1", instance: "agent-a")]),
                                sender: "controller", target: "client-7", timestamp: 1795295009.5)
        let record = try envelope.record(topic: "site-a.Management.Controller.API")
        #expect(String(decoding: record.value, as: UTF8.self) == #"{"api_version":1,"args":{"reqid":"r1","results":[{"instance":"agent-a","reqid":"a1","success":true}]},"event":"Management::Controller::API::get_nodes_response","sender":"controller","target":"client-7","ts":1795295009.5}"#)
        #expect(record.key == Data("client-7".utf8))
        #expect(record.headers.map(\.name) == ["event", "sender", "target", "content-type"])
        #expect(record.headers.map(\.stringValue) == ["Management::Controller::API::get_nodes_response", "controller", "client-7", "application/json"])
    }

    @Test func untargetedEnvelopeIsKeyedBySender() throws {
        let envelope = Envelope(event: GetNodesResponse(reqid: "r", results: []), sender: "agent-a")
        let record = try envelope.record(topic: "t")
        #expect(record.key == Data("agent-a".utf8))
        #expect(!record.headers.contains { $0.name == "target" })
        #expect(!String(decoding: record.value, as: UTF8.self).contains("\"target\""))
    }

    @Test func roundTripAndUnknownFieldsIgnored() throws {
        let json = #"{"event":"Management::Controller::API::get_nodes_response","args":{"reqid":"r","results":[],"future_arg":1},"sender":"controller","ts":2,"api_version":1,"trace":"x"}"#
        let data = Data(json.utf8)
        let message = try InboundMessage(parsing: KafkaMessage(topic: "Management.Controller.API", partition: 0, offset: 0, key: nil, value: data, headers: [], timestamp: nil),
                                         on: .controllerAPI)
        let envelope = try message.decode(GetNodesResponse.self)
        #expect(envelope.event.reqid == "r" && envelope.sender == "controller" && envelope.target == nil && envelope.apiVersion == 1)
        // Published at ts 2: served with a 10 s lifetime, its deadline is 1 s after wall time 11.
        let clock = TestClock(wallTime: 11)
        #expect(message.deadline(lifetime: .seconds(10), clock: clock) == clock.now + .seconds(1))
    }

    @Test func defaultedSetArguments() throws {
        // `nodes: set[string] &default=set()`: absent means empty; encoded sorted.
        let absent = try ZeekJSON.decode(NodeAPI.DispatchRequest.self, from: Data(#"{"reqid":"r","action":["get_id_value","x"]}"#.utf8))
        #expect(absent.nodes.isEmpty)
        let null = try ZeekJSON.decode(AgentAPI.RestartRequest.self, from: Data(#"{"reqid":"r","nodes":null}"#.utf8))
        #expect(null.nodes.isEmpty)
        let request = AgentAPI.NodeDispatchRequest(reqid: "r", action: ["get_id_value", "x"], nodes: ["w2", "m", "w1"])
        #expect(try ZeekJSON.encodeString(request) == #"{"action":["get_id_value","x"],"nodes":["m","w1","w2"],"reqid":"r"}"#)
        let wrongType = #expect(throws: WireDecodingError.self) {
            try ZeekJSON.decode(AgentAPI.RestartRequest.self, from: Data(#"{"reqid":"r","nodes":"w1"}"#.utf8))
        }
        #expect(wrongType?.path == "nodes")
    }

    @Test func addressing() {
        let agent = AddressFilter.targets(["agent-a"], orUntargeted: true)
        #expect(agent.accepts(target: "agent-a") && agent.accepts(target: nil) && !agent.accepts(target: "agent-b"))
        let supervisor = AddressFilter.targets(["agent-a"], orUntargeted: false)
        #expect(supervisor.accepts(target: "agent-a") && !supervisor.accepts(target: nil))
        #expect(AddressFilter.everything.accepts(target: "anyone") && AddressFilter.everything.accepts(target: nil))
    }

    @Test func topicNamespace() {
        let namespace = TopicNamespace(prefix: "site-a.")
        #expect(namespace.kafkaName(.agentAPI.notify) == "site-a.Management.Agent.API.notify")
        #expect(namespace.topic(forKafkaName: "site-a.Supervisor.API") == .supervisorAPI)
        #expect(namespace.topic(forKafkaName: "site-b.Supervisor.API") == nil)
        #expect(namespace.groupID("controller") == "site-a.controller")
        #expect(namespace.specification(.controllerState).config == ["cleanup.policy": "compact"])
        #expect(namespace.specification(.controllerAPI).partitions == 1)
    }
}
