import Foundation
import ManagementTypes
import Testing

/// Every record encodes to exactly the JSON Zeek's `to_json` would give (field names, full enum
/// names, port objects, sorted sets, omitted unset optionals) and decodes back to itself.
@Suite("Golden JSON")
struct GoldenJSONTests {
    func expectGolden<T: Codable & Equatable>(_ value: T, _ json: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(try ZeekJSON.encodeString(value) == json, sourceLocation: sourceLocation)
        #expect(try ZeekJSON.decode(T.self, from: Data(json.utf8)) == value, sourceLocation: sourceLocation)
    }

    let worker = Management.Node(name: "worker-01", instance: "agent-a", role: .worker, interface: "eth0", env: ["A": "b"])

    @Test func enums() throws {
        try expectGolden(Management.Role.controller, #""Management::CONTROLLER""#)
        try expectGolden(Management.State.pending, #""Management::PENDING""#)
        try expectGolden(Supervisor.ClusterRole.worker, #""Supervisor::WORKER""#)
        try expectGolden(Management.Log.Level.warning, #""Management::Log::WARNING""#)
        try expectGolden(Management.ControllerRuntime.ConfigState.deployed, #""Management::Controller::Runtime::DEPLOYED""#)
        try expectGolden(ClusterController.Types.Role.agent, #""ClusterController::Types::AGENT""#)
        #expect(Management.Log.Level.warning.numericValue == 30)
        #expect(Management.Role.allCases.map(\.rawValue) == ["NONE", "AGENT", "CONTROLLER", "NODE"])
        #expect(Supervisor.ClusterRole.allCases.map(\.rawValue) == ["NONE", "LOGGER", "MANAGER", "PROXY", "WORKER"])
    }

    @Test func legacyStateAcceptsZeek4Spelling() throws {
        let state = try ZeekJSON.decode(ClusterController.Types.State.self, from: Data(#""ClusterController::Types::Running""#.utf8))
        #expect(state == .running)
        #expect(try ZeekJSON.encodeString(state) == #""ClusterController::Types::RUNNING""#)
    }

    @Test func portAndAddress() throws {
        try expectGolden(ZeekPort(2151, .tcp), #"{"port":2151,"proto":"tcp"}"#)
        try expectGolden(ZeekPort.none, #"{"port":0,"proto":"unknown"}"#)
        #expect(ZeekPort("47760/udp") == ZeekPort(47760, .udp))
        #expect(ZeekPort("2151") == nil)
        #expect(ZeekPort(9000).description == "9000/tcp")
        try expectGolden(IPAddress("10.0.0.2")!, #""10.0.0.2""#)
        #expect(IPAddress("2001:DB8:0:0:0:0:0:1")?.text == "2001:db8::1")
        #expect(IPAddress("controller.example") == nil)
    }

    @Test func option() throws {
        try expectGolden(Management.Option(name: "Log::default_rotation_interval", value: "1hr"),
                         #"{"name":"Log::default_rotation_interval","value":"1hr"}"#)
    }

    @Test func instance() throws {
        try expectGolden(Management.Instance(name: "agent-a"), #"{"host":"0.0.0.0","name":"agent-a"}"#)
        try expectGolden(Management.Instance(name: "agent-b", host: IPAddress("10.0.0.2")!, listenPort: ZeekPort(2151)),
                         #"{"host":"10.0.0.2","listen_port":{"port":2151,"proto":"tcp"},"name":"agent-b"}"#)
    }

    @Test func node() throws {
        try expectGolden(worker, #"{"env":{"A":"b"},"instance":"agent-a","interface":"eth0","name":"worker-01","role":"Supervisor::WORKER","state":"Management::RUNNING"}"#)
        let manager = Management.Node(
            name: "manager", instance: "agent-a", role: .manager, state: .pending, port: ZeekPort(2200),
            scripts: ["b.zeek", "a.zeek"], options: [Management.Option(name: "z", value: "1"), Management.Option(name: "a", value: "2")],
            cpuAffinity: 3, metricsPort: ZeekPort(9000)
        )
        try expectGolden(manager, #"{"cpu_affinity":3,"env":{},"instance":"agent-a","metrics_port":{"port":9000,"proto":"tcp"},"name":"manager","options":[{"name":"a","value":"2"},{"name":"z","value":"1"}],"p":{"port":2200,"proto":"tcp"},"role":"Supervisor::MANAGER","scripts":["b.zeek","a.zeek"],"state":"Management::PENDING"}"#)
    }

    @Test func nodeDefaultsApplyOnDecode() throws {
        // A Zeek 6 node: no env (defaulted), no metrics_port (optional), nulls for unset fields.
        let node = try ZeekJSON.decode(Management.Node.self, from: Data(#"{"name":"w","instance":"i","role":"Supervisor::WORKER","state":"Management::RUNNING","p":null,"interface":null}"#.utf8))
        #expect(node.env == [:])
        #expect(node.port == nil && node.metricsPort == nil && node.interface == nil && node.options == nil)
    }

    @Test func configurationSortsSets() throws {
        let config = Management.Configuration(
            id: "cfg-1",
            instances: [Management.Instance(name: "b"), Management.Instance(name: "a")],
            nodes: [Management.Node(name: "w2", instance: "a", role: .worker), Management.Node(name: "w1", instance: "b", role: .worker)]
        )
        try expectGolden(config, #"{"id":"cfg-1","instances":[{"host":"0.0.0.0","name":"a"},{"host":"0.0.0.0","name":"b"}],"nodes":[{"env":{},"instance":"b","name":"w1","role":"Supervisor::WORKER","state":"Management::RUNNING"},{"env":{},"instance":"a","name":"w2","role":"Supervisor::WORKER","state":"Management::RUNNING"}]}"#)
    }

    @Test func configurationDefaults() throws {
        let empty = try ZeekJSON.decode(Management.Configuration.self, from: Data("{}".utf8))
        #expect(empty.instances.isEmpty && empty.nodes.isEmpty)
        #expect(!empty.id.isEmpty, "a missing id gets a fresh unique one, as unique_id(\"\") gives")
        let other = try ZeekJSON.decode(Management.Configuration.self, from: Data("{}".utf8))
        #expect(empty.id != other.id)
    }

    @Test func sameNameNodesThatDifferAreKept() throws {
        // Exact duplicates collapse (set semantics); same-name nodes that differ stay, so the
        // controller can report "multiple nodes named".
        let json = #"{"id":"x","nodes":[{"name":"w","instance":"a","role":"Supervisor::WORKER","state":"Management::RUNNING"},{"name":"w","instance":"a","role":"Supervisor::WORKER","state":"Management::RUNNING"},{"name":"w","instance":"b","role":"Supervisor::WORKER","state":"Management::RUNNING"}]}"#
        let config = try ZeekJSON.decode(Management.Configuration.self, from: Data(json.utf8))
        #expect(config.nodes.count == 2)
    }

    @Test func nodeStatus() throws {
        try expectGolden(Management.NodeStatus(node: "worker-01", state: .running, clusterRole: .worker, pid: 4242),
                         #"{"cluster_role":"Supervisor::WORKER","mgmt_role":"Management::NONE","node":"worker-01","pid":4242,"state":"Management::RUNNING"}"#)
        let decoded = try ZeekJSON.decode(Management.NodeStatus.self, from: Data(#"{"node":"agent-a","state":"Management::RUNNING"}"#.utf8))
        #expect(decoded.mgmtRole == .none && decoded.clusterRole == .none && decoded.pid == nil)
    }

    @Test func result() throws {
        try expectGolden(Management.Result(reqid: "r1"), #"{"reqid":"r1","success":true}"#)
        try expectGolden(Management.Result(reqid: "r2", success: false, instance: "agent-a", error: "request timed out", node: "worker-01"),
                         #"{"error":"request timed out","instance":"agent-a","node":"worker-01","reqid":"r2","success":false}"#)
        let withData = Management.Result(reqid: "r3", data: try JSONValue(encoding: [Management.NodeStatus(node: "m", state: .running)]))
        try expectGolden(withData, #"{"data":[{"cluster_role":"Supervisor::NONE","mgmt_role":"Management::NONE","node":"m","state":"Management::RUNNING"}],"reqid":"r3","success":true}"#)
        #expect(try withData.data?.decode(as: [Management.NodeStatus].self) == [Management.NodeStatus(node: "m", state: .running)])
        let defaulted = try ZeekJSON.decode(Management.Result.self, from: Data(#"{"reqid":"r4"}"#.utf8))
        #expect(defaulted.success)
        #expect(Management.Result(reqid: "r5", success: false, instance: "agent-a", error: "boom").description == "error (boom) (reqid r5, instance agent-a)")
    }

    @Test func nodeOutputsAndLog() throws {
        try expectGolden(Management.NodeOutputs(stdout: "a\nb", stderr: ""), #"{"stderr":"","stdout":"a\nb"}"#)
        try expectGolden(Management.Log.Info(ts: 1.5, node: "controller", level: "INFO", role: "CONTROLLER", message: "hi"),
                         #"{"level":"INFO","message":"hi","node":"controller","role":"CONTROLLER","ts":1.5}"#)
    }

    @Test func supervisorTypes() throws {
        let endpoint = Supervisor.ClusterEndpoint(role: .manager, host: .loopback, port: ZeekPort(2200), metricsPort: ZeekPort(9000))
        try expectGolden(endpoint, #"{"host":"127.0.0.1","metrics_port":{"port":9000,"proto":"tcp"},"p":{"port":2200,"proto":"tcp"},"role":"Supervisor::MANAGER"}"#)
        let config = Supervisor.NodeConfig(name: "manager", directory: "manager", stdoutFile: "stdout", bareMode: false,
                                           addlUserScripts: ["policy/frameworks/management/node"], env: ["X": "1"], cpuAffinity: 0,
                                           cluster: ["manager": endpoint])
        let configJSON = #"{"addl_base_scripts":[],"addl_user_scripts":["policy/frameworks/management/node"],"bare_mode":false,"cluster":{"manager":{"host":"127.0.0.1","metrics_port":{"port":9000,"proto":"tcp"},"p":{"port":2200,"proto":"tcp"},"role":"Supervisor::MANAGER"}},"cpu_affinity":0,"directory":"manager","env":{"X":"1"},"name":"manager","stdout_file":"stdout"}"#
        try expectGolden(config, configJSON)
        let minimal = try ZeekJSON.decode(Supervisor.NodeConfig.self, from: Data(#"{"name":"n"}"#.utf8))
        #expect(minimal == Supervisor.NodeConfig(name: "n"))
        try expectGolden(Supervisor.NodeStatus(node: Supervisor.NodeConfig(name: "n"), pid: 7),
                         #"{"node":{"addl_base_scripts":[],"addl_user_scripts":[],"cluster":{},"env":{},"name":"n"},"pid":7}"#)
        try expectGolden(Supervisor.Status(nodes: ["n": Supervisor.NodeStatus(node: Supervisor.NodeConfig(name: "n"))]),
                         #"{"nodes":{"n":{"node":{"addl_base_scripts":[],"addl_user_scripts":[],"cluster":{},"env":{},"name":"n"}}}}"#)
        #expect(try ZeekJSON.decode(Supervisor.Status.self, from: Data("{}".utf8)).nodes.isEmpty)
    }

    @Test func legacyTypes() throws {
        let node = ClusterController.Types.Node(name: "w", instance: "i", role: .worker, port: ZeekPort(2205))
        try expectGolden(node, #"{"env":{},"instance":"i","name":"w","p":{"port":2205,"proto":"tcp"},"role":"Supervisor::WORKER","state":"ClusterController::Types::RUNNING"}"#)
        try expectGolden(ClusterController.Types.Configuration(id: "c", instances: [ClusterController.Types.Instance(name: "i")], nodes: [node]),
                         #"{"id":"c","instances":[{"host":"0.0.0.0","name":"i"}],"nodes":[{"env":{},"instance":"i","name":"w","p":{"port":2205,"proto":"tcp"},"role":"Supervisor::WORKER","state":"ClusterController::Types::RUNNING"}]}"#)
        try expectGolden(ClusterController.Types.NodeStatus(node: "i", state: .running, mgmtRole: .agent, pid: 1),
                         #"{"cluster_role":"Supervisor::NONE","mgmt_role":"ClusterController::Types::AGENT","node":"i","pid":1,"state":"ClusterController::Types::RUNNING"}"#)
        // Legacy Result: instance and error are defaulted strings, always present.
        try expectGolden(ClusterController.Types.Result(reqid: "r"), #"{"error":"","instance":"","reqid":"r","success":true}"#)
        let decoded = try ZeekJSON.decode(ClusterController.Types.Result.self, from: Data(#"{"reqid":"r","success":false}"#.utf8))
        #expect(decoded.instance == "" && decoded.error == "" && !decoded.success)
    }

    @Test func jsonValueRoundTrip() throws {
        let value = JSONValue.object(["a": .array([.int(1), .double(2.5), .string("x"), .bool(true), .null])])
        try expectGolden(value, #"{"a":[1,2.5,"x",true,null]}"#)
    }

    /// Every kind decodes as itself wherever it sits, however the decoder tries them.
    @Test func jsonValueKinds() throws {
        let value = JSONValue.array([
            .string("1"), .string("true"), .string(""), .int(0), .int(-9_007_199_254_740_993), .bool(false), .bool(true),
            .double(-0.25), .double(1e300), .null, .object([:]), .array([]), .array([.array([.int(1)]), .object(["k": .null])]),
            .object(["s": .string("x"), "n": .int(7), "o": .object(["a": .array([.bool(true)])])]),
        ])
        try expectGolden(value, #"["1","true","",0,-9007199254740993,false,true,-0.25,1e+300,null,{},[],[[1],{"k":null}],{"n":7,"o":{"a":[true]},"s":"x"}]"#)
    }
}
