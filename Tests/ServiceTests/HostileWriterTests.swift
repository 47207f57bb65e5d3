import Foundation
import KafkaTransport
import LocalServers
import ManagementMessaging
import ManagementTypes
import MessageSigning
import Testing

/// The hostile writer against the real processes: the test holds write access to every topic,
/// as a stolen Kafka credential or an exploited worker would, and sends forged, replayed and
/// far-off orders to a running cluster. No node process may start or stop, the deployed
/// configuration must stay, every service must stay up, and the operator's own commands must
/// keep working. (The in-process suite of the same name tries more cases, faster.)
@Suite("Hostile writer, live", .serialized)
struct HostileWriterLiveTests {
    @Test func forgedOrdersFromAnyoneButTheirSignersChangeNothing() async throws {
        try await Cluster.run { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            _ = try await cluster.waitUntilConverged()
            let before = cluster.nodeProcesses()
            let deployedBefore = try await cluster.deployedNodes()
            let attacker = try await TestAgent(broker: cluster.broker, instance: "agent-a", name: "controller", consumes: [.agentAPI, .agentAPI.replies, .supervisorAPI])
            let stranger = SigningKey.generate()
            let otherHost = try SigningKey(file: LocalKeys.shared.host("agent-b"))
            let controllerKey = try SigningKey(file: LocalKeys.shared.controller)
            let now = Date().timeIntervalSince1970
            func envelope(_ event: String, _ args: String, sender: String, target: String, ts: Double = now) -> String {
                #"{"event":"\#(event)","args":\#(args),"sender":"\#(sender)","target":"\#(target)","ts":\#(ts),"api_version":1}"#
            }
            let evilConfig = Management.Configuration(id: "evil", instances: [Management.Instance(name: "agent-a")],
                                                      nodes: [Management.Node(name: "evil", instance: "agent-a", role: .worker, scripts: ["-e", "system(\"touch /tmp/owned\")"])])
            let evil = String(decoding: try ZeekJSON.encode(evilConfig), as: UTF8.self)
            let node = #"{"name":"evil","cluster":{},"bare_mode":false,"addl_base_scripts":[],"addl_user_scripts":[],"env":{}}"#
            // Orders to the agent: unsigned, a stranger's, another host's, and the controller's
            // own key with a configuration no operator signed.
            for (index, signer) in [nil, stranger, otherHost, controllerKey].enumerated() {
                try await attacker.sendRaw(envelope(AgentAPI.DeployRequest.eventName, #"{"reqid":"d\#(index)","config":\#(evil),"force":true}"#, sender: "controller", target: "agent-a"),
                                           to: .agentAPI, target: "agent-a", broker: cluster.broker, signedWith: signer, unsigned: signer == nil)
                try await attacker.sendRaw(envelope(AgentAPI.CheckRequest.eventName, #"{"reqid":"c\#(index)","config":\#(evil)}"#, sender: "controller", target: "agent-a"),
                                           to: .agentAPI, target: "agent-a", broker: cluster.broker, signedWith: signer, unsigned: signer == nil)
            }
            for (index, signer) in [nil, stranger, otherHost].enumerated() {
                try await attacker.sendRaw(envelope(AgentAPI.AgentStandbyRequest.eventName, #"{"reqid":"s\#(index)"}"#, sender: "controller", target: "agent-a"),
                                           to: .agentAPI, target: "agent-a", broker: cluster.broker, signedWith: signer, unsigned: signer == nil)
                // Straight to the supervisor: create, destroy, stop.
                try await attacker.sendRaw(envelope(SupervisorControl.CreateRequest.eventName, #"{"reqid":"cr\#(index)","node":\#(node)}"#, sender: "agent-a", target: "agent-a"),
                                           to: .supervisorAPI, target: "agent-a", broker: cluster.broker, signedWith: signer, unsigned: signer == nil)
                try await attacker.sendRaw(envelope(SupervisorControl.DestroyRequest.eventName, #"{"reqid":"de\#(index)","node":"manager"}"#, sender: "agent-a", target: "agent-a"),
                                           to: .supervisorAPI, target: "agent-a", broker: cluster.broker, signedWith: signer, unsigned: signer == nil)
                try await attacker.sendRaw(envelope(SupervisorControl.StopRequest.eventName, #"{}"#, sender: "agent-a", target: "agent-a"),
                                           to: .supervisorAPI, target: "agent-a", broker: cluster.broker, signedWith: signer, unsigned: signer == nil)
            }
            // Stamps from far away, validly signed by the controller, to each service.
            for (index, ts) in [1e300, -1e300, now + 365 * 86_400].enumerated() {
                try await attacker.sendRaw(envelope(AgentAPI.GetNodesRequest.eventName, #"{"reqid":"t\#(index)"}"#, sender: "controller", target: "agent-a", ts: ts),
                                           to: .agentAPI, target: "agent-a", broker: cluster.broker, signedWith: controllerKey)
                try await attacker.sendRaw(envelope(SupervisorControl.StatusRequest.eventName, #"{"reqid":"u\#(index)"}"#, sender: "agent-a", target: "agent-a", ts: ts),
                                           to: .supervisorAPI, target: "agent-a", broker: cluster.broker, signedWith: try SigningKey(file: LocalKeys.shared.host("agent-a")))
                try await attacker.sendRaw(envelope(ControllerAPI.GetNodesRequest.eventName, #"{"reqid":"v\#(index)"}"#, sender: "hostile", target: "controller", ts: ts),
                                           to: .controllerAPI, target: "controller", broker: cluster.broker, signedWith: try SigningKey(file: LocalKeys.shared.deployer))
            }
            // The supervisor said why it dropped them, and nothing changed.
            try await cluster.supervisor("agent-a")?.waitForOutput("dropped a message")
            try await cluster.agent("agent-a")?.waitForOutput("dropped a message")
            #expect(try await cluster.deployedNodes() == deployedBefore)
            let statuses = try await cluster.runningNodes()
            #expect(statuses.values.flatMap(\.values).allSatisfy { $0.state == "RUNNING" } && statuses["agent-a"]?["evil"] == nil)
            #expect(cluster.nodeProcesses() == before)
            // No forged order was answered (answers to the legitimate deploy may still arrive:
            // the attacker reads from when it joined).
            let forgedReqids = Set((0..<4).flatMap { ["d\($0)", "c\($0)", "s\($0)", "cr\($0)", "de\($0)"] })
            #expect(attacker.all(AgentAPI.DeployResponse.self, where: { forgedReqids.contains($0.reqid) }).isEmpty)
            #expect(attacker.all(AgentAPI.CheckResponse.self, where: { forgedReqids.contains($0.reqid) }).isEmpty)
            #expect(attacker.all(SupervisorControl.CreateResponse.self, where: { forgedReqids.contains($0.reqid) }).isEmpty)
            #expect(attacker.all(SupervisorControl.DestroyResponse.self, where: { forgedReqids.contains($0.reqid) }).isEmpty)
            #expect(!FileManager.default.fileExists(atPath: "/tmp/owned"))
            // Every service is up and the operator's commands work.
            for process in [cluster.controllers[0], cluster.agent("agent-a"), cluster.supervisor("agent-a")].compactMap({ $0 }) {
                #expect(kill(process.pid, 0) == 0, "\(process.name) died")
            }
            #expect(try await cluster.cli("deploy").status == 0)
            #expect(cluster.nodeProcesses().count == before.count)
            await attacker.shutdown()
        }
    }
}
