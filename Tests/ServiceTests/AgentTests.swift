import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LocalServers
import ManagementMessaging
import ManagementTypes
import MessageSigning
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// agent-service with a real supervisor-service and real cluster-node processes; the test
/// plays the controller.
@Suite("Agent", .timeLimit(.minutes(3)))
struct AgentTests {
    struct Host {
        let broker: LocalBroker
        let supervisor: ServiceProcess
        let agent: ServiceProcess
        let controller: TestAgent
        let baseDirectory: URL

        static func start(agentArguments: [String] = [], supervisorArguments: [String] = []) async throws -> Host {
            let broker = try await LocalBroker.start()
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("agent-test-\(UUID().uuidString)")
            let supervisor = try ServiceProcess("supervisor-service", arguments: [
                "--brokers", broker.address, "--instance", "agent-t", "--base-dir", base.path, "--kill-after", "3", "--stop-interval", "1",
            ] + supervisorArguments)
            let agent = try ServiceProcess("agent-service", arguments: [
                "--brokers", broker.address, "--instance", "agent-t", "--heartbeat", "1", "--request-timeout", "8",
            ] + agentArguments)
            try await supervisor.waitForOutput("supervisor-service ready")
            try await agent.waitForOutput("agent-service ready")
            let controller = try await TestAgent(broker: broker, instance: "agent-t", name: "controller",
                                                 consumes: [.agentAPI, .agentAPI.notify, .legacyAgentAPI, .legacyAgentAPI.notify, .supervisorAPI.notify])
            return Host(broker: broker, supervisor: supervisor, agent: agent, controller: controller, baseDirectory: base)
        }

        func deploy(_ config: Management.Configuration, force: Bool = false) async throws -> [Management.Result] {
            try await controller.request(AgentAPI.DeployRequest(reqid: reqid(), config: config, force: force, configSignature: try operatorSignature(config)), on: .agentAPI,
                                         expecting: AgentAPI.DeployResponse.self).results
        }

        func nodes() async throws -> [Management.NodeStatus] {
            let result = try await controller.request(AgentAPI.GetNodesRequest(reqid: reqid()), on: .agentAPI, expecting: AgentAPI.GetNodesResponse.self).result
            #expect(result.success && result.instance == "agent-t")
            return try result.data?.decode(as: [Management.NodeStatus].self) ?? []
        }

        func pids() async throws -> [String: Int] {
            Dictionary(uniqueKeysWithValues: try await nodes().filter { $0.mgmtRole == .none }.compactMap { status in status.pid.map { (status.node, $0) } })
        }

        func stop() async throws {
            #expect(try await agent.stop() == 0)
            #expect(try await supervisor.stop() == 0)
            await controller.shutdown()
            broker.stop()
            try? FileManager.default.removeItem(at: baseDirectory)
        }
    }

    static func config(id: String = UUID().uuidString, extra: [Management.Node] = []) -> Management.Configuration {
        Management.Configuration(
            id: id,
            instances: [Management.Instance(name: "agent-t"), Management.Instance(name: "agent-other", host: IPAddress("10.0.0.2")!)],
            nodes: Set([
                Management.Node(name: "manager", instance: "agent-t", role: .manager, port: ZeekPort(2200), metricsPort: ZeekPort(9000)),
                Management.Node(name: "logger", instance: "agent-t", role: .logger, port: ZeekPort(2201),
                                options: [Management.Option(name: "Log::default_rotation_interval", value: "1hr")]),
                Management.Node(name: "worker-1", instance: "agent-t", role: .worker, interface: "lo"),
                Management.Node(name: "worker-2", instance: "agent-other", role: .worker),
            ] + extra)
        )
    }

