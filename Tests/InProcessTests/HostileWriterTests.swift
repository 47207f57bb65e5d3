#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import MessageSigning
import Testing

/// What someone with write access to every topic (a stolen Kafka credential, an exploited
/// worker) can do to a signed control plane: for each attack, no node starts or stops, no
/// configuration changes, every service keeps answering, and the operator's own deploy and
/// get-nodes still work. Runs the real controller and agents on the in-memory bus, which
/// verifies exactly as the Kafka endpoint does (the same ``MessageGuard``).
@Suite("Hostile writer, in-process")
struct HostileWriterTests {
    /// A controller and two agents running the example configuration, deployed by the operator.
    private func deployedCluster() async throws -> (InProcessCluster, a: SimulatedHost, b: SimulatedHost) {
        let cluster = InProcessCluster()
        cluster.startController()
        let a = cluster.startAgent("agent-a"), b = cluster.startAgent("agent-b")
        #expect(await cluster.waitForCheckIns(["agent-a", "agent-b"]))
        let results = try await cluster.deploy(exampleConfiguration())
        #expect(results.allSatisfy { $0.success })
        return (cluster, a, b)
    }

    /// An envelope as JSON, stamped now unless `ts` says otherwise.
    private func envelope(_ event: String, args: String, sender: String, target: String?, ts: String) -> String {
        let to = target.map { #","target":"\#($0)""# } ?? ""
        return #"{"event":"\#(event)","args":\#(args),"sender":"\#(sender)"\#(to),"ts":\#(ts),"api_version":1}"#
    }

    /// What must hold after every attack: the same processes run, the deployed configuration
    /// is the operator's, and the controller and agents answer.
    private func expectUntouched(_ cluster: InProcessCluster, _ a: SimulatedHost, _ b: SimulatedHost,
                                 pids: [String: Int], sourceLocation: SourceLocation = #_sourceLocation) async throws {
        #expect(a.pids.merging(b.pids) { $1 } == pids, "nodes started or stopped", sourceLocation: sourceLocation)
        let deployed = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: UUID().uuidString, deployed: true))
        let config = try deployed.result.data?.decode(as: Management.Configuration.self)
        #expect(config?.id == "config-1" && config?.nodes.map(\.name).sorted() == exampleConfiguration().nodes.map(\.name).sorted(), sourceLocation: sourceLocation)
        let statuses = try await cluster.nodeStatuses()
        #expect(statuses.count == 5 && statuses.values.allSatisfy { $0.state == .running }, sourceLocation: sourceLocation)
    }

    @Test func forgedOrdersToAgentsAreDropped() async throws {
        let (cluster, a, b) = try await deployedCluster()
        defer { Task { await cluster.shutdown() } }
        let pids = a.pids.merging(b.pids) { $1 }
        let now = "\(cluster.clock.wallTime)"
        let evilConfig = Management.Configuration(id: "evil", instances: [Management.Instance(name: "agent-a")],
                                                  nodes: [Management.Node(name: "evil", instance: "agent-a", role: .worker, scripts: ["-e", "system(\"id\")"])])
        let evil = String(decoding: try ZeekJSON.encode(evilConfig), as: UTF8.self)
        let stolenHost = TestIdentities.shared.host("agent-b")
        let attacks: [(topic: Topic, json: String, key: SigningKey?)] = [
            // Unsigned, signed by a stranger, and by another host's key (an exploited worker).
            (.agentAPI, envelope(AgentAPI.DeployRequest.eventName, args: #"{"reqid":"f1","config":\#(evil),"force":true}"#, sender: "controller", target: "agent-a", ts: now), nil),
            (.agentAPI, envelope(AgentAPI.DeployRequest.eventName, args: #"{"reqid":"f2","config":\#(evil),"force":true}"#, sender: "controller", target: "agent-a", ts: now), SigningKey.generate()),
            (.agentAPI, envelope(AgentAPI.DeployRequest.eventName, args: #"{"reqid":"f3","config":\#(evil),"force":true}"#, sender: "controller", target: "agent-a", ts: now), stolenHost),
            (.agentAPI, envelope(AgentAPI.AgentStandbyRequest.eventName, args: #"{"reqid":"f4"}"#, sender: "controller", target: "agent-a", ts: now), stolenHost),
            // A host's own key orders its agent about no more than another host's does.
            (.agentAPI, envelope(AgentAPI.AgentStandbyRequest.eventName, args: #"{"reqid":"f9"}"#, sender: "controller", target: "agent-a", ts: now),
             TestIdentities.shared.host("agent-a")),
            (.agentAPI, envelope(AgentAPI.RestartRequest.eventName, args: #"{"reqid":"f5","nodes":[]}"#, sender: "controller", target: nil, ts: now), nil),
            (.agentAPI, envelope(AgentAPI.CheckRequest.eventName, args: #"{"reqid":"f6","config":\#(evil)}"#, sender: "controller", target: "agent-a", ts: now), stolenHost),
            // A stolen controller key alone: the configuration carries no deploy operator's signature.
            (.agentAPI, envelope(AgentAPI.DeployRequest.eventName, args: #"{"reqid":"f7","config":\#(evil),"force":true}"#, sender: "controller", target: "agent-a", ts: now), TestIdentities.shared.controller),
            // Supervisor orders from another host.
            (.supervisorAPI, envelope(SupervisorControl.DestroyRequest.eventName, args: #"{"reqid":"f8","node":"manager"}"#, sender: "agent-a", target: "agent-a", ts: now), stolenHost),
        ]
        for attack in attacks { #expect(cluster.bus.publishRaw(attack.json, on: attack.topic, signedWith: attack.key, unsigned: attack.key == nil)) }
        try await expectUntouched(cluster, a, b, pids: pids)
        // Nothing answered the forgeries with data either.
        #expect(cluster.client.messages.filter { ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9"].contains($0.reqid ?? "") && $0.event.hasSuffix("_response") }.isEmpty)
    }

    @Test func aCapturedDeployReplayedChangesNothing() async throws {
        let (cluster, a, b) = try await deployedCluster()
        defer { Task { await cluster.shutdown() } }
        let captured = cluster.bus.messages(on: .agentAPI).filter { $0.event == AgentAPI.CheckRequest.eventName || $0.event == AgentAPI.DeployCheckedRequest.eventName }
        let stage = cluster.bus.messages(on: .controllerAPI).filter { $0.event == ControllerAPI.DeployRequest.eventName }
        #expect(!captured.isEmpty && !stage.isEmpty)
        // Stop a node as a crash would, then replay: the replayed deploy must not be what restores anything.
        let pids = a.pids.merging(b.pids) { $1 }
        for message in captured + stage { cluster.bus.replay(message) }
        try await expectUntouched(cluster, a, b, pids: pids)
        let answers = cluster.client.messages.filter { $0.event == ControllerAPI.DeployResponse.eventName && $0.reqid == stage[0].reqid }
        #expect(answers.count == 1, "the replayed deploy was answered again")
    }

    @Test func timestampsFromFarAwayAreDroppedWithoutHarm() async throws {
        let (cluster, a, b) = try await deployedCluster()
        defer { Task { await cluster.shutdown() } }
        let pids = a.pids.merging(b.pids) { $1 }
        let operatorKey = TestIdentities.shared.deployer
        for (index, ts) in ["1e300", "-1e300", "\(cluster.clock.wallTime + 365 * 86_400)", "\(cluster.clock.wallTime - 86_400)", "0"].enumerated() {
            let json = envelope(ControllerAPI.GetNodesRequest.eventName, args: #"{"reqid":"ts-\#(index)"}"#, sender: "attacker", target: "controller", ts: ts)
            #expect(cluster.bus.publishRaw(json, on: .controllerAPI, signedWith: operatorKey))
            for topic in [Topic.agentAPI, .supervisorAPI] {
                let order = envelope(AgentAPI.GetNodesRequest.eventName, args: #"{"reqid":"ts-\#(index)-\#(topic)"}"#, sender: "controller", target: "agent-a", ts: ts)
                #expect(cluster.bus.publishRaw(order, on: topic, signedWith: TestIdentities.shared.controller))
            }
        }
        try await expectUntouched(cluster, a, b, pids: pids)
        #expect(cluster.client.messages.filter { ($0.reqid ?? "").hasPrefix("ts-") && $0.event.hasSuffix("_response") }.isEmpty)
    }

    @Test func checkInsFromUnenrolledHostsLeaveNoTrace() async throws {
        let (cluster, a, b) = try await deployedCluster()
        defer { Task { await cluster.shutdown() } }
        let pids = a.pids.merging(b.pids) { $1 }
        let stranger = SigningKey.generate()
        let now = cluster.clock.wallTime
        for index in 0..<100_000 {
            let name = "fake-\(index)"
            let hello = envelope(AgentAPI.NotifyAgentHello.eventName, args: #"{"instance":"\#(name)","id":"x","host":"10.9.9.9"}"#, sender: name, target: nil, ts: "\(now)")
            cluster.bus.publishRaw(hello, on: .agentAPI.notify, signedWith: stranger)
        }
        // An enrolled host may not speak for another (forged check-ins change addresses).
        let forged = envelope(AgentAPI.NotifyAgentHello.eventName, args: #"{"instance":"agent-a","id":"x","host":"10.6.6.6"}"#, sender: "agent-a", target: nil, ts: "\(now)")
        cluster.bus.publishRaw(forged, on: .agentAPI.notify, signedWith: TestIdentities.shared.host("agent-b"))
        let instances = try await cluster.ask(ControllerAPI.GetInstancesRequest(reqid: UUID().uuidString))
        let listed = try #require(try instances.result.data?.decode(as: [Management.Instance].self))
        #expect(listed.map(\.name) == ["agent-a", "agent-b"])
        #expect(listed.allSatisfy { $0.host == IPAddress("10.0.0.1") })
        try await expectUntouched(cluster, a, b, pids: pids)
    }

    @Test func aReadOperatorCannotStageOrDeploy() async throws {
        let (cluster, a, b) = try await deployedCluster()
        defer { Task { await cluster.shutdown() } }
        let pids = a.pids.merging(b.pids) { $1 }
        let config = try String(decoding: ZeekJSON.encode(exampleConfiguration(id: "by-reader")), as: UTF8.self)
        let now = "\(cluster.clock.wallTime)"
        let reader = TestIdentities.shared.reader
        cluster.bus.publishRaw(envelope(ControllerAPI.StageConfigurationRequest.eventName, args: #"{"reqid":"r1","config":\#(config)}"#,
                                        sender: "bob", target: "controller", ts: now), on: .controllerAPI, signedWith: reader)
        cluster.bus.publishRaw(envelope(ControllerAPI.DeployRequest.eventName, args: #"{"reqid":"r2"}"#, sender: "bob", target: "controller", ts: now),
                               on: .controllerAPI, signedWith: reader)
        // Nor can a stolen controller key stage anything.
        cluster.bus.publishRaw(envelope(ControllerAPI.StageConfigurationRequest.eventName, args: #"{"reqid":"r4","config":\#(config)}"#,
                                        sender: "controller", target: "controller", ts: now), on: .controllerAPI, signedWith: TestIdentities.shared.controller)
        // The reader may read: get-nodes signed by bob is answered.
        cluster.bus.publishRaw(envelope(ControllerAPI.GetInstancesRequest.eventName, args: #"{"reqid":"r3"}"#, sender: "client", target: "client", ts: now),
                               on: .controllerAPI, signedWith: reader)
        let staged = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: UUID().uuidString, deployed: false))
        #expect(try staged.result.data?.decode(as: Management.Configuration.self).id == "config-1")
        try await expectUntouched(cluster, a, b, pids: pids)
    }

    @Test func aForgedStateRecordIsIgnoredByTheControllerThatTakesOver() async throws {
        let (cluster, a, b) = try await deployedCluster()
        defer { Task { await cluster.shutdown() } }
        let pids = a.pids.merging(b.pids) { $1 }
        let evil = #"{"config":{"id":"evil","instances":[{"name":"agent-a"}],"nodes":[{"name":"evil","instance":"agent-a","role":"Supervisor::WORKER"}]}}"#
        await cluster.stop("controller")
        cluster.bus.storeRaw(evil, key: "deployed", in: .controllerState)
        cluster.bus.storeRaw(evil, key: "staged", in: .controllerState, signedWith: TestIdentities.shared.host("agent-a"))
        cluster.startController("successor")
        // The standby takes over with neither record: it deploys nothing, and runs no "evil" node.
        let deployed = try await cluster.ask(ControllerAPI.GetConfigurationRequest(reqid: UUID().uuidString, deployed: true))
        #expect(deployed.result.success == false)
        // A heartbeat later the agents have checked in with it.
        cluster.clock.advance(by: .seconds(6))
        #expect(await cluster.waitForCheckIns(["agent-a", "agent-b"]))
        #expect(a.pids["evil"] == nil && a.pids.merging(b.pids) { $1 } == pids)
        // And the operator deploys again through it.
        let results = try await cluster.deploy(exampleConfiguration(id: "config-2"))
        #expect(results.allSatisfy { $0.success })
    }
}

