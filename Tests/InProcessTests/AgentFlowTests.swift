#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Testing

/// The agent's flows, in-process: the real agent on the in-memory bus, its host (supervisor
/// and nodes) simulated, the test in the controller's place, time on a test clock.
@Suite("Agent, in-process")
struct AgentFlowTests {
    /// One agent with its host; the test's probe reads what a controller would.
    private func agent() async -> (InProcessCluster, SimulatedHost) {
        let cluster = InProcessCluster()
        let host = cluster.startAgent("agent-a")
        #expect(await cluster.waitForCheckIns(["agent-a"]))
        return (cluster, host)
    }

    /// Every role on one host, listed in an order that is not the start order.
    private func oneHost(id: String = "one-host") -> Management.Configuration {
        Management.Configuration(id: id, instances: [Management.Instance(name: "agent-a")], nodes: [
            Management.Node(name: "worker-1", instance: "agent-a", role: .worker, interface: "eth0"),
            Management.Node(name: "proxy", instance: "agent-a", role: .proxy),
            Management.Node(name: "manager", instance: "agent-a", role: .manager),
            Management.Node(name: "logger", instance: "agent-a", role: .logger),
        ])
    }

    private func ask<Request: ManagementRequest>(_ cluster: InProcessCluster, _ request: Request, on topic: Topic = .agentAPI) async throws -> Request.Response {
        try await cluster.client.request(request, on: topic, target: "agent-a")
    }

    private func deploy(_ cluster: InProcessCluster, _ config: Management.Configuration, force: Bool = false) async throws -> [Management.Result] {
        try await ask(cluster, AgentAPI.DeployRequest.signed(reqid: UUID().uuidString, config: config, force: force)).results
    }

    private func statuses(_ cluster: InProcessCluster) async throws -> [String: Management.NodeStatus] {
        let result = try await ask(cluster, AgentAPI.GetNodesRequest(reqid: UUID().uuidString)).result
        let statuses = try #require(try result.data?.decode(as: [Management.NodeStatus].self))
        return Dictionary(statuses.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
    }

    @Test func deployStartsRolesInZeeksOrderAndReportsEveryNode() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        let results = try await deploy(cluster, oneHost())
        #expect(results.count == 4 && results.allSatisfy { $0.success && $0.instance == "agent-a" })
        #expect(host.creationOrder == ["logger", "manager", "proxy", "worker-1"])
        let statuses = try await statuses(cluster)
        #expect(statuses["worker-1"]?.state == .running && statuses["worker-1"]?.pid == host.pids["worker-1"])
        #expect(statuses["agent-a"]?.mgmtRole == .agent)
        #expect(await cluster.client.first(AgentAPI.NotifyChange.self) { $0.event.n.name == "logger" && $0.event.new == .running } != nil)
    }