    @Test func deployReachesRunningAndIsReported() async throws {
        let host = try await Host.start()
        let results = try await host.deploy(Self.config())
        #expect(Set(results.compactMap(\.node)) == ["manager", "logger", "worker-1"], "only this instance's nodes: \(results)")
        #expect(results.allSatisfy { $0.success && $0.instance == "agent-t" })
        try await host.controller.waitFor(AgentAPI.NotifyLog.self) { $0.msg.hasSuffix(": 3 of 3 nodes running") && $0.instance == "agent-t" }
        let changes = host.controller.all(AgentAPI.NotifyChange.self).filter { $0.new == .running }.map(\.n.name)
        #expect(Set(changes) == ["manager", "logger", "worker-1"])

        let statuses = try await host.nodes()
        let byName = Dictionary(uniqueKeysWithValues: statuses.map { ($0.node, $0) })
        #expect(byName["manager"]?.state == .running && byName["manager"]?.clusterRole == .manager)
        #expect(byName["manager"]?.port == ZeekPort(2200) && byName["manager"]?.metricsPort == ZeekPort(9000))
        #expect(byName["worker-1"]?.clusterRole == .worker && byName["worker-1"]?.port == nil)
        #expect(statuses.filter { $0.mgmtRole == .none }.allSatisfy { $0.pid.map(isAlive) == true })
        #expect(byName["agent-t"]?.mgmtRole == .agent && byName["agent-t"]?.state == .running && byName["agent-t"]?.pid == Int(host.agent.pid))

        // The node got the whole layout and its options.
        let dispatch = try await host.controller.request(AgentAPI.NodeDispatchRequest(reqid: reqid(), action: ["get_id_value", "Log::default_rotation_interval"], nodes: ["logger"]),
                                                         on: .agentAPI, expecting: AgentAPI.NodeDispatchResponse.self)
        #expect(dispatch.results.map(\.data) == [.string(#""1hr""#)])
        let layout = try await host.controller.request(AgentAPI.NodeDispatchRequest(reqid: reqid(), action: ["get_id_value", "Cluster::nodes"], nodes: ["worker-1"]),
                                                       on: .agentAPI, expecting: AgentAPI.NodeDispatchResponse.self)
        #expect(layout.results.first?.data?.stringValue?.contains(#""worker-2":{"ip":"10.0.0.2""#) == true)
        try await host.stop()
    }

    @Test func redeployIsANoOpUnlessForced() async throws {
        let host = try await Host.start()
        let config = Self.config()
        _ = try await host.deploy(config)
        let before = try await host.pids()
        let again = try await host.deploy(config)
        #expect(again == [Management.Result(reqid: again.first?.reqid ?? "", instance: "agent-t")], "already running: one node-less result")
        #expect(try await host.pids() == before)

        let forced = try await host.deploy(config, force: true)
        #expect(forced.filter { $0.node != nil }.count == 3 && forced.allSatisfy(\.success))
        let after = try await host.pids()
        #expect(Set(after.keys) == Set(before.keys) && after.allSatisfy { before[$0.key] != $0.value })
        #expect(before.values.allSatisfy { !isAlive($0) })
        try await host.stop()
    }

    @Test func nodeFailingAtStartIsReportedWithItsOutput() async throws {
        let host = try await Host.start()
        // Options the stand-in cannot read: it exits at start, saying why (the host policy lets
        // a configuration set no other ZEEK_MGMT_ key).
        let broken = Management.Node(name: "worker-broken", instance: "agent-t", role: .worker, env: [Management.Option.environmentVariable: "not json"])
        let results = try await host.deploy(Self.config(extra: [broken]))
        #expect(results.first == Management.Result(reqid: results.first!.reqid, success: false, instance: "agent-t", error: "request timed out"))
        let failed = try #require(results.first { $0.node == "worker-broken" })
        #expect(!failed.success)
        let outputs = try #require(try failed.data?.decode(as: Management.NodeOutputs.self))
        #expect(outputs.stderr.contains("\(Management.Option.environmentVariable) is not a JSON array of options"), "\(outputs)")
        let others = results.filter { $0.node != nil && $0.node != "worker-broken" }
        #expect(others.count == 3 && others.allSatisfy { $0.success }, "\(results)")
        try await host.stop()
    }

