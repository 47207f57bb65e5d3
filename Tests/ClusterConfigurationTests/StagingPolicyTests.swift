#if canImport(Glibc)
import Glibc
#endif
import ClusterConfiguration
import ManagementTypes
import Testing

@Suite("Staging: validation rules and port assignment")
struct StagingPolicyTests {
    let policy = StagingPolicy()

    func node(_ name: String, _ instance: String = "i1", role: Supervisor.ClusterRole = .worker, port: UInt16? = nil, metrics: UInt16? = nil) -> Management.Node {
        Management.Node(name: name, instance: instance, role: role, port: port.map { ZeekPort($0) }, metricsPort: metrics.map { ZeekPort($0) })
    }

    func config(_ instances: [Management.Instance], _ nodes: [Management.Node]) -> Management.Configuration {
        Management.Configuration(id: "c", instances: Set(instances), nodes: Set(nodes))
    }

    @Test func validConfigurationHasNoProblems() {
        #expect(policy.problems(in: config([.init(name: "i1")], [node("manager", role: .manager), node("w1")])).isEmpty)
        #expect(policy.problems(in: config([], [])).isEmpty)
        #expect(policy.problems(in: config([.init(name: "unused")], [])).isEmpty, "instances without nodes are fine")
    }

    @Test func duplicateInstanceAndNodeNames() {
        let problems = policy.problems(in: config(
            [.init(name: "i1"), .init(name: "i1", host: IPAddress("10.0.0.1")!)],
            [node("w1"), node("w1", role: .proxy)]
        ))
        #expect(problems == ["multiple instances named 'i1'", "multiple nodes named 'w1'"])
    }

    @Test func namesSharedByNodesAndInstancesCollide() {
        let problems = policy.problems(in: config([.init(name: "i1"), .init(name: "b"), .init(name: "a")], [node("a"), node("b"), node("w")]))
        #expect(problems == ["node and instance names collide: a, b"])
    }

    @Test func undeclaredInstance() {
        #expect(policy.problems(in: config([.init(name: "i1")], [node("w1", "nowhere")])) == ["node 'w1' has undeclared instance name 'nowhere'"])
    }

