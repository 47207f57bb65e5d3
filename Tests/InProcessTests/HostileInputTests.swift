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

    /// Check-ins come from the wire: a flood of names must not make a record each.
    @Test func checkInsBeyondTheMaximumOfAgentsAreIgnoredUntilOthersAreLost() async throws {
        let cluster = InProcessCluster()
        cluster.startController { $0.maximumAgents = 3 }
        defer { Task { await cluster.shutdown() } }
        let hello = { (name: String) in
            // Each as its own (enrolled) host: a host may check in only under its own name.
            cluster.client.endpoint.enqueue(AgentAPI.NotifyAgentHello(instance: name, id: "id-\(name)"), to: .agentAPI.notify, target: nil, sender: name)
        }
        // Active first (a configuration request is answered once restored): check-ins heard
        // while standing by are taken up later.
        _ = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "active", deployed: false))
        for index in 0..<200 { try await hello("agent-\(index)") }
        let admitted = try await instances(cluster)
        #expect(admitted == ["agent-0", "agent-1", "agent-2"])
        // Known agents still check in; new names stay out.
        try await hello("agent-1")
        try await hello("agent-new")
        #expect(try await instances(cluster) == ["agent-0", "agent-1", "agent-2"])

        // Once they are lost, there is room again.
        for _ in 0..<16 {
            cluster.clock.advance(by: .seconds(1))
            await cluster.clock.waitForSleepers(1)
        }
        #expect(await cluster.client.wait { $0.filter { $0.event == AgentAPI.NotifyError.eventName && $0.head.sender == "controller" }.count == 3 })
        try await hello("agent-new")
        #expect(try await instances(cluster) == ["agent-new"])
    }

    /// A hello stamped in the far future must not keep its agent from ever being lost: it is
    /// dropped on arrival (contract 3.6), and one within the allowed clock skew still expires.
    @Test func anAgentWhoseHelloIsStampedInTheFutureIsStillLost() async throws {
        let cluster = InProcessCluster()
        cluster.startController()
        defer { Task { await cluster.shutdown() } }
        #expect(cluster.bus.publishRaw(#"{"event":"Management::Agent::API::notify_agent_hello","args":{"instance":"agent-g","id":"g","connecting":true,"api_version":1},"sender":"agent-g","ts":1e300,"api_version":1}"#, on: .agentAPI.notify))
        #expect(cluster.bus.publishRaw(#"{"event":"Management::Agent::API::notify_agent_hello","args":{"instance":"agent-f","id":"f","connecting":true,"api_version":1},"sender":"agent-f","ts":\#(cluster.clock.wallTime + 25),"api_version":1}"#, on: .agentAPI.notify))
        #expect(try await instances(cluster) == ["agent-f"])
        for _ in 0..<16 {
            cluster.clock.advance(by: .seconds(1))
            await cluster.clock.waitForSleepers(1)
        }
        let lost = await cluster.client.first(AgentAPI.NotifyError.self, timeout: .seconds(5)) { $0.sender == "controller" && $0.event.instance == "agent-f" }
        #expect(lost != nil)
        #expect(try await instances(cluster) == [])
    }

    // MARK: Agent

    /// Dispatches wait for nodes that may never answer: beyond the maximum they are refused
    /// at once, and those waiting end at the agent's request timeout.
    @Test func dispatchesBeyondTheMaximumAreRefusedAtOnce() async throws {
        let cluster = InProcessCluster()
        defer { Task { await cluster.shutdown() } }
        let host = cluster.startAgent("agent-a") { $0.maximumDispatches = 2 }
        #expect(await cluster.waitForCheckIns(["agent-a"]))
        let config = Management.Configuration(id: "one", instances: [Management.Instance(name: "agent-a")],
                                              nodes: [Management.Node(name: "w", instance: "agent-a", role: .worker, interface: "eth0")])
        let deployed = try await cluster.client.request(AgentAPI.DeployRequest.signed(reqid: "d", config: config), on: .agentAPI, target: "agent-a")
        #expect(deployed.results.allSatisfy { $0.success })

        host.setSilent(true)
        let waiting = (0..<2).map { index in
            cluster.client.send(AgentAPI.NodeDispatchRequest(reqid: "wait-\(index)", action: ["get_id_value", "Cluster::node"]), on: .agentAPI, target: "agent-a")
        }
        #expect(await relayed(2, on: cluster))
        let refused = try await cluster.client.request(AgentAPI.NodeDispatchRequest(reqid: "over", action: ["get_id_value", "Cluster::node"]),
                                                       on: .agentAPI, target: "agent-a")
        #expect(refused.results.map(\.node) == ["w"])
        #expect(refused.results.first?.success == false)
        #expect(refused.results.first?.error == "2 dispatches are already waiting for nodes of agent-a, the most it takes at once; try again later")

        cluster.clock.advance(by: .seconds(5))
        for pending in waiting {
            #expect(try await pending.value.results.first?.error == "cluster node w did not answer within 5.0 seconds")
        }
        host.setSilent(false)
        let answered = try await cluster.client.request(AgentAPI.NodeDispatchRequest(reqid: "again", action: ["get_id_value", "Cluster::node"]),
                                                        on: .agentAPI, target: "agent-a")
        #expect(answered.results.first?.data == .string("w"), "room again once the others ended")
    }

    /// A dispatch stamped in the far future waits one request timeout, not decades.
    @Test func aDispatchStampedInTheFutureEndsAtTheRequestTimeout() async throws {
        let cluster = InProcessCluster()
        defer { Task { await cluster.shutdown() } }
        let host = cluster.startAgent("agent-a")
        #expect(await cluster.waitForCheckIns(["agent-a"]))
        let config = Management.Configuration(id: "one", instances: [Management.Instance(name: "agent-a")],
                                              nodes: [Management.Node(name: "w", instance: "agent-a", role: .worker, interface: "eth0")])
        _ = try await cluster.client.request(AgentAPI.DeployRequest.signed(reqid: "d", config: config), on: .agentAPI, target: "agent-a")
        host.setSilent(true)
        // As far ahead as a sender's clock may be (further is dropped on arrival, contract 3.6).
        #expect(cluster.bus.publishRaw(#"{"event":"Management::Agent::API::node_dispatch_request","args":{"reqid":"future","action":["get_id_value","Cluster::node"],"nodes":[]},"sender":"client","target":"agent-a","ts":\#(cluster.clock.wallTime + 25),"api_version":1}"#, on: .agentAPI))
        #expect(await relayed(1, on: cluster))
        cluster.clock.advance(by: .seconds(5))
        let answer = await cluster.client.first(AgentAPI.NodeDispatchResponse.self, timeout: .seconds(5)) { $0.event.reqid == "future" }
        #expect(answer?.event.results.first?.error == "cluster node w did not answer within 5.0 seconds")
    }

    // MARK: Helpers

    private func instances(_ cluster: InProcessCluster) async throws -> [String] {
        let response = try await cluster.ask(ControllerAPI.GetInstancesRequest(reqid: UUID().uuidString))
        return try response.result.data?.decode(as: [Management.Instance].self).map(\.name) ?? []
    }

    /// Waits until the agent relayed `count` dispatches to its nodes.
    private func relayed(_ count: Int, on cluster: InProcessCluster) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while ContinuousClock.now < deadline {
            if cluster.bus.messages(on: .nodeAPI).filter({ $0.event == NodeAPI.DispatchRequest.eventName }).count >= count { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}
