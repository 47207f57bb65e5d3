import Foundation
import KafkaTransport
import ManagementKafka
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Logging
import MessageSigning
import Testing

/// Hostile envelopes, generated: whatever arrives, parsing, the request's deadline and the
/// decoding of every request type end in a value or an error, never a crash or a hang.
///
/// The generator is seeded, so a failure reproduces: the test names the seed and the index
/// of the message, and ``EnvelopeFuzzer/message(_:)`` gives its bytes again.
@Suite("Envelope fuzzing")
struct EnvelopeFuzzTests {
    /// Every request a service serves.
    static let requests: [any ManagementRequest.Type] = [
        ControllerAPI.GetInstancesRequest.self, ControllerAPI.StageConfigurationRequest.self, ControllerAPI.GetConfigurationRequest.self,
        ControllerAPI.DeployRequest.self, ControllerAPI.GetNodesRequest.self, ControllerAPI.GetIDValueRequest.self,
        ControllerAPI.RestartRequest.self, ControllerAPI.TestTimeoutRequest.self,
        ClusterControllerAPI.GetInstancesRequest.self, ClusterControllerAPI.SetConfigurationRequest.self,
        ClusterControllerAPI.GetNodesRequest.self, ClusterControllerAPI.TestTimeoutRequest.self,
        AgentAPI.DeployRequest.self, AgentAPI.CheckRequest.self, AgentAPI.DeployCheckedRequest.self, AgentAPI.GetNodesRequest.self,
        AgentAPI.NodeDispatchRequest.self, AgentAPI.AgentWelcomeRequest.self, AgentAPI.AgentStandbyRequest.self, AgentAPI.RestartRequest.self,
        ClusterAgentAPI.SetConfigurationRequest.self, ClusterAgentAPI.GetNodesRequest.self,
        ClusterAgentAPI.AgentWelcomeRequest.self, ClusterAgentAPI.AgentStandbyRequest.self,
        NodeAPI.DispatchRequest.self,
        SupervisorControl.CreateRequest.self, SupervisorControl.StatusRequest.self, SupervisorControl.RestartRequest.self,
        SupervisorControl.DestroyRequest.self, SupervisorManagement.CheckRequest.self,
    ]

    static let seed: UInt64 = 0x5EED_2024_F022
    static let count = 12_000

    /// What became of the generated messages, to show the generator reaches past the parser.
    struct Tally {
        var parsed = 0
        /// Decodings as some request type that succeeded.
        var decoded = 0
        /// Requests the responder served, and those it answered with a failure.
        var served = 0
        var rejected = 0
    }

    /// Envelopes are stamped around this time, and the test clock shows it: the same bytes
    /// and the same outcome on every run.
    static let now: Double = 1_795_295_009

