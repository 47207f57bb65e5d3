#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Testing

/// The controller's flows, in-process: the real controller and agents on the in-memory bus,
/// hosts simulated, time on a test clock.
@Suite("Controller, in-process")
struct ControllerFlowTests {
    /// A controller and the two agents of the example configuration, checked in.
    private func cluster() async throws -> (InProcessCluster, a: SimulatedHost, b: SimulatedHost) {
        let cluster = InProcessCluster()
        cluster.startController()
        let a = cluster.startAgent("agent-a"), b = cluster.startAgent("agent-b")
        #expect(await cluster.waitForCheckIns(["agent-a", "agent-b"]))
        return (cluster, a, b)
    }

    @Test func deployRunsEveryNodeAndAnnouncesTheRunningCluster() async throws {
        let (cluster, a, b) = try await cluster()
        defer { Task { await cluster.shutdown() } }
        let results = try await cluster.deploy(exampleConfiguration())
        #expect(Set(results.filter(\.success).compactMap(\.node)) == ["manager", "logger", "proxy", "worker-1", "worker-2"])
        #expect(results.last?.data == .string("config-1"))
        #expect(Set(a.pids.keys) == ["manager", "logger", "proxy"] && Set(b.pids.keys) == ["worker-1", "worker-2"])

        let running = await cluster.client.first(ControllerAPI.NotifyClusterRunning.self)
        #expect(running?.event.configID == "config-1" && running?.event.nodes == 5)
        let deployed = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "c", deployed: true))
        #expect(try deployed.result.data?.decode(as: Management.Configuration.self).id == "config-1")

        let statuses = try await cluster.nodeStatuses()
        #expect(statuses.count == 5 && statuses.values.allSatisfy { $0.state == .running })
        #expect(statuses["worker-1"]?.pid == b.pids["worker-1"])
        let instances = try await cluster.ask(ControllerAPI.GetInstancesRequest(reqid: "i"))
        let listed = try #require(try instances.result.data?.decode(as: [Management.Instance].self))
        #expect(listed.map(\.name) == ["agent-a", "agent-b"] && listed.allSatisfy { $0.host == IPAddress("10.0.0.1") })
    }

    @Test func stagingRefusesWhatZeeksControllerRefuses() async throws {
        let cluster = InProcessCluster()
        cluster.startController()
        defer { Task { await cluster.shutdown() } }
        var config = exampleConfiguration()
        config.nodes.insert(Management.Node(name: "agent-a", instance: "agent-c", role: .worker))
        let response = try await cluster.ask(ControllerAPI.StageConfigurationRequest(reqid: "s", config: config))
        let errors = Set(response.results.filter { !$0.success }.compactMap(\.error))
        #expect(errors == ["node and instance names collide: agent-a", "node 'agent-a' has undeclared instance name 'agent-c'"])
        let staged = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "g", deployed: false))
        #expect(staged.result.success == false && staged.result.error == "no staged configuration available")
    }

    @Test func aConfigurationFailingItsCheckChangesNothing() async throws {
        let (cluster, a, b) = try await cluster()
        defer { Task { await cluster.shutdown() } }
        _ = try await cluster.deploy(exampleConfiguration())
        let before = a.pids.merging(b.pids) { $1 }
        b.failCheck(of: "worker-2", with: "broken.zeek, line 1: syntax error")

        let results = try await cluster.deploy(exampleConfiguration(id: "config-2"))
        let failure = try #require(results.first { $0.node == "worker-2" })
        #expect(failure.success == false && failure.instance == "agent-b" && failure.error == "broken.zeek, line 1: syntax error")
        #expect(results.last?.error?.contains("configuration config-2 not deployed") == true)
        #expect(a.pids.merging(b.pids) { $1 } == before, "no node was touched")
        let deployed = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "c", deployed: true))
        #expect(try deployed.result.data?.decode(as: Management.Configuration.self).id == "config-1")
    }

    @Test func getIDValueReachesTheNamedNodesAndNamesUnknownOnes() async throws {
        let (cluster, _, _) = try await cluster()
        defer { Task { await cluster.shutdown() } }
        _ = try await cluster.deploy(exampleConfiguration())
        let value = try await cluster.ask(ControllerAPI.GetIDValueRequest(reqid: "v", id: "Cluster::node", nodes: ["worker-1", "nope"]))
        #expect(value.results.count == 2)
        #expect(value.results.contains { $0.node == "nope" && !$0.success && $0.error == "unknown cluster node" })
        #expect(value.results.contains { $0.node == "worker-1" && $0.success && $0.instance == "agent-b" && $0.data == .string("worker-1") })
        let all = try await cluster.ask(ControllerAPI.GetIDValueRequest(reqid: "w", id: "Cluster::node"))
        #expect(Set(all.results.compactMap(\.node)) == ["manager", "logger", "proxy", "worker-1", "worker-2"])
    }

    @Test func restartStartsNewProcesses() async throws {
        let (cluster, _, b) = try await cluster()
        defer { Task { await cluster.shutdown() } }
        _ = try await cluster.deploy(exampleConfiguration())
        let before = try #require(b.pids["worker-1"])
        let restart = try await cluster.ask(ControllerAPI.RestartRequest(reqid: "r", nodes: ["worker-1"]))
        #expect(restart.results.contains { $0.node == "worker-1" && $0.success })
        #expect(b.pids["worker-1"] != nil && b.pids["worker-1"] != before)
        #expect(try await cluster.nodeStatuses()["worker-1"]?.state == .running)
    }

    @Test func anAgentThatDoesNotAnswerTimesOutOnTheClock() async throws {
        let (cluster, _, _) = try await cluster()
        defer { Task { await cluster.shutdown() } }
        // An agent that checks in but never answers.
        cluster.client.endpoint.enqueue(AgentAPI.NotifyAgentHello(instance: "agent-ghost", id: "g", host: nil), to: .agentAPI.notify, target: nil, sender: "agent-ghost")
        #expect(await cluster.waitForCheckIns(["agent-ghost"]))
        let started = ContinuousClock.now
        let pending = cluster.client.send(ControllerAPI.GetNodesRequest(reqid: "n"), on: .controllerAPI, target: "controller")
        // Both real agents answer at once; the ghost's answer is awaited until the deadline.
        #expect(await cluster.client.wait { $0.filter { $0.event == AgentAPI.GetNodesResponse.eventName }.count == 2 })
        cluster.clock.advance(by: InProcessCluster.requestTimeout)
        let results = try await pending.value.results
        #expect(results.contains { $0.instance == "agent-ghost" && !$0.success && $0.error == "request timed out" })
        #expect(results.filter(\.success).count == 2)
        // Less than the timeout itself, even on a loaded machine: the wait ended when the test clock
        // was advanced, not when 10 real seconds had passed.
        #expect(ContinuousClock.now - started < InProcessCluster.requestTimeout, "a 10 s timeout on the test clock takes no real time")
    }

    @Test func testTimeoutIsAnsweredAtTheDeadline() async throws {
        let cluster = InProcessCluster()
        cluster.startController()
        defer { Task { await cluster.shutdown() } }
        _ = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "restored", deployed: false))
        let pending = cluster.client.send(ControllerAPI.TestTimeoutRequest(reqid: "t", withState: true), on: .controllerAPI, target: "controller")
        await cluster.clock.waitForSleepers(2) // the controller's sweep, and the request
        #expect(cluster.client.events(ControllerAPI.TestTimeoutResponse.self).isEmpty)
        cluster.clock.advance(by: InProcessCluster.requestTimeout)
        let response = try await pending.value
        #expect(response.result.success == false && response.result.error == "request timed out")
    }

    @Test func aSilentAgentIsLostAndReported() async throws {
        let cluster = InProcessCluster()
        cluster.startController()
        defer { Task { await cluster.shutdown() } }
        cluster.startAgent("agent-a")
        #expect(await cluster.waitForCheckIns(["agent-a"]))
        await cluster.stop("agent-a")
        for _ in 0..<16 {
            cluster.clock.advance(by: .seconds(1))
            await cluster.clock.waitForSleepers(1)
        }
        let lost = await cluster.client.first(AgentAPI.NotifyError.self) { $0.topicIsController && $0.event.instance == "agent-a" }
        #expect(lost?.event.msg == "agent agent-a lost: no check-in for 15.0 seconds")
        let instances = try await cluster.ask(ControllerAPI.GetInstancesRequest(reqid: "i"))
        #expect(try instances.result.data?.decode(as: [Management.Instance].self) == [])
    }

    @Test func aStandbyTakesOverWithTheStoredConfigurations() async throws {
        let (cluster, _, _) = try await cluster()
        defer { Task { await cluster.shutdown() } }
        cluster.startController("controller-2")
        _ = try await cluster.deploy(exampleConfiguration())
        #expect(await cluster.client.first(ControllerAPI.NotifyClusterRunning.self) != nil)

        await cluster.stop("controller")
        let deployed = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "after", deployed: true))
        #expect(try deployed.result.data?.decode(as: Management.Configuration.self).id == "config-1")
        // The new controller hears the agents at their next heartbeat and tells the cluster runs.
        cluster.clock.advance(by: .seconds(5))
        #expect(await cluster.client.wait { $0.filter { $0.event == ControllerAPI.NotifyClusterRunning.eventName }.count == 2 })
        #expect(try await cluster.nodeStatuses().count == 5)
    }

    /// A get-nodes the standby reads as it takes over, while it still restores the stored
    /// configurations: it waits for them, and is answered by the agents heard while standing
    /// by (taken up as the configurations are restored), not with `no instances connected`.
    @Test func aGetNodesReadWhileTheStandbyRestoresWaitsForTheAgentsItHeard() async throws {
        let (cluster, _, _) = try await cluster()
        defer { Task { await cluster.shutdown() } }
        cluster.startController("controller-2")
        _ = try await cluster.deploy(exampleConfiguration())
        // The standby hears the agents' check-ins while it stands by.
        cluster.clock.advance(by: .seconds(5))
        cluster.bus.refuseStateReads("broker slow")
        await cluster.stop("controller")
        let pending = cluster.client.send(ControllerAPI.GetNodesRequest(reqid: "during-restore"), on: .controllerAPI, target: "controller")
        // Time for the new controller to read the request while its restoration fails.
        try await Task.sleep(for: .milliseconds(300))
        cluster.bus.refuseStateReads(nil)
        cluster.clock.advance(by: .seconds(1)) // its next attempt
        let response = try await pending.value
        #expect(response.results.count == 2 && response.results.allSatisfy(\.success), "\(response.results)")
    }

    @Test func anUnreadableStateTopicFailsRequestsWithTheReasonAtTheirDeadline() async throws {
        let cluster = InProcessCluster()
        cluster.bus.refuseStateReads("broker down")
        cluster.startController()
        defer { Task { await cluster.shutdown() } }
        let pending = cluster.client.send(ControllerAPI.GetConfigurationRequest(reqid: "g", deployed: true), on: .controllerAPI, target: "controller")
        let instances = try await cluster.ask(ControllerAPI.GetInstancesRequest(reqid: "i"))
        #expect(instances.result.success, "requests that need no configuration are answered meanwhile")
        cluster.clock.advance(by: InProcessCluster.requestTimeout)
        let failed = try await pending.value.result
        #expect(failed.success == false)
        #expect(failed.error == "cannot read the persisted configurations from Management.Controller.state: broker down; still trying, check the broker")

        cluster.bus.refuseStateReads(nil)
        cluster.clock.advance(by: .seconds(5)) // the next attempt
        let staged = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "h", deployed: false))
        #expect(staged.result.error == "no staged configuration available", "answered from the restored state")
    }

    @Test func aDeployInFlightWhenTheControllerDiesIsAnsweredOnceByTheStandby() async throws {
        let cluster = InProcessCluster()
        cluster.startController()
        cluster.startController("controller-2")
        defer { Task { await cluster.shutdown() } }
        let host = cluster.startAgent("agent-a")
        #expect(await cluster.waitForCheckIns(["agent-a"]))
        let config = Management.Configuration(id: "in-flight", instances: [Management.Instance(name: "agent-a")],
                                              nodes: [Management.Node(name: "w", instance: "agent-a", role: .worker, interface: "eth0")])
        _ = try await cluster.ask(ControllerAPI.StageConfigurationRequest(reqid: "s", config: config))
        host.setSilent(true)
        let pending = cluster.client.send(ControllerAPI.DeployRequest(reqid: "deploy"), on: .controllerAPI, target: "controller")
        // The active controller is in the middle of it: it asked the agent to check.
        #expect(await cluster.client.wait { $0.contains { $0.event == AgentAPI.CheckRequest.eventName } })
        await cluster.stop("controller")
        host.setSilent(false)
        // The standby reads the request again (it was not committed) and hears the agent at its
        // next heartbeat; all within the request's deadline.
        cluster.clock.advance(by: .seconds(5))
        let response = try await pending.value
        #expect(response.results.contains { $0.node == "w" && $0.success }, "\(response.results)")
        #expect(response.results.last?.data == .string("in-flight"))
        _ = try await cluster.ask(ControllerAPI.GetInstancesRequest(reqid: "later"))
        #expect(cluster.client.events(ControllerAPI.DeployResponse.self).filter { $0.event.reqid == "deploy" }.count == 1, "answered exactly once")
        #expect(host.pids["w"] != nil)
    }

    @Test func malformedRequestsAreAnsweredWithTheProblem() async throws {
        let cluster = InProcessCluster()
        cluster.startController()
        defer { Task { await cluster.shutdown() } }
        let ts = cluster.clock.wallTime
        #expect(cluster.bus.publishRaw(#"{"event":"Management::Controller::API::stage_configuration_request","args":{"reqid":"bad","config":{"id":"x","nodes":[{"name":"w","instance":"i","role":"Supervisor::WORKR"}]}},"sender":"client","target":"controller","ts":\#(ts),"api_version":1}"#, on: .controllerAPI))
        let response = await cluster.client.first(ControllerAPI.StageConfigurationResponse.self) { $0.event.reqid == "bad" }
        let error = try #require(response?.event.results.first?.error)
        #expect(error.hasPrefix("invalid Management::Controller::API::stage_configuration_request: args.config.nodes[0].role"))
    }

    /// A request read past its deadline (a controller taking over late, say) is not carried
    /// out; its sender, which may still be waiting, is told it expired (contract 3.3).
    @Test func requestsPastTheirDeadlineAreAnsweredAsExpiredNotCarriedOut() async throws {
        let cluster = InProcessCluster()
        cluster.startController()
        defer { Task { await cluster.shutdown() } }
        let stale = cluster.clock.wallTime - InProcessCluster.requestTimeout.timeInterval - 2
        let config = #"{"id":"late","instances":[],"nodes":[]}"#
        #expect(cluster.bus.publishRaw(#"{"event":"Management::Controller::API::stage_configuration_request","args":{"reqid":"old","config":\#(config)},"sender":"client","target":"controller","ts":\#(stale),"api_version":1}"#, on: .controllerAPI))
        let answer = await cluster.client.first(ControllerAPI.StageConfigurationResponse.self) { $0.event.reqid == "old" }
        let result = try #require(answer?.event.results.first)
        #expect(result.success == false)
        #expect(result.error?.hasPrefix("expired: the request was sent 12.0 s ago, past the request timeout of 10.0 s; this endpoint did not carry it out.") == true, "\(result)")
        let staged = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: "new", deployed: false))
        #expect(staged.result.error == "no staged configuration available", "the expired request staged nothing")
        #expect(cluster.client.events(ControllerAPI.StageConfigurationResponse.self).filter { $0.event.reqid == "old" }.count == 1)
    }

    @Test func theLegacyControllerAPIDeploysAndReportsPerAgent() async throws {
        let (cluster, a, _) = try await cluster()
        defer { Task { await cluster.shutdown() } }
        let modern = exampleConfiguration()
        let legacy = ClusterController.Types.Configuration(id: modern.id, instances: modern.instances, nodes: Set(modern.nodes.map {
            ClusterController.Types.Node(name: $0.name, instance: $0.instance, role: $0.role, interface: $0.interface)
        }))
        let response = try await cluster.client.request(ClusterControllerAPI.SetConfigurationRequest(reqid: "l", config: legacy),
                                                        on: .legacyControllerAPI, target: "controller")
        #expect(response.result.map(\.instance).sorted() == ["agent-a", "agent-b"] && response.result.allSatisfy(\.success))
        #expect(a.pids.count == 3)
    }
}

extension Envelope {
    /// Whether the controller published it (lost agents are reported by the controller).
    fileprivate var topicIsController: Bool { sender == "controller" }
}

/// The example cluster: manager, logger and proxy on `agent-a`, two workers on `agent-b`.
func exampleConfiguration(id: String = "config-1") -> Management.Configuration {
    Management.Configuration(
        id: id,
        instances: [Management.Instance(name: "agent-a"), Management.Instance(name: "agent-b")],
        nodes: [
            Management.Node(name: "manager", instance: "agent-a", role: .manager),
            Management.Node(name: "logger", instance: "agent-a", role: .logger),
            Management.Node(name: "proxy", instance: "agent-a", role: .proxy),
            Management.Node(name: "worker-1", instance: "agent-b", role: .worker, interface: "eth0"),
            Management.Node(name: "worker-2", instance: "agent-b", role: .worker, interface: "eth1"),
        ]
    )
}