    /// The supervisor cannot start the node program (it vanished after the supervisor started):
    /// the deploy's Result for each node says so, where a bare failure said nothing before.
    @Test func nodesTheSupervisorCannotCreateAreReportedWithItsReason() async throws {
        let program = FileManager.default.temporaryDirectory.appendingPathComponent("agent-test-node-\(UUID().uuidString).sh")
        try "#!/bin/sh\nexec sleep 600\n".write(to: program, atomically: true, encoding: .utf8)
        chmod(program.path, 0o755)
        let host = try await Host.start(supervisorArguments: ["--node-command", program.path])
        try FileManager.default.removeItem(at: program)
        let results = try await host.deploy(Self.config())
        let byNode = Dictionary(uniqueKeysWithValues: results.compactMap { result in result.node.map { ($0, result) } })
        #expect(Set(byNode.keys) == ["manager", "logger", "worker-1"], "\(results)")
        #expect(!results.contains { $0.node == nil && !$0.success }, "the supervisor answered: no timeout. \(results)")
        for (name, result) in byNode {
            let expected = "failed to create node \(name): failed to start node '\(name)': exec \(program.path): No such file or directory"
            #expect(!result.success && result.error == expected, "\(result)")
            #expect(try result.data?.decode(as: Management.NodeOutputs.self).stderr == expected)
        }
        try await host.stop()
    }

    @Test func dispatchToAHungNodeTimesOutForThatNodeOnly() async throws {
        let host = try await Host.start()
        _ = try await host.deploy(Self.config())
        let hung = try #require(try await host.pids()["worker-1"])
        kill(Int32(hung), SIGSTOP)
        defer { kill(Int32(hung), SIGCONT) }
        let response = try await host.controller.request(AgentAPI.NodeDispatchRequest(reqid: reqid(), action: ["get_id_value", "Cluster::node"]),
                                                         on: .agentAPI, expecting: AgentAPI.NodeDispatchResponse.self)
        let byNode = Dictionary(uniqueKeysWithValues: response.results.map { ($0.node ?? "?", $0) })
        #expect(byNode["manager"]?.data == .string(#""manager""#) && byNode["logger"]?.success == true)
        #expect(byNode["worker-1"]?.success == false)
        #expect(byNode["worker-1"]?.error == "cluster node worker-1 did not answer within 8.0 seconds")
        #expect(response.results.allSatisfy { $0.instance == "agent-t" })
        kill(Int32(hung), SIGCONT)
        try await host.stop()
    }

    @Test func restartAndCrashAreReportedAsStateChanges() async throws {
        let host = try await Host.start()
        _ = try await host.deploy(Self.config())
        let before = try await host.pids()
        let restart = try await host.controller.request(AgentAPI.RestartRequest(reqid: reqid(), nodes: ["worker-1", "no-such-node"]),
                                                        on: .agentAPI, expecting: AgentAPI.RestartResponse.self)
        #expect(restart.results.map(\.node) == ["worker-1"] && restart.results.allSatisfy(\.success))
        let after = try await host.pids()
        #expect(after["worker-1"] != before["worker-1"] && after["manager"] == before["manager"])
        try await host.controller.waitFor(AgentAPI.NotifyLog.self) { $0.msg == "restarted node worker-1" && $0.node == "worker-1" }

        kill(Int32(after["manager"]!), SIGKILL)
        try await host.controller.waitFor(AgentAPI.NotifyChange.self) { $0.n.name == "manager" && $0.old == .running && $0.new == .crashed }
        try await host.controller.waitFor(AgentAPI.NotifyChange.self) { $0.n.name == "manager" && $0.old == .pending && $0.new == .running }
        let transitions = host.controller.all(AgentAPI.NotifyChange.self) { $0.n.name == "worker-1" }.map { "\($0.old.rawValue)>\($0.new.rawValue)" }
        #expect(transitions == ["PENDING>RUNNING", "RUNNING>PENDING", "PENDING>RUNNING"])
        try await host.stop()
    }

    @Test func standbyStopsEveryNode() async throws {
        let host = try await Host.start()
        _ = try await host.deploy(Self.config())
        let pids = try await host.pids()
        let standby = try await host.controller.request(AgentAPI.AgentStandbyRequest(reqid: reqid()), on: .agentAPI, expecting: AgentAPI.AgentStandbyResponse.self)
        #expect(standby.result == Management.Result(reqid: standby.reqid, instance: "agent-t"))
        try await waitUntilGone(Array(pids.values))
        #expect(try await host.nodes().map(\.node) == ["agent-t"])
        let welcome = try await host.controller.request(AgentAPI.AgentWelcomeRequest(reqid: reqid()), on: .agentAPI, expecting: AgentAPI.AgentWelcomeResponse.self)
        #expect(welcome.result.success && welcome.result.instance == "agent-t")
        try await host.stop()
    }

