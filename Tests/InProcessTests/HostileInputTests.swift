#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Testing

/// What the controller and the agent do with input meant to hang them or to make them hold
/// ever more: refuse it with a reason, and go on answering everyone else.
@Suite("Hostile input, in-process")
struct HostileInputTests {
    // MARK: Controller

    @Test func stagingThatCannotAssignPortsIsRefusedAndKeepsNothing() async throws {
        let cluster = InProcessCluster()
        // One Broker port left for three nodes that need one.
        cluster.startController { $0.staging.brokerPortStart = 65535 }
        defer { Task { await cluster.shutdown() } }
        cluster.startAgent("agent-a")
        #expect(await cluster.waitForCheckIns(["agent-a"]))
        let config = Management.Configuration(id: "no-ports", instances: [Management.Instance(name: "agent-a")], nodes: [
            Management.Node(name: "manager", instance: "agent-a", role: .manager),
            Management.Node(name: "logger", instance: "agent-a", role: .logger),
            Management.Node(name: "proxy", instance: "agent-a", role: .proxy),
        ])
        let started = ContinuousClock.now
        let staged = try await cluster.ask(ControllerAPI.StageConfigurationRequest(reqid: "s", config: config))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(staged.results.map(\.success) == [false])
        #expect(staged.results.first?.error == "cannot assign a Broker port to node 'logger' on instance 'agent-a': 3 nodes need one, "
            + "but only 1 of the ports from 65535 to 65535 are free; give nodes ports, or start auto-assignment lower")

        // Nothing was kept, and the controller answers as before.
        let kept = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "g", deployed: false))
        #expect(kept.result.error == "no staged configuration available")
        let deploy = try await cluster.ask(ControllerAPI.DeployRequest(reqid: "d"))
        #expect(deploy.results.map(\.error) == ["no configuration available to deploy"])
        let instances = try await cluster.ask(ControllerAPI.GetInstancesRequest(reqid: "i"))
        #expect(try instances.result.data?.decode(as: [Management.Instance].self).map(\.name) == ["agent-a"])
        let nodes = try await cluster.ask(ControllerAPI.GetNodesRequest(reqid: "n"))
        #expect(nodes.results.map(\.instance) == ["agent-a"] && nodes.results.allSatisfy { $0.success })
    }

    /// Contract 3.1 and 4.2: every request of the controller to agents asks to be answered on
    /// `Management.Agent.API.replies`, the standby too; its answer then reaches no other agent.
    @Test func theStandbyRequestAsksToBeAnsweredOnTheRepliesTopic() async throws {
        let cluster = InProcessCluster()
        cluster.startController()
        defer { Task { await cluster.shutdown() } }
        cluster.startAgent("agent-a")
        cluster.startAgent("agent-b")
        #expect(await cluster.waitForCheckIns(["agent-a", "agent-b"]))
        _ = try await cluster.deploy(exampleConfiguration())
        // Not part of the deployed cluster: sent to standby when it checks in.
        cluster.startAgent("agent-c")
        let standby = try #require(await cluster.client.first(AgentAPI.AgentStandbyRequest.self) { $0.target == "agent-c" })
        #expect(standby.sender == "controller")
        #expect(standby.replyTo == .agentAPI.replies)
        let published = cluster.bus.messages(on: .agentAPI).filter { $0.event == AgentAPI.AgentStandbyRequest.eventName }
        #expect(!published.isEmpty && published.allSatisfy { $0.head.replyTo == "Management.Agent.API.replies" })

        let answer = await cluster.client.first(AgentAPI.AgentStandbyResponse.self) { $0.sender == "agent-c" }
        #expect(answer?.target == "controller")
        #expect(cluster.bus.messages(on: .agentAPI.replies).contains { $0.event == AgentAPI.AgentStandbyResponse.eventName && $0.head.sender == "agent-c" })
        #expect(!cluster.bus.messages(on: .agentAPI).contains { $0.event == AgentAPI.AgentStandbyResponse.eventName },
                "no standby answer on the partitioned topic other agents read")
    }
}