    @Test func portConflicts() {
        let problems = policy.problems(in: config(
            [.init(name: "i1", host: IPAddress("10.0.0.1")!, listenPort: ZeekPort(2151))],
            [node("agentish", role: .manager, port: 2151), node("ctl", role: .logger, port: 2150),
             node("p1", role: .proxy, port: 5000), node("p2", role: .proxy, port: 5000)]
        ))
        #expect(problems == [
            "multiple nodes on instance 'i1' using port 5000/tcp",
            "node 'agentish' port 2151/tcp conflicts with agent port on instance 'i1'",
            "node 'ctl' port 2150/tcp conflicts with controller port",
        ])
    }

    @Test func samePortOnDifferentInstancesIsFine() {
        #expect(policy.problems(in: config([.init(name: "i1"), .init(name: "i2")], [node("a", "i1", role: .proxy, port: 5000), node("b", "i2", role: .proxy, port: 5000)])).isEmpty)
    }

    @Test func missingPortsWithoutAutoAssignment() {
        var strict = policy
        strict.autoAssignBrokerPorts = false
        let problems = strict.problems(in: config([.init(name: "i1")], [node("proxy", role: .proxy), node("manager", role: .manager), node("w", role: .worker), node("l", role: .logger, port: 3000)]))
        #expect(problems == ["Broker port auto-assignment disabled but nodes manager, proxy lack ports"])
    }

    @Test func brokerPortsAreAssignedByInstanceRoleAndName() throws {
        let prepared = try policy.prepared(config(
            [.init(name: "i1"), .init(name: "i2")],
            [node("manager", "i1", role: .manager), node("logger", "i1", role: .logger), node("proxy-1", "i1", role: .proxy), node("proxy-2", "i1", role: .proxy),
             node("logger-2", "i2", role: .logger), node("proxy-3", "i2", role: .proxy), node("proxy-4", "i2", role: .proxy), node("worker", "i2", role: .worker)]
        ), knownHosts: [:])
        let ports = Dictionary(uniqueKeysWithValues: prepared.nodes.map { ($0.name, $0.port?.number) })
        #expect(ports == ["manager": 2200, "logger": 2201, "proxy-1": 2202, "proxy-2": 2203,
                          "logger-2": 2204, "proxy-3": 2205, "proxy-4": 2206, "worker": nil])
    }

    @Test func assignmentSkipsPortsInUse() throws {
        let prepared = try policy.prepared(config(
            [.init(name: "i1", host: IPAddress("10.0.0.1")!, listenPort: ZeekPort(2200))],
            [node("manager", role: .manager), node("logger", role: .logger, port: 2201), node("proxy", role: .proxy)]
        ), knownHosts: [:])
        #expect(prepared.nodes.first { $0.name == "manager" }?.port == ZeekPort(2202))
        #expect(prepared.nodes.first { $0.name == "proxy" }?.port == ZeekPort(2203))
    }

    @Test func metricsPortsArePerHost() throws {
        let prepared = try policy.prepared(config(
            [.init(name: "i1"), .init(name: "i2")],
            [node("manager", "i1", role: .manager), node("logger", "i1", role: .logger), node("worker", "i1", role: .worker, metrics: 9001),
             node("worker-2", "i2", role: .worker)]
        ), knownHosts: ["i1": IPAddress("10.0.0.1")!, "i2": IPAddress("10.0.0.2")!])
        let metrics = Dictionary(uniqueKeysWithValues: prepared.nodes.map { ($0.name, $0.metricsPort?.number) })
        #expect(metrics == ["manager": 9000, "logger": 9002, "worker": 9001, "worker-2": 9000])
        #expect(prepared.instances.map(\.host).sorted() == [IPAddress("10.0.0.1")!, IPAddress("10.0.0.2")!], "hosts filled in from check-ins")
        #expect(prepared.id == "c")
    }

    @Test func disabledAssignmentLeavesPortsUnset() throws {
        let off = StagingPolicy(autoAssignBrokerPorts: false, autoAssignMetricsPorts: false)
        let prepared = try off.prepared(config([.init(name: "i1")], [node("manager", role: .manager, port: 3000), node("w")]), knownHosts: [:])
        #expect(prepared.nodes.map(\.metricsPort) == [nil, nil])
        #expect(prepared.instances.first?.host == .unspecified)
    }

    /// A port space taken up to its end: assignment must stop and say so, not wrap around or
    /// search forever.
    @Test(.timeLimit(.minutes(1))) func exhaustedBrokerPortsAreAnErrorNamingTheInstance() throws {
        // Every port from 2200 taken by workers of i1, then two managers on i2 wanting one.
        let workers = (2200...65535).map { node("w\($0)", role: .worker, port: UInt16($0)) }
        let config = config([.init(name: "i1"), .init(name: "i2")], workers + [node("m1", "i2", role: .manager), node("m2", "i2", role: .manager)])
        let started = threadCPUTime()
        #expect(throws: PortsExhausted(kind: "Broker", node: "m1", instance: "i2", needed: 2, start: 2200, free: 0)) {
            try policy.prepared(config, knownHosts: [:])
        }
        #expect(threadCPUTime() - started < .seconds(5), "CPU time of the assignment: a search that restarts for every node takes minutes")
        let error = try #require(throws: PortsExhausted.self) { try policy.prepared(config, knownHosts: [:]) }
        #expect(error.description == "cannot assign a Broker port to node 'm1' on instance 'i2': 2 nodes need one, "
            + "but only 0 of the ports from 2200 to 65535 are free; give nodes ports, or start auto-assignment lower")
    }

    @Test func brokerPortsStopAtTheTopOfThePortSpace() throws {
        var high = policy
        high.brokerPortStart = 65534
        let config = config([.init(name: "i1")], [node("a", role: .proxy), node("b", role: .proxy), node("c", role: .proxy)])
        let error = try #require(throws: PortsExhausted.self) { try high.prepared(config, knownHosts: [:]) }
        #expect(error.node == "c" && error.needed == 3 && error.free == 2, "65534 and 65535 given out, then no wrap-around to port 0")
        high.brokerPortStart = 65533
        let fits = try high.prepared(config, knownHosts: [:])
        #expect(fits.nodes.compactMap(\.port?.number).sorted() == [65533, 65534, 65535])
    }

    @Test func exhaustedMetricsPortsAreAnError() throws {
        var high = policy
        high.metricsPortStart = 65535
        let config = config([.init(name: "i1")], [node("w1"), node("w2")])
        let error = try #require(throws: PortsExhausted.self) { try high.prepared(config, knownHosts: [:]) }
        #expect(error.kind == "metrics" && error.node == "w2" && error.instance == "i1" && error.needed == 2 && error.free == 1)
    }

    /// About as many nodes as one instance can have: each gets its own ports, in little time
    /// (the search for a free port used to restart for every node).
    @Test(.timeLimit(.minutes(1))) func sixtyThousandNodesOnOneInstanceGetPortsQuickly() throws {
        var policy = policy
        policy.metricsPortStart = 2200 // the same range as Broker ports: each must skip the other's
        // 2,000 Broker ports and 60,000 metrics ports: nearly all of 2200-65535.
        let proxies = (0..<2_000).map { node("p\($0)", role: .proxy) }
        let workers = (0..<58_000).map { node("w\($0)", role: .worker) }
        let config = config([.init(name: "i1", listenPort: ZeekPort(2300))], proxies + workers)
        let started = threadCPUTime()
        let prepared = try policy.prepared(config, knownHosts: [:])
        #expect(threadCPUTime() - started < .seconds(5), "CPU time of the assignment: a search that restarts for every node takes minutes")
        let brokerPorts = prepared.nodes.compactMap(\.port?.number)
        let metricsPorts = prepared.nodes.compactMap(\.metricsPort?.number)
        #expect(brokerPorts.count == 2_000 && metricsPorts.count == 60_000)
        let all = brokerPorts + metricsPorts + [2300]
        #expect(Set(all).count == all.count, "no port given twice on the host, nor the agent's")
        #expect(brokerPorts.min() == 2200 && brokerPorts.max() == 4200, "Broker ports from the start upward, skipping the agent's 2300")
        #expect(all.allSatisfy { $0 >= 2200 })
    }
}

