#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Testing

/// The agent keeps what runs on its host equal to what is deployed there, by itself.
@Suite("Reconciliation, in-process")
struct ReconciliationTests {
    private let config = Management.Configuration(id: "c", instances: [Management.Instance(name: "agent-a")], nodes: [
        Management.Node(name: "logger", instance: "agent-a", role: .logger),
        Management.Node(name: "manager", instance: "agent-a", role: .manager),
        Management.Node(name: "worker-1", instance: "agent-a", role: .worker, interface: "eth0"),
    ])

    /// An agent with its host, running `config`.
    private func deployed() async throws -> (InProcessCluster, SimulatedHost) {
        let cluster = InProcessCluster()
        let host = cluster.startAgent("agent-a")
        #expect(await cluster.waitForCheckIns(["agent-a"]))
        let results = try await cluster.client.request(AgentAPI.DeployRequest.signed(reqid: "d", config: config), on: .agentAPI, target: "agent-a").results
        #expect(results.filter { $0.success }.count == 3)
        return (cluster, host)
    }

    private func statuses(_ cluster: InProcessCluster) async throws -> [String: Management.NodeStatus] {
        let result = try await cluster.client.request(AgentAPI.GetNodesRequest(reqid: UUID().uuidString), on: .agentAPI, target: "agent-a").result
        let statuses = try #require(try result.data?.decode(as: [Management.NodeStatus].self))
        return Dictionary(statuses.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
    }

    @Test func aRestartedSupervisorGetsTheDeployedNodesBack() async throws {
        let (cluster, host) = try await deployed()
        defer { Task { await cluster.shutdown() } }
        host.restartSupervisor(on: cluster.client.endpoint)
        #expect(await cluster.client.wait { _ in host.pids.count == 3 })
        #expect(host.creationOrder.suffix(3) == ["logger", "manager", "worker-1"], "in Zeek's start order again")
        let log = await cluster.client.first(AgentAPI.NotifyLog.self) { $0.event.msg.hasPrefix("the supervisor started: starting node(s)") }
        #expect(log?.event.msg == "the supervisor started: starting node(s) the supervisor does not run: logger, manager, worker-1")
        let statuses = try await statuses(cluster)
        #expect(statuses["worker-1"]?.state == .running && statuses["worker-1"]?.pid == host.pids["worker-1"])
    }

    @Test func aNodeThatVanishedUnreportedIsStartedByThePeriodicCheck() async throws {
        let (cluster, host) = try await deployed()
        defer { Task { await cluster.shutdown() } }
        let before = try #require(host.pids["worker-1"])
        host.vanish("worker-1")
        cluster.clock.advance(by: .seconds(10))
        #expect(await cluster.client.wait { _ in host.pids["worker-1"] != nil })
        #expect(host.pids["worker-1"] != before)
        #expect(await cluster.client.first(AgentAPI.NotifyLog.self) { $0.event.msg.hasPrefix("periodic check: starting node(s) the supervisor does not run: worker-1") } != nil)
        #expect(await cluster.client.first(AgentAPI.NotifyChange.self) { $0.event.n.name == "worker-1" && $0.event.new == .pending } != nil)
    }

    @Test func aNodeThatIsNotDeployedIsStopped() async throws {
        let (cluster, host) = try await deployed()
        defer { Task { await cluster.shutdown() } }
        let stray = Supervisor.NodeConfig(name: "stray", directory: "stray")
        let created = try await cluster.client.request(SupervisorControl.CreateRequest(reqid: "x", node: stray), on: .supervisorAPI, target: "agent-a")
        #expect(created.result == "" && host.pids["stray"] != nil)
        cluster.clock.advance(by: .seconds(10))
        #expect(await cluster.client.wait { _ in host.pids["stray"] == nil })
        #expect(Set(host.pids.keys) == ["logger", "manager", "worker-1"])
    }

    @Test func aRestartedAgentKeepsTheRunningNodes() async throws {
        let (cluster, host) = try await deployed()
        defer { Task { await cluster.shutdown() } }
        let before = host.pids
        await cluster.stop("agent-a")
        cluster.startAgentService("agent-a")
        // What the controller sends an agent that checked in anew: the deployed configuration.
        let results = try await cluster.client.request(AgentAPI.DeployRequest.signed(reqid: "again", config: config), on: .agentAPI, target: "agent-a").results
        #expect(results.filter { $0.success && $0.node != nil }.count == 3)
        #expect(host.pids == before, "adopted, not restarted")
        #expect(host.creationOrder.count == 3)
        let statuses = try await statuses(cluster)
        #expect(statuses.values.filter { $0.mgmtRole != .agent }.allSatisfy { $0.state == .running && $0.pid == before[$0.node] })
    }

    @Test func aForcedDeployRestartsEveryNode() async throws {
        let (cluster, host) = try await deployed()
        defer { Task { await cluster.shutdown() } }
        let before = host.pids
        let results = try await cluster.client.request(AgentAPI.DeployRequest.signed(reqid: "f", config: config, force: true), on: .agentAPI, target: "agent-a").results
        #expect(results.filter { $0.success && $0.node != nil }.count == 3)
        #expect(host.pids.allSatisfy { before[$0.key] != $0.value })
    }
}