    @Test(.timeLimit(.minutes(5))) func generatedEnvelopesNeverCrashParsingDeadlinesOrDecoding() async throws {
        let fuzzer = EnvelopeFuzzer(seed: Self.seed, requests: Self.requests.map { $0.eventName }, now: Self.now)
        let clock = TestClock(wallTime: Self.now)
        let clocks: [any ManagementClock] = [clock, SystemClock()]
        let bus = InMemoryBus()
        let identities = TestIdentities.shared
        let endpoint = bus.connect("fuzz", consumes: [], membership: .fromEnd, addressing: .targets(["fuzz"], orUntargeted: true),
                                   security: identities.security(.agent(instance: "fuzz"), key: identities.host("fuzz")))
        // The receive path's check of every message: signature, policy, `ts`, replay, warrant.
        var quiet = Logger(label: "fuzz")
        quiet.logLevel = .critical
        let messageGuard = MessageGuard(security: EndpointSecurity(key: identities.host("fuzz"), trust: identities.trust, policy: .agent(instance: "fuzz")),
                                        clock: clock, logger: quiet)
        let controllerKey = identities.controller
        defer { endpoint.shutdown() }
        var responder = RequestResponder(through: endpoint, lifetime: .seconds(5), instance: "fuzz")
        for request in Self.requests { Self.serve(request, by: &responder) }

        var tally = Tally()
        for index in 0..<Self.count {
            // Other suites share the cooperative threads: give them a turn.
            if index.isMultiple(of: 64) { await Task.yield() }
            let bytes = fuzzer.message(index)
            let record = KafkaMessage(topic: "Management.Agent.API", partition: 0, offset: Int64(index), key: nil, value: bytes, headers: [], timestamp: nil)
            guard let message = try? InboundMessage(parsing: record, on: .agentAPI) else { continue }
            tally.parsed += 1
            _ = messageGuard.admit(message)
            // Signed as the controller would: the checks past the signature see it too.
            var signed = record
            signed.headers = SignedRecord(signing: bytes, topic: record.topic, key: Data(), with: controllerKey).kafkaHeaders
            if let signedMessage = try? InboundMessage(parsing: signed, on: .agentAPI) { _ = messageGuard.admit(signedMessage) }
            _ = message.reqid
            _ = message.replyTopic
            for clock in clocks {
                for lifetime in [Duration.zero, .seconds(5), .seconds(86_400 * 365)] {
                    let deadline = message.deadline(lifetime: lifetime, clock: clock)
                    // Saturated at about 31 years either way (plus the lifetime), whatever `ts` says.
                    #expect(abs((deadline - clock.now).timeInterval) <= WallTimeOffset.limit + 1,
                            "seed \(Self.seed), message \(index): deadline \(deadline - clock.now) away")
                }
            }
            for request in Self.requests {
                if Self.decodes(request, message) { tally.decoded += 1 }
            }
            switch await responder.respond(to: message, clock: clock) {
            case .unanswered: tally.served += 1
            case .malformed(_, answered: true): tally.rejected += 1
            default: break
            }
        }
        // The generator must get past the parser and the decoders, or it tests nothing.
        #expect(tally.parsed > Self.count / 3, "\(tally)")
        #expect(tally.decoded > Self.count / 20, "\(tally)")
        #expect(tally.served > 0 && tally.rejected > 0, "\(tally)")
    }

    @Test("absurd timestamps give deadlines far away, not traps", arguments: [1e300, -1e300, 1e308, -1e308, 5e-324, 1.7976931348623157e308])
    func absurdTimestamps(ts: Double) throws {
        let json = #"{"event":"Management::Agent::API::get_nodes_request","args":{"reqid":"r"},"sender":"c","ts":\#(ts),"api_version":1}"#
        let record = KafkaMessage(topic: "t", partition: 0, offset: 0, key: nil, value: Data(json.utf8), headers: [], timestamp: nil)
        let message = try InboundMessage(parsing: record, on: .agentAPI)
        let clock = TestClock()
        let deadline = message.deadline(lifetime: .seconds(5), clock: clock)
        if ts > clock.wallTime {
            #expect(deadline - clock.now == .seconds(WallTimeOffset.limit), "a request from the far future lives as long as any can")
        } else if ts < -WallTimeOffset.limit {
            #expect(deadline - clock.now == .seconds(-WallTimeOffset.limit), "one from the far past is long expired")
        } else {
            #expect(clock.now > deadline, "ts ≈ 0 is 1970: expired")
        }
    }

    @Test func wallTimeOffsetsSaturate() {
        #expect(WallTimeOffset.duration(seconds: .infinity) == .seconds(1e9))
        #expect(WallTimeOffset.duration(seconds: -.infinity) == .seconds(-1e9))
        #expect(WallTimeOffset.duration(seconds: .nan) == .zero)
        #expect(WallTimeOffset.duration(seconds: 1.5) == .milliseconds(1500))
        let clock = TestClock()
        #expect(clock.instant(atWallTime: clock.wallTime + 2) - clock.now == .seconds(2))
    }

    /// Serves `Request` with a handler that leaves it unanswered: what is exercised is the
    /// responder's deadline and decoding, and the failure it answers a malformed request with.
    static func serve(_ request: any ManagementRequest.Type, by responder: inout RequestResponder) {
        func serve<Request: ManagementRequest>(_: Request.Type) {
            responder.on(Request.self) { _, _ in nil }
        }
        serve(request)
    }

    /// Whether the message's arguments decode as `Request`'s; a failure is built as the
    /// responder would build it, to answer with.
    static func decodes(_ request: any ManagementRequest.Type, _ message: InboundMessage) -> Bool {
        decodes(as: request, message)
    }

    private static func decodes<Request: ManagementRequest>(as _: Request.Type, _ message: InboundMessage) -> Bool {
        do {
            _ = try ZeekJSON.decode(Request.self, from: message.document["args"] ?? .null, pathPrefix: "args")
            if message.event == Request.eventName { _ = try message.decode(Request.self) }
            return true
        } catch {
            _ = Request.Response(reqid: message.reqid ?? "", failure: error.description, instance: "fuzz")
            return false
        }
    }
}

