#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Testing

/// A request sent to one endpoint is answered by that endpoint only: another enrolled host
/// that read it (they share partitions) cannot answer in its place.
@Suite("Responder binding")
struct ResponderBindingTests {
    @Test func anAnswerFromAnotherHostIsNotTheAnswer() async throws {
        let bus = InMemoryBus()
        let ids = TestIdentities.shared
        let controller = bus.connect("controller", consumes: [.agentAPI.replies], membership: .fromEnd,
                                     addressing: .targets(["controller"], orUntargeted: false), security: ids.security(.controller, key: ids.controller))
        defer { controller.shutdown() }
        let requester = Requester(bus: controller)
        let reading = Task { for await message in controller.inbound { requester.deliver(message) } }
        defer { reading.cancel() }
        let pending = Task {
            try await requester.request(AgentAPI.GetNodesRequest(reqid: "q"), on: .agentAPI, target: "agent-b", replyTo: .agentAPI.replies,
                                        until: .now + .seconds(10))
        }
        while !bus.messages(on: .agentAPI).contains(where: { $0.reqid == "q" }) { try await Task.sleep(for: .milliseconds(5)) }
        func answer(from host: String) -> String {
            #"{"event":"Management::Agent::API::get_nodes_response","args":{"reqid":"q","result":{"reqid":"q","success":true,"instance":"\#(host)"}},"sender":"\#(host)","target":"controller","ts":\#(Date().timeIntervalSince1970),"api_version":1}"#
        }
        #expect(bus.publishRaw(answer(from: "agent-a"), on: .agentAPI.replies, signedWith: ids.host("agent-a")))
        #expect(bus.publishRaw(answer(from: "agent-b"), on: .agentAPI.replies, signedWith: ids.host("agent-b")))
        #expect(try await pending.value.result.instance == "agent-b")
    }
}
