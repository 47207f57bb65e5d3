import ClusterConfiguration
import ManagementTypes
import Testing

@Suite("Metrics targets: Prometheus HTTP service discovery of the nodes")
struct MetricsTargetsTests {
    func node(_ name: String, _ instance: String, role: Supervisor.ClusterRole = .worker, metrics: UInt16?) -> Management.Node {
        Management.Node(name: name, instance: instance, role: role, metricsPort: metrics.map { ZeekPort($0) })
    }

    let config = Management.Configuration(
        id: "c",
        instances: [.init(name: "agent-a", host: IPAddress("10.0.0.1")!), .init(name: "agent-b", host: IPAddress("10.0.0.2")!)],
        nodes: [
            Management.Node(name: "manager", instance: "agent-a", role: .manager, metricsPort: ZeekPort(9000)),
            Management.Node(name: "logger", instance: "agent-a", role: .logger, metricsPort: ZeekPort(9001)),
            Management.Node(name: "worker-1", instance: "agent-b", role: .worker, metricsPort: ZeekPort(9000)),
            Management.Node(name: "worker-2", instance: "agent-b", role: .worker, metricsPort: ZeekPort(9001)),
        ]
    )

    @Test func everyRunningNodeIsOneGroupWithItsLabels() {
        let states: [String: Management.State] = ["manager": .running, "logger": .running, "worker-1": .running, "worker-2": .running]
        #expect(MetricsTargets.groups(of: config, states: states) == [
            PrometheusTargetGroup(targets: ["10.0.0.1:9001"], labels: ["node": "logger", "role": "logger", "host": "agent-a"]),
            PrometheusTargetGroup(targets: ["10.0.0.1:9000"], labels: ["node": "manager", "role": "manager", "host": "agent-a"]),
            PrometheusTargetGroup(targets: ["10.0.0.2:9000"], labels: ["node": "worker-1", "role": "worker", "host": "agent-b"]),
            PrometheusTargetGroup(targets: ["10.0.0.2:9001"], labels: ["node": "worker-2", "role": "worker", "host": "agent-b"]),
        ])
    }

    @Test func onlyRunningNodesAreListed() {
        let states: [String: Management.State] = ["manager": .running, "logger": .crashed, "worker-1": .pending, "worker-2": .stopped]
        #expect(MetricsTargets.groups(of: config, states: states).map(\.labels["node"]) == ["manager"])
        #expect(MetricsTargets.groups(of: config, states: [:]).isEmpty, "a node of unknown state is not listed")
        for state in [Management.State.failed, .unknown] {
            #expect(MetricsTargets.groups(of: config, states: ["manager": state]).isEmpty)
        }
    }

    @Test func nodesWithoutMetricsPortOrAddressAreLeftOut() {
        let config = Management.Configuration(
            id: "c",
            instances: [.init(name: "known", host: IPAddress("10.0.0.1")!), .init(name: "unknown")],
            nodes: [
                node("no-port", "known", metrics: nil), node("port-zero", "known", metrics: 0),
                node("no-address", "unknown", metrics: 9000), node("listed", "known", metrics: 9002),
            ]
        )
        let states = Dictionary(uniqueKeysWithValues: config.nodes.map { ($0.name, Management.State.running) })
        #expect(MetricsTargets.groups(of: config, states: states).map(\.targets) == [["10.0.0.1:9002"]])
        // Once its agent checks in with an address, the node is listed there.
        #expect(MetricsTargets.groups(of: config, states: states, hosts: ["unknown": IPAddress("10.0.0.9")!]).map(\.targets)
                == [["10.0.0.1:9002"], ["10.0.0.9:9000"]])
    }

    @Test func theAgentsCurrentAddressWinsAndIPv6IsBracketed() {
        let states: [String: Management.State] = ["worker-1": .running]
        let hosts = ["agent-b": IPAddress("fd00::2")!, "agent-a": IPAddress.unspecified]
        #expect(MetricsTargets.groups(of: config, states: states, hosts: hosts).map(\.targets) == [["[fd00::2]:9000"]])
        #expect(MetricsTargets.address(IPAddress("2001:db8::1")!, port: 9911) == "[2001:db8::1]:9911")
        #expect(MetricsTargets.address(IPAddress("192.0.2.7")!, port: 9911) == "192.0.2.7:9911")
        // An agent that reports no address keeps the one the configuration recorded.
        #expect(MetricsTargets.groups(of: config, states: ["manager": .running], hosts: hosts).map(\.targets) == [["10.0.0.1:9000"]])
    }

    @Test func theDocumentIsPrometheusHTTPServiceDiscovery() {
        let groups = MetricsTargets.groups(of: config, states: ["worker-1": .running])
        #expect(String(decoding: MetricsTargets.document(groups), as: UTF8.self)
                == #"[{"labels":{"host":"agent-b","node":"worker-1","role":"worker"},"targets":["10.0.0.2:9000"]}]"#)
        #expect(MetricsTargets.document([]) == Array("[]".utf8), "no node: an empty list, which Prometheus takes as no targets")
    }
}