/// SplitMix64: small, fast, and the same sequence for the same seed on every platform.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Builds envelope-like JSON with what an attacker or a broken client might send: fields
/// missing or of the wrong type, numbers at and past every limit, deep nesting, long and
/// strange strings, records of the contract with hostile fields, and bytes that are not JSON
/// or not UTF-8. Message `i` depends only on the seed and `i`.
struct EnvelopeFuzzer {
    let seed: UInt64
    let requests: [String]
    /// Around when plausible envelopes are stamped, epoch seconds.
    let now: Double

    /// Numbers around every limit a field could have: Int64, UInt16 (ports), Int32 (pids,
    /// CPUs), Double.
    static let numbers = [
        "0", "-0", "1", "-1", "1.5", "-0.0", "1e300", "-1e300", "1e308", "-1e308", "1.7976931348623157e308", "5e-324", "1e-300",
        "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "18446744073709551615",
        "18446744073709551616", "4294967296", "2147483647", "2147483648", "-2147483649", "65535", "65536", "-65536", "1024", "1e3",
        "2.0", "0.1e1", "1e19", "-1e19",
    ]

    /// Numbers as other languages write them, which are not JSON.
    static let notNumbers = ["NaN", "Infinity", "-Infinity", "nan", "1e309", "-1e309", "1e99999", "01", "1.", ".5", "+1", "0x10"]

    static let keys = [
        "reqid", "config", "force", "config_id", "nodes", "node", "action", "id", "with_state", "instance", "instances", "name",
        "host", "listen_port", "p", "port", "proto", "role", "state", "scripts", "options", "value", "interface", "cpu_affinity",
        "env", "metrics_port", "cluster", "directory", "stdout_file", "stderr_file", "pcap_file", "bare_mode", "addl_base_scripts",
        "addl_user_scripts", "pid", "result", "results", "event", "args", "ts", "api_version", "reply_to",
    ]

    static let strings = [
        "", "r", "agent-a", "controller", "Management::RUNNING", "Supervisor::WORKER", "Supervisor::WORKR", "10.0.0.1", "::1",
        "999.1.1.1", "tcp", "udp", "sctp", "Management.Agent.API.replies", "Management.Controller.API", "../../etc", "/etc",
        "-e", "a b", "get_id_value", "Cluster::node", "\u{0}", "\u{FEFF}", "é", "😀", "\\", "\"",
    ]

    /// Message `index` as bytes.
    func message(_ index: Int) -> Data {
        var random = SeededGenerator(seed: seed ^ (UInt64(index) &* 0x2545_F491_4F6C_DD1D))
        var bytes = Array(envelope(&random).utf8)
        // Now and then, damage the bytes themselves.
        if oneIn(7, &random) { mutate(&bytes, &random) }
        return Data(bytes)
    }