    @Test func heartbeatsCarryTheAgentsAddress() async throws {
        let host = try await Host.start(agentArguments: ["--advertised-host", "192.0.2.7"])
        let hellos = try await host.controller.waitFor(AgentAPI.NotifyAgentHello.self, count: 3, timeout: .seconds(10))
        #expect(hellos.allSatisfy { $0.instance == "agent-t" && $0.api_version == 1 && $0.host == IPAddress("192.0.2.7") })
        #expect(Set(hellos.map(\.id)).count == 1)
        try await host.stop()
    }

    @Test func malformedRequestsAreAnsweredOrReported() async throws {
        let host = try await Host.start()
        // Wrong type inside the config: answered with the path of the problem.
        let id = reqid()
        await host.controller.expect(id)
        try await host.controller.sendRaw("""
            {"event":"Management::Agent::API::deploy_request","args":{"reqid":"\(id)","force":false,"config":{"id":"c","nodes":[{"name":"w","instance":"agent-t","role":"Supervisor::WORKR","state":"Management::RUNNING"}]}},"sender":"controller","target":"agent-t","ts":\(Date().timeIntervalSince1970),"api_version":1}
            """, to: .agentAPI, target: "agent-t", broker: host.broker)
        let answer = try await host.controller.response(id).decode(AgentAPI.DeployResponse.self).event
        #expect(answer.results.count == 1 && answer.results[0].success == false)
        #expect(answer.results[0].error?.hasPrefix(#"invalid Management::Agent::API::deploy_request: args.config.nodes[0].role: unknown value "Supervisor::WORKR""#) == true)
        // No reqid at all: reported on the notify topic.
        try await host.controller.sendRaw("""
            {"event":"Management::Agent::API::get_nodes_request","args":{},"sender":"controller","target":"agent-t","ts":\(Date().timeIntervalSince1970),"api_version":1}
            """, to: .agentAPI, target: "agent-t", broker: host.broker)
        try await host.controller.waitFor(AgentAPI.NotifyError.self) { $0.msg.contains("without a usable reqid") }
        // The agent is still serving.
        #expect(try await host.nodes().map(\.node) == ["agent-t"])
        try await host.stop()
    }

    @Test func configNamingUndeclaredInstancesOnlyRunsThisInstancesNodes() async throws {
        let host = try await Host.start()
        // The controller validates configurations; an agent given one that names instances it
        // does not declare still runs exactly its own nodes (with an unknown host in the layout).
        let config = Management.Configuration(id: "undeclared", instances: [Management.Instance(name: "someone-else")], nodes: [
            Management.Node(name: "mine", instance: "agent-t", role: .worker),
            Management.Node(name: "ghost-node", instance: "ghost", role: .worker),
        ])
        let results = try await host.deploy(config)
        #expect(results.map(\.node) == ["mine"] && results.allSatisfy(\.success), "\(results)")
        let layout = try await host.controller.request(AgentAPI.NodeDispatchRequest(reqid: reqid(), action: ["get_id_value", "Cluster::nodes"], nodes: ["mine"]),
                                                       on: .agentAPI, expecting: AgentAPI.NodeDispatchResponse.self)
        #expect(layout.results.first?.data?.stringValue?.contains(#""mine":{"ip":"0.0.0.0""#) == true, "\(layout)")
        try await host.stop()
    }