    @Test func theSameConfigurationIsNotDeployedTwiceUnlessForced() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        _ = try await deploy(cluster, oneHost())
        let first = host.pids
        _ = try await deploy(cluster, oneHost())
        #expect(host.pids == first)
        let forced = try await deploy(cluster, oneHost(), force: true)
        #expect(forced.allSatisfy { $0.success })
        #expect(Set(host.pids.keys) == Set(first.keys) && host.pids.allSatisfy { first[$0.key] != $0.value })
    }

    @Test func aFailedCheckLeavesTheRunningNodesAlone() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        _ = try await deploy(cluster, oneHost())
        let before = host.pids
        host.failCheck(of: "proxy", with: "local.zeek, line 3: unknown identifier")
        let results = try await deploy(cluster, oneHost(id: "two"))
        #expect(results.contains { $0.node == "proxy" && !$0.success && $0.error == "local.zeek, line 3: unknown identifier" })
        #expect(results.last?.error == "configuration two not deployed: the nodes running before were left as they were")
        #expect(host.pids == before)
    }

    @Test func checkAsksTheSupervisorAboutEveryNodeAndStartsNothing() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        let passed = try await ask(cluster, AgentAPI.CheckRequest.signed(reqid: "c1", config: oneHost())).results
        #expect(passed.count == 1 && passed[0].success && passed[0].instance == "agent-a")
        host.failCheck(of: "manager", with: "manager.zeek, line 2: syntax error")
        let refused = try await ask(cluster, AgentAPI.CheckRequest.signed(reqid: "c2", config: oneHost(id: "other"))).results
        #expect(refused.count == 1 && refused[0].node == "manager" && refused[0].error == "manager.zeek, line 2: syntax error")
        let output = try #require(try refused[0].data?.decode(as: Management.NodeOutputs.self))
        #expect(output.stderr == "manager.zeek, line 2: syntax error", "Zeek's text is the node's stderr, where zeek-client shows it")
        #expect(host.creationOrder.isEmpty && host.pids.isEmpty)
    }

    @Test func welcomeIsAnsweredByTheInstance() async throws {
        let (cluster, _) = await agent()
        defer { Task { await cluster.shutdown() } }
        let response = try await ask(cluster, AgentAPI.AgentWelcomeRequest(reqid: "w"))
        #expect(response.result.success && response.result.instance == "agent-a" && response.result.reqid == "w")
    }

    @Test func dispatchAsksTheRunningNodesOnly() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        _ = try await deploy(cluster, oneHost())
        host.crash("proxy", on: cluster.client.endpoint)
        #expect(await cluster.client.first(AgentAPI.NotifyChange.self) { $0.event.n.name == "proxy" && $0.event.new == .crashed } != nil)
        let response = try await ask(cluster, AgentAPI.NodeDispatchRequest(reqid: "d", action: ["get_id_value", "Cluster::node"]))
        let byNode = Dictionary(response.results.map { ($0.node ?? "", $0) }, uniquingKeysWith: { first, _ in first })
        #expect(byNode["worker-1"]?.data == .string("worker-1") && byNode["worker-1"]?.success == true)
        #expect(byNode["proxy"]?.success == false && byNode["proxy"]?.error == "cluster node proxy not in running state")
        #expect(try await statuses(cluster)["proxy"]?.state == .crashed)
    }

    @Test func restartWaitsForTheNewProcess() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        _ = try await deploy(cluster, oneHost())
        let before = try #require(host.pids["worker-1"])
        let response = try await ask(cluster, AgentAPI.RestartRequest(reqid: "r", nodes: ["worker-1"]))
        #expect(response.results.count == 1 && response.results[0].success && response.results[0].node == "worker-1")
        #expect(host.pids["worker-1"] != before)
        #expect(try await statuses(cluster)["worker-1"]?.pid == host.pids["worker-1"])
    }

    @Test func aSilentSupervisorFailsTheDeployAtTheAgentsTimeout() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        host.setSilent(true)
        let pending = cluster.client.send(AgentAPI.DeployRequest.signed(reqid: "quiet", config: oneHost()), on: .agentAPI, target: "agent-a")
        #expect(await cluster.client.wait { $0.filter { $0.event == SupervisorManagement.CheckRequest.eventName }.count == 4 })
        cluster.clock.advance(by: .seconds(5))
        let results = try await pending.value.results
        #expect(results.filter { !$0.success && $0.node != nil }.count == 4)
        #expect(results.contains { $0.error == "the supervisor did not answer: request timed out" })
        #expect(host.creationOrder.isEmpty, "nothing is created unless every node passed its check")
    }

    /// A logger that dies as it starts holds up neither the next roles nor the answer past the
    /// agent's timeout: the controller (whose timeout is twice the agent's) gets every node's
    /// outcome, as from Zeek's agent, instead of timing the whole host out itself.
    @Test func aNodeThatDiesWhileStartingDoesNotHoldUpTheNextRoles() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        host.failStart(of: "logger", with: "ZEEK_MGMT_NODE_OPTIONS is not a JSON array of options")
        let pending = cluster.client.send(AgentAPI.DeployRequest.signed(reqid: "bad-logger", config: oneHost()), on: .agentAPI, target: "agent-a")
        // The time stands still: the next roles start on the logger's exit, not on a timeout.
        #expect(await cluster.client.wait { $0.filter { $0.event == SupervisorControl.CreateRequest.eventName }.count == 4 })
        #expect(host.creationOrder == ["logger", "manager", "proxy", "worker-1"])
        #expect(await cluster.client.first(AgentAPI.NotifyLog.self) { $0.event.msg == "logger nodes logger ended while starting; starting the next nodes without waiting for them" } != nil)
        #expect(await cluster.client.wait { messages in
            Set(messages.compactMap { try? $0.decode(AgentAPI.NotifyChange.self).event }.filter { $0.new == .running }.map(\.n.name)) == ["manager", "proxy", "worker-1"]
        })
        // The logger has the agent's timeout to check in, counted from the first create.
        cluster.clock.advance(by: .seconds(5))
        let results = try await pending.value.results
        #expect(results.first == Management.Result(reqid: "bad-logger", success: false, instance: "agent-a", error: "request timed out"))
        let byNode = Dictionary(results.compactMap { result in result.node.map { ($0, result) } }, uniquingKeysWith: { first, _ in first })
        #expect(byNode.count == 4 && ["manager", "proxy", "worker-1"].allSatisfy { byNode[$0]?.success == true })
        #expect(byNode["logger"]?.success == false)
        let output = try #require(try byNode["logger"]?.data?.decode(as: Management.NodeOutputs.self))
        #expect(output.stderr == "ZEEK_MGMT_NODE_OPTIONS is not a JSON array of options")
    }

    @Test func aNodeTheSupervisorWillNotCreateIsReportedWithTheSupervisorsReason() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        let reason = "failed to start node 'worker-1': exec /opt/zeek/bin/zeek: Permission denied"
        host.refuseCreate(of: "worker-1", with: reason)
        let results = try await ask(cluster, AgentAPI.DeployRequest.signed(reqid: "refused", config: oneHost())).results
        let byNode = Dictionary(results.compactMap { result in result.node.map { ($0, result) } }, uniquingKeysWith: { first, _ in first })
        #expect(["logger", "manager", "proxy"].allSatisfy { byNode[$0]?.success == true && byNode[$0]?.error == nil }, "\(results)")
        // Not a timeout: the supervisor answered, and its answer is what the operator needs.
        #expect(!results.contains { $0.node == nil && !$0.success }, "\(results)")
        let refused = try #require(byNode["worker-1"])
        #expect(!refused.success && refused.error == "failed to create node worker-1: \(reason)", "\(refused)")
        // Also as its stderr, which zeek-client and zeek-mgmt show beside the node.
        #expect(try refused.data?.decode(as: Management.NodeOutputs.self) == Management.NodeOutputs(stdout: "", stderr: "failed to create node worker-1: \(reason)"))
        #expect(await cluster.client.first(AgentAPI.NotifyError.self) { $0.event.msg == "failed to create node worker-1: \(reason)" } != nil)

        // Mended on the host: the next deploy starts it, and nothing of the old refusal remains.
        host.refuseCreate(of: "worker-1", with: nil)
        let again = try await deploy(cluster, oneHost(id: "mended"))
        #expect(again.filter { $0.node != nil }.count == 4 && again.allSatisfy { $0.success && $0.error == nil && $0.data == nil }, "\(again)")
    }

    @Test func standbyStopsEveryNode() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        _ = try await deploy(cluster, oneHost())
        #expect(host.pids.count == 4)
        let response = try await ask(cluster, AgentAPI.AgentStandbyRequest(reqid: "s"))
        #expect(response.result.success)
        #expect(host.pids.isEmpty)
        #expect(try await statuses(cluster).keys.sorted() == ["agent-a"])
    }

    @Test func theLegacyAgentAPIDeploysAndLists() async throws {
        let (cluster, host) = await agent()
        defer { Task { await cluster.shutdown() } }
        let modern = oneHost()
        let legacy = ClusterController.Types.Configuration(id: modern.id, instances: modern.instances, nodes: Set(modern.nodes.map {
            ClusterController.Types.Node(name: $0.name, instance: $0.instance, role: $0.role, interface: $0.interface)
        }))
        let set = try await ask(cluster, ClusterAgentAPI.SetConfigurationRequest.signed(reqid: "l", config: legacy), on: .legacyAgentAPI)
        #expect(set.result.success && set.result.instance == "agent-a")
        #expect(host.pids.count == 4)
        let nodes = try await ask(cluster, ClusterAgentAPI.GetNodesRequest(reqid: "n"), on: .legacyAgentAPI)
        #expect(nodes.result.success)
    }

    @Test func malformedRequestsAreAnsweredAndReported() async throws {
        let (cluster, _) = await agent()
        defer { Task { await cluster.shutdown() } }
        let ts = cluster.clock.wallTime
        #expect(cluster.bus.publishRaw(#"{"event":"Management::Agent::API::deploy_request","args":{"reqid":"bad","config":{"id":"x","nodes":"no"},"force":false},"sender":"client","target":"agent-a","ts":\#(ts),"api_version":1}"#, on: .agentAPI))
        let response = await cluster.client.first(AgentAPI.DeployResponse.self) { $0.event.reqid == "bad" }
        #expect(response?.event.results.first?.error?.hasPrefix("invalid Management::Agent::API::deploy_request: args.config.nodes") == true)
        let notice = await cluster.client.first(AgentAPI.NotifyError.self) { $0.event.instance == "agent-a" }
        #expect(notice?.event.msg.hasPrefix("invalid Management::Agent::API::deploy_request from client") == true)
    }
}