    private func envelope(_ random: inout SeededGenerator) -> String {
        let event = requests.randomElement(using: &random)!
        var fields: [(String, String)] = [
            ("event", oneIn(15, &random) ? value(depth: 2, &random) : quoted(oneIn(20, &random) ? Self.strings.randomElement(using: &random)! : event)),
            ("args", oneIn(15, &random) ? value(depth: 2, &random) : arguments(&random)),
            ("sender", oneIn(15, &random) ? value(depth: 1, &random) : quoted(string(&random))),
            ("ts", oneIn(3, &random) ? number(&random) : oneIn(15, &random) ? value(depth: 1, &random)
                : "\(now + Double(Int.random(in: -100...100, using: &random)))"),
            ("api_version", oneIn(5, &random) ? number(&random) : oneIn(15, &random) ? value(depth: 1, &random) : "1"),
        ]
        if oneIn(2, &random) { fields.append(("target", oneIn(5, &random) ? value(depth: 1, &random) : quoted(string(&random)))) }
        if oneIn(3, &random) { fields.append(("reply_to", oneIn(3, &random) ? value(depth: 1, &random) : quoted(string(&random)))) }
        // Missing fields, and fields twice.
        if oneIn(12, &random) { fields.remove(at: Int.random(in: 0..<fields.count, using: &random)) }
        if oneIn(20, &random) { fields.append(fields.randomElement(using: &random)!) }
        fields.shuffle(using: &random)
        return "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    /// Arguments shaped like the contract's, each field now and then replaced by anything.
    private func arguments(_ random: inout SeededGenerator) -> String {
        var fields: [(String, String)] = [("reqid", oneIn(4, &random) ? value(depth: 1, &random) : quoted(string(&random)))]
        let candidates: [(String, (inout SeededGenerator) -> String)] = [
            ("config", { configuration(&$0) }), ("node", { oneIn(2, &$0) ? nodeConfig(&$0) : quoted(string(&$0)) }),
            ("nodes", { list(&$0) { quoted(string(&$0)) } }), ("action", { list(&$0) { quoted(string(&$0)) } }),
            ("force", { oneIn(2, &$0) ? "true" : value(depth: 1, &$0) }), ("config_id", { quoted(string(&$0)) }),
            ("id", { quoted(string(&$0)) }), ("with_state", { oneIn(2, &$0) ? "false" : value(depth: 1, &$0) }),
        ]
        for (key, make) in candidates where oneIn(2, &random) {
            fields.append((key, oneIn(8, &random) ? value(depth: 3, &random) : make(&random)))
        }
        if oneIn(30, &random) { fields.append(("deep", nested(depth: Int.random(in: 100...700, using: &random), &random))) }
        if oneIn(100, &random) { fields.append(("huge", quoted(String(repeating: "x", count: Int.random(in: 10_000...300_000, using: &random))))) }
        return object(fields)
    }

    private func configuration(_ random: inout SeededGenerator) -> String {
        let instances = list(&random) { random in
            object([("name", quoted(string(&random))), ("host", quoted(Self.strings.randomElement(using: &random)!)), ("listen_port", port(&random))]
                .filter { _ in !oneIn(10, &random) })
        }
        let nodes = list(&random) { random in
            var fields: [(String, String)] = [
                ("name", quoted(string(&random))), ("instance", quoted(string(&random))),
                ("role", quoted(oneIn(2, &random) ? "Supervisor::WORKER" : string(&random))),
                ("state", quoted(oneIn(2, &random) ? "Management::RUNNING" : string(&random))),
            ]
            if oneIn(2, &random) { fields.append(("p", port(&random))) }
            if oneIn(2, &random) { fields.append(("metrics_port", port(&random))) }
            if oneIn(2, &random) { fields.append(("cpu_affinity", number(&random))) }
            if oneIn(3, &random) { fields.append(("scripts", list(&random) { quoted(string(&$0)) })) }
            if oneIn(3, &random) { fields.append(("options", list(&random) { object([("name", quoted(string(&$0))), ("value", quoted(string(&$0)))]) })) }
            if oneIn(3, &random) { fields.append(("env", object([(string(&random), quoted(string(&random)))]))) }
            return object(fields.filter { _ in !oneIn(12, &random) })
        }
        return object([("id", quoted(string(&random))), ("instances", instances), ("nodes", nodes)].filter { _ in !oneIn(10, &random) })
    }

    private func nodeConfig(_ random: inout SeededGenerator) -> String {
        var fields: [(String, String)] = [("name", quoted(string(&random)))]
        for key in ["interface", "directory", "stdout_file", "stderr_file", "pcap_file"] where oneIn(4, &random) {
            fields.append((key, quoted(string(&random))))
        }
        if oneIn(3, &random) { fields.append(("bare_mode", oneIn(2, &random) ? "true" : number(&random))) }
        if oneIn(3, &random) { fields.append(("cpu_affinity", number(&random))) }
        if oneIn(3, &random) { fields.append(("addl_user_scripts", list(&random) { quoted(string(&$0)) })) }
        if oneIn(3, &random) { fields.append(("env", object([(string(&random), quoted(string(&random)))]))) }
        if oneIn(3, &random) {
            fields.append(("cluster", object([(string(&random), object([
                ("role", quoted(oneIn(2, &random) ? "Supervisor::MANAGER" : string(&random))), ("host", quoted(Self.strings.randomElement(using: &random)!)),
                ("p", port(&random)), ("metrics_port", port(&random)),
            ]))])))
        }
        return object(fields)
    }

    private func port(_ random: inout SeededGenerator) -> String {
        oneIn(5, &random) ? value(depth: 1, &random) : object([("port", number(&random)), ("proto", quoted(oneIn(2, &random) ? "tcp" : string(&random)))])
    }

    private func number(_ random: inout SeededGenerator) -> String {
        if oneIn(20, &random) { return Self.notNumbers.randomElement(using: &random)! }
        switch Int.random(in: 0..<3, using: &random) {
        case 0: return Self.numbers.randomElement(using: &random)!
        case 1: return "\(Int64.random(in: .min ... .max, using: &random))"
        default:
            let double = Double(bitPattern: random.next())
            return double.isFinite ? "\(double)" : "0"
        }
    }

    private func string(_ random: inout SeededGenerator) -> String {
        if oneIn(3, &random) { return Self.strings.randomElement(using: &random)! }
        if oneIn(50, &random) {
            return String(repeating: Character(UnicodeScalar(UInt8.random(in: 0x20...0x7e, using: &random))), count: Int.random(in: 1_000...50_000, using: &random))
        }
        return String((0..<Int.random(in: 0...12, using: &random)).map { _ in Character(UnicodeScalar(UInt8.random(in: 0x20...0x7e, using: &random))) })
    }

    /// Any JSON value, at most `depth` levels deep, numbers from ``numbers`` included (so
    /// sometimes no JSON at all).
    private func value(depth: Int, _ random: inout SeededGenerator) -> String {
        switch Int.random(in: 0..<(depth > 0 ? 8 : 6), using: &random) {
        case 0: return "null"
        case 1: return oneIn(2, &random) ? "true" : "false"
        case 2, 3: return number(&random)
        case 4: return quoted(string(&random))
        case 5: return oneIn(10, &random) ? #""\ud800 lone \uDFFF""# : #""\u0000 \u00e9 \ud83d\ude00""#
        case 6: return list(&random) { value(depth: depth - 1, &$0) }
        default: return object((0..<Int.random(in: 0...3, using: &random)).map { _ in
            (Self.keys.randomElement(using: &random)!, value(depth: depth - 1, &random))
        })
        }
    }

    private func nested(depth: Int, _ random: inout SeededGenerator) -> String {
        let array = oneIn(2, &random)
        let open = array ? "[" : "{\"a\":", close = array ? "]" : "}"
        return String(repeating: open, count: depth) + "1" + String(repeating: close, count: depth)
    }

    private func list(_ random: inout SeededGenerator, _ element: (inout SeededGenerator) -> String) -> String {
        "[" + (0..<Int.random(in: 0...3, using: &random)).map { _ in element(&random) }.joined(separator: ",") + "]"
    }

    private func object(_ fields: [(String, String)]) -> String {
        "{" + fields.map { "\(quoted($0.0)):\($0.1)" }.joined(separator: ",") + "}"
    }

    private func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20: result += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result + "\""
    }

    /// Truncates, flips, inserts bytes that are not UTF-8, or cuts a piece out.
    private func mutate(_ bytes: inout [UInt8], _ random: inout SeededGenerator) {
        guard !bytes.isEmpty else { return }
        let position = Int.random(in: 0..<bytes.count, using: &random)
        switch Int.random(in: 0..<4, using: &random) {
        case 0: bytes.removeSubrange(position...)
        case 1: bytes[position] ^= UInt8.random(in: 1...255, using: &random)
        case 2: bytes.insert(contentsOf: [[0xff], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80]].randomElement(using: &random)!, at: position)
        default: bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...8, using: &random)))
        }
    }

    private func oneIn(_ n: Int, _ random: inout SeededGenerator) -> Bool {
        Int.random(in: 0..<n, using: &random) == 0
    }
}