    @Test func legacyNamespaceIsServed() async throws {
        let host = try await Host.start()
        let legacy = ClusterController.Types.Configuration(id: "legacy-1", instances: [ClusterController.Types.Instance(name: "agent-t")], nodes: [
            ClusterController.Types.Node(name: "manager", instance: "agent-t", role: .manager, port: ZeekPort(2200)),
            ClusterController.Types.Node(name: "worker-1", instance: "agent-t", role: .worker),
        ])
        let set = try await host.controller.request(ClusterAgentAPI.SetConfigurationRequest(reqid: reqid(), config: legacy, configSignature: try .legacyStageRequest(for: legacy, signedWith: LocalKeys.shared.signingKey(LocalKeys.shared.deployer))), on: .legacyAgentAPI,
                                                    expecting: ClusterAgentAPI.SetConfigurationResponse.self)
        #expect(set.result == ClusterController.Types.Result(reqid: set.reqid, instance: "agent-t"))
        let nodes = try await host.controller.request(ClusterAgentAPI.GetNodesRequest(reqid: reqid()), on: .legacyAgentAPI,
                                                      expecting: ClusterAgentAPI.GetNodesResponse.self)
        let statuses = try #require(try nodes.result.data?.decode(as: [ClusterController.Types.NodeStatus].self))
        #expect(Set(statuses.map(\.node)) == ["manager", "worker-1", "agent-t"])
        #expect(statuses.first { $0.node == "agent-t" }?.mgmtRole == .agent)
        #expect(statuses.filter { $0.mgmtRole == .none }.allSatisfy { $0.state == .running })
        let welcome = try await host.controller.request(ClusterAgentAPI.AgentWelcomeRequest(reqid: reqid()), on: .legacyAgentAPI,
                                                        expecting: ClusterAgentAPI.AgentWelcomeResponse.self)
        #expect(welcome.result.success && welcome.result.instance == "agent-t" && welcome.result.error == "")
        try await host.controller.waitFor(ClusterAgentAPI.NotifyAgentHello.self) { $0.instance == "agent-t" }
        let standby = try await host.controller.request(ClusterAgentAPI.AgentStandbyRequest(reqid: reqid()), on: .legacyAgentAPI,
                                                        expecting: ClusterAgentAPI.AgentStandbyResponse.self)
        #expect(standby.result.success)
        try await host.stop()
    }

    @Test func kafkaErrorsAreCountedAndALostBrokerIsNotFatal() async throws {
        let pushgateway = try await LocalPushgateway.start()
        defer { pushgateway.stop() }
        let host = try await Host.start(agentArguments: ["--pushgateway", pushgateway.url, "--push-interval", "0.2"])
        host.broker.stop()
        let deadline = ContinuousClock.now + .seconds(15)
        var counted = false
        while !counted && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            let metrics = String(decoding: try await URLSession.shared.data(from: URL(string: pushgateway.url + "/metrics")!).0, as: UTF8.self)
            counted = metrics.split(separator: "\n").contains { line in
                line.hasPrefix(#"zeek_mgmt_agent_kafka_errors_total{instance="agent-t",job="zeek-agent"}"#) && !line.hasSuffix(" 0")
            }
        }
        #expect(counted, "librdkafka's errors about the lost broker are counted")
        #expect(try await host.agent.stop(timeout: .seconds(30)) == 0, "the agent still stops cleanly")
        _ = try await host.supervisor.stop(timeout: .seconds(30))
        await host.controller.shutdown()
    }

    @Test func metricsReachThePushgateway() async throws {
        let pushgateway = try await LocalPushgateway.start()
        defer { pushgateway.stop() }
        let host = try await Host.start(agentArguments: ["--pushgateway", pushgateway.url, "--push-interval", "0.2"])
        _ = try await host.deploy(Self.config())
        let running = #"zeek_mgmt_agent_nodes{instance="agent-t",job="zeek-agent",state="RUNNING"} 3"#
        // Counted once the answer is sent, so it may reach the gateway a push after the nodes.
        let deployed = #"zeek_mgmt_agent_requests_total{event="Management::Agent::API::deploy_request",instance="agent-t",job="zeek-agent",outcome="success"} 1"#
        let deadline = ContinuousClock.now + .seconds(10)
        var metrics = ""
        while !(metrics.contains(running) && metrics.contains(deployed)) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            metrics = String(decoding: try await URLSession.shared.data(from: URL(string: pushgateway.url + "/metrics")!).0, as: UTF8.self)
        }
        #expect(metrics.contains(running), "\(metrics.prefix(3000))")
        #expect(metrics.contains(deployed))
        #expect(metrics.contains("zeek_mgmt_agent_deploy_duration_seconds_count{"))
        try await host.stop()
        let after = String(decoding: try await URLSession.shared.data(from: URL(string: pushgateway.url + "/metrics")!).0, as: UTF8.self)
        #expect(!after.contains(#"instance="agent-t""#), "a cleanly stopped agent deletes its group")
    }
}

/// The deploy operator's signature of `config`, which agents require of what they run.
func operatorSignature(_ config: Management.Configuration) throws -> SignedRecord {
    try .stageRequest(for: config, signedWith: LocalKeys.shared.signingKey(LocalKeys.shared.deployer))
}