/// CPU time this thread has used: what a synchronous computation costs, whatever else the
/// machine (or the tests running beside it) is doing meanwhile.
private func threadCPUTime() -> Duration {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return .seconds(time.tv_sec) + .nanoseconds(time.tv_nsec)
}

extension StagingPolicyTests {
    @Test func theArchiversNamesAreReservedAndItsLoggersShareAUser() {
        let policy = StagingPolicy()
        var config = Management.Configuration(instances: [Management.Instance(name: "a")], nodes: [
            Management.Node(name: "zeek-archiver", instance: "a", role: .worker),
            Management.Node(name: "logger-1", instance: "a", role: .logger, port: ZeekPort(2000), user: "nobody"),
            Management.Node(name: "logger-2", instance: "a", role: .logger, port: ZeekPort(2001)),
        ], archivers: ["a": LogArchiver(), "b": LogArchiver(program: "relative")])
        let problems = policy.problems(in: config)
        #expect(problems.contains { $0.hasPrefix("node name 'zeek-archiver' is reserved") })
        #expect(problems.contains("the logging nodes of instance 'a' run as different users or groups, but share its log archive: give them one"))
        #expect(problems.contains("log archiver of undeclared instance 'b'"))
        config.archivers = [:]
        #expect(!policy.problems(in: config).contains { $0.contains("logging nodes") })
    }
}
