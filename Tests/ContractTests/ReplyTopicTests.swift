import Foundation
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Testing

/// Contract 2.1: a request may ask for its answer on its topic's `.replies` companion, which
/// only its requester reads; any other `reply_to` is ignored.
@Suite("Reply topic")
struct ReplyTopicTests {
    @Test(arguments: zip([Topic.agentAPI.replies, nil, .controllerAPI, Topic("Management.Agent.API.notify")],
                         [Topic.agentAPI.replies, .agentAPI, .agentAPI, .agentAPI]))
    func anAnswerGoesToTheRepliesTopicOnlyWhenTheRequestAsksForIt(replyTo: Topic?, answeredOn: Topic) async throws {
        let bus = InMemoryBus()
        let identities = TestIdentities.shared
        let agent = bus.connect("agent-a", consumes: [.agentAPI], membership: .fromEnd, addressing: .targets(["agent-a"], orUntargeted: true),
                                security: identities.security(.agent(instance: "agent-a"), key: identities.host("agent-a")))
        let controller = bus.connect("controller", consumes: [.agentAPI, .agentAPI.replies, .controllerAPI, .agentAPI.notify], membership: .fromEnd,
                                     addressing: .targets(["controller"], orUntargeted: false),
                                     security: identities.security(.controller, key: identities.controller))
        var responder = RequestResponder(through: agent, lifetime: .seconds(10), instance: "agent-a")
        responder.on(AgentAPI.AgentWelcomeRequest.self) { request, _ in
            AgentAPI.AgentWelcomeResponse(reqid: request.reqid, result: Management.Result(reqid: request.reqid, instance: "agent-a"))
        }
        let serving = Task { [responder] in
            for await message in agent.inbound { _ = await responder.respond(to: message, clock: SystemClock()) }
        }
        defer {
            serving.cancel()
            agent.shutdown()
            controller.shutdown()
        }
        let requester = Requester(bus: controller)
        let reading = Task { () -> Topic? in
            for await message in controller.inbound where requester.deliver(message) { return message.topic }
            return nil
        }
        let response = try await requester.request(AgentAPI.AgentWelcomeRequest(reqid: "w"), on: .agentAPI, target: "agent-a", replyTo: replyTo,
                                                   until: .now + .seconds(10))
        #expect(response.result.instance == "agent-a")
        #expect(await reading.value == answeredOn)
    }

    @Test func replyToIsOnTheWireOnlyWhenAsked() throws {
        let asking = Envelope(event: AgentAPI.AgentWelcomeRequest(reqid: "w"), sender: "controller", target: "agent-a", timestamp: 1,
                              replyTo: .agentAPI.replies)
        let value = try asking.encoded()
        #expect(String(decoding: value, as: UTF8.self).contains(#""reply_to":"Management.Agent.API.replies""#))
        #expect(try EnvelopeHead.parse(value).replyTo == "Management.Agent.API.replies")
        let plain = try Envelope(event: AgentAPI.AgentWelcomeRequest(reqid: "w"), sender: "controller", target: "agent-a", timestamp: 1).encoded()
        #expect(!String(decoding: plain, as: UTF8.self).contains("reply_to"))
        #expect(try EnvelopeHead.parse(plain).replyTo == nil)
    }
}
