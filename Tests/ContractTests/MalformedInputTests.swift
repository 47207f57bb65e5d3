import Foundation
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import Testing

/// Bad input gets an error naming the path and the problem, never a crash.
@Suite("Malformed input")
struct MalformedInputTests {
    /// A stand-in for an event carrying a configuration, to check paths through `args`.
    struct DeployRequest: ManagementEvent {
        static let eventName = "Management::Agent::API::deploy_request"
        var reqid: String
        var config: Management.Configuration
        var force: Bool
    }

    func error<T: Decodable>(decoding json: String, as type: T.Type) -> String {
        error(decoding: Data(json.utf8), as: type)
    }

    func error<T: Decodable>(decoding data: Data, as type: T.Type) -> String {
        do {
            _ = try ZeekJSON.decode(type, from: data)
            return "<decoded without error>"
        } catch {
            return error.description
        }
    }

    static let node = #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING"}"#

    static let cases: [(String, String, String)] = [
        ("unknown enum value", #"{"name":"w","instance":"i","role":"Supervisor::WORKR","state":"Management::RUNNING"}"#,
         #"role: unknown value "Supervisor::WORKR" (expected one of Supervisor::NONE, Supervisor::LOGGER, Supervisor::MANAGER, Supervisor::PROXY, Supervisor::WORKER)"#),
        ("enum without module", #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"RUNNING"}"#,
         #"state: unknown value "RUNNING" (expected one of Management::PENDING, Management::RUNNING, Management::STOPPED, Management::FAILED, Management::CRASHED, Management::UNKNOWN)"#),
        ("enum as number", #"{"name":"w","instance":"i","role":3,"state":"Management::RUNNING"}"#,
         "role: wrong type: expected string"),
        ("missing required field", #"{"instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING"}"#,
         "name: missing required field"),
        ("null required field", #"{"name":null,"instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING"}"#,
         "name: null where a value of type string is required"),
        ("name of wrong type", #"{"name":42,"instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING"}"#,
         "name: wrong type: expected string"),
        ("port number too large", #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING","p":{"port":70000,"proto":"tcp"}}"#,
         "p.port: port number 70000 out of range 0-65535"),
        ("negative port number", #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING","p":{"port":-1,"proto":"tcp"}}"#,
         "p.port: port number -1 out of range 0-65535"),
        ("unknown port protocol", #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING","p":{"port":80,"proto":"sctp"}}"#,
         #"p.proto: unknown transport protocol "sctp" (expected tcp, udp, icmp or unknown)"#),
        ("port as text", #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING","p":"2151/tcp"}"#,
         "p: wrong type: expected object"),
        ("fractional cpu affinity", #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING","cpu_affinity":1.5}"#,
         "cpu_affinity: wrong type: expected integer, found 1.5"),
        ("env value not a string", #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING","env":{"A":1}}"#,
         "env.A: wrong type: expected string"),
        ("scripts not an array", #"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING","scripts":"a.zeek"}"#,
         "scripts: wrong type: expected array"),
        ("record is an array", #"["w","i"]"#,
         "wrong type: expected object"),
        ("truncated JSON", #"{"name":"w","instance":"#,
         "not valid JSON (unexpected end at byte 23)"),
    ]

    @Test("node field errors", arguments: cases)
    func nodeErrors(_ testCase: (String, String, String)) {
        #expect(error(decoding: testCase.1, as: Management.Node.self) == testCase.2, "\(testCase.0)")
    }

    @Test func invalidAddress() {
        #expect(error(decoding: #"{"name":"a","host":"999.1.1.1"}"#, as: Management.Instance.self)
                == #"host: invalid IP address "999.1.1.1""#)
    }

    @Test func resultSuccessOfWrongType() {
        #expect(error(decoding: #"{"reqid":"r","success":"yes"}"#, as: Management.Result.self)
                == "success: wrong type: expected bool")
    }

    @Test func nestedSupervisorStatusPath() {
        #expect(error(decoding: #"{"nodes":{"w1":{"pid":3}}}"#, as: Supervisor.Status.self)
                == "nodes.w1.node: missing required field")
    }

    @Test func nonJSONBytes() {
        #expect(error(decoding: Data([0xff, 0xfe, 0x00, 0x41]), as: Management.Result.self) == "not valid JSON (unexpected character at byte 0)")
        #expect(throws: WireDecodingError.self) { try EnvelopeHead.parse(Data("hello".utf8)) }
    }

    @Test func hugeValuesAreEchoedShortened() {
        let huge = String(repeating: "X", count: 200_000)
        let message = error(decoding: #"{"name":"w","instance":"i","role":"\#(huge)","state":"Management::RUNNING"}"#, as: Management.Node.self)
        #expect(message.hasPrefix(#"role: unknown value "XXXX"#))
        #expect(message.count < 400, "error text must not echo a 200 kB value")
    }

    @Test func hugeStringWithinLimitDecodes() throws {
        let name = String(repeating: "n", count: 500_000)
        let node = try ZeekJSON.decode(Management.Node.self, from: Data(#"{"name":"\#(name)","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING"}"#.utf8))
        #expect(node.name.count == 500_000)
    }

    @Test func oversizedEnvelopeIsRefused() throws {
        let huge = String(repeating: "A", count: 17 * 1_048_576)
        let data = Data(#"{"event":"Management::Controller::API::get_instances_request","args":{"reqid":"\#(huge)"},"sender":"c","ts":1,"api_version":1}"#.utf8)
        let error = #expect(throws: WireDecodingError.self) { try EnvelopeHead.parse(data) }
        #expect(error?.description == "message of \(data.count) bytes exceeds the 16777216-byte limit")
        // A receiver whose message.max.bytes is lower refuses from there on.
        let smaller = Data(#"{"event":"x","args":{"reqid":"\#(String(repeating: "A", count: 2_000))"},"sender":"c","ts":1,"api_version":1}"#.utf8)
        #expect(throws: WireDecodingError.self) { try EnvelopeHead.parse(smaller, maximumSize: 1_000) }
    }

    @Test func envelopeHeadErrors() {
        func headError(_ json: String) -> String {
            do { _ = try EnvelopeHead.parse(Data(json.utf8)); return "<parsed>" } catch { return error.description }
        }
        #expect(headError(#"{"event":"e","sender":"s","ts":1,"api_version":1}"#) == "args: missing required field")
        #expect(headError(#"{"event":"e","args":[],"sender":"s","ts":1,"api_version":1}"#) == "args: wrong type: expected object")
        #expect(headError(#"{"event":"e","args":{},"sender":"s","ts":1,"api_version":"1"}"#) == "api_version: wrong type: expected integer")
        #expect(headError(#"{"args":{},"sender":"s","ts":1,"api_version":1}"#) == "event: missing required field")
        #expect(headError(#"{"event":"e","args":{},"sender":"s","ts":"now","api_version":1}"#) == "ts: wrong type: expected number")
    }

    @Test func errorPathRunsThroughEnvelopeArgs() throws {
        let json = """
        {"event":"Management::Agent::API::deploy_request","sender":"controller","target":"agent-a","ts":1795295009.1,"api_version":1,
         "args":{"reqid":"9a1c","force":false,"config":{"id":"c","instances":[],"nodes":[\(Self.node),\(Self.node.replacingOccurrences(of: "\"w\"", with: "\"w2\"")),
         {"name":"w3","instance":"i","role":"Supervisor::WORKR","state":"Management::RUNNING"}]}}}
        """
        let data = Data(json.utf8)
        let message = try InboundMessage(parsing: .init(topic: "Management.Agent.API", partition: 0, offset: 0, key: nil, value: data, headers: [], timestamp: nil), on: .agentAPI)
        let error = #expect(throws: WireDecodingError.self) { try message.decode(DeployRequest.self) }
        #expect(error?.path == "args.config.nodes[2].role")
        #expect(error?.problem.hasPrefix(#"unknown value "Supervisor::WORKR""#) == true)
    }

    @Test func decodingAsTheWrongEventIsAnError() throws {
        let data = Data(#"{"event":"Management::Controller::API::get_instances_request","args":{"reqid":"r"},"sender":"c","ts":1,"api_version":1}"#.utf8)
        let message = try InboundMessage(parsing: .init(topic: "t", partition: 0, offset: 0, key: nil, value: data, headers: [], timestamp: nil), on: .controllerAPI)
        let error = #expect(throws: WireDecodingError.self) { try message.decode(DeployRequest.self) }
        #expect(error?.description == "event: expected Management::Agent::API::deploy_request, got Management::Controller::API::get_instances_request")
    }
}
