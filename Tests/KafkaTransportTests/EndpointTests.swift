import Foundation
import KafkaTransport
import LocalServers
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import Testing

/// Endpoints over a real broker: addressing, bad input skipped, envelopes end to end.
@Suite("Management endpoint", .timeLimit(.minutes(2)))
struct EndpointTests {
    struct Hello: ManagementEvent {
        static let eventName = "Management::Agent::API::notify_agent_hello"
        var instance: String
        var id: String
        var connecting: Bool
        var api_version: Int
    }

    func endpoint(_ broker: LocalBroker, name: String, addressing: AddressFilter, membership: EndpointConfiguration.Membership = .fromEnd) async throws -> ManagementEndpoint {
        try await ManagementEndpoint.connect(EndpointConfiguration(
            name: name, kafka: configuration(broker), namespace: TopicNamespace(prefix: "test."),
            consumes: [Topic.agentAPI.whole], membership: membership, addressing: addressing,
            // What the transport does with records, not who signed them (ContractTests and the hostile-writer suite cover that).
            security: .unsignedInsecure
        ), logger: testLogger)
    }

    @Test func deliversOnlyWellFormedMessagesAddressedToIt() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let agent = try await endpoint(broker, name: "agent-a", addressing: .targets(["agent-a"], orUntargeted: false))
        let controller = try await endpoint(broker, name: "controller", addressing: .targets(["controller"], orUntargeted: true))
        let producer = try KafkaProducer(configuration: configuration(broker), logger: testLogger)

        try await controller.publish(Hello(instance: "x", id: "for-b", connecting: true, api_version: 1), to: .agentAPI, target: "agent-b")
        try await controller.publish(Hello(instance: "x", id: "broadcast", connecting: true, api_version: 1), to: .agentAPI)
        try await producer.send(KafkaRecord(topic: "test.Management.Agent.API", value: Data([0xde, 0xad, 0xbe, 0xef])))
        try await producer.send(KafkaRecord(topic: "test.Management.Agent.API", value: Data(#"{"event":"x","args":{},"sender":"s","target":"agent-a","ts":"bad","api_version":1}"#.utf8)))
        try await controller.publish(Hello(instance: "x", id: "for-a", connecting: false, api_version: 1), to: .agentAPI, target: "agent-a")

        let received = try await first(1, of: agent.inbound)
        let hello = try received[0].decode(Hello.self)
        #expect(hello.event.id == "for-a")
        #expect(hello.sender == "controller" && hello.target == "agent-a" && received[0].topic == .agentAPI)

        await producer.shutdown()
        await agent.shutdown()
        await controller.shutdown()
    }

    @Test func groupEndpointSeesMessagesPublishedRightAfterConnect() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let agent = try await endpoint(broker, name: "agent-a", addressing: .targets(["agent-a"], orUntargeted: true), membership: .group(id: "agent.agent-a"))
        try await agent.publish(Hello(instance: "agent-a", id: "1", connecting: true, api_version: 1), to: .agentAPI)
        let received = try await first(1, of: agent.inbound)
        #expect(try received[0].decode(Hello.self).event.instance == "agent-a")
        await agent.shutdown()
    }

    /// An endpoint that dies after publishing a response and before its position moved past
    /// the request leaves the request to be read again by whoever resumes (a restart, a
    /// standby). That one must not answer it a second time; requests not answered yet it must.
    /// The requester may share the endpoint's name, as an agent does with its supervisor, and
    /// may have asked for the answer on the `.replies` topic, as the controller does (2.1).
    @Test(arguments: [("client", false), ("agent-a", false), ("client", true)])
    func aGroupMemberThatResumesDoesNotAnswerAgainWhatWasAnsweredUnderItsName(requesterName: String, answeredOnReplies: Bool) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let membership = EndpointConfiguration.Membership.group(id: "agent.agent-a")
        let addressing = AddressFilter.targets(["agent-a"], orUntargeted: true)
        let client = try await endpoint(broker, name: requesterName, addressing: .targets([requesterName], orUntargeted: false))
        let dying = try await endpoint(broker, name: "agent-a", addressing: addressing, membership: membership)
        for reqid in ["answered", "pending"] {
            try await client.publish(AgentAPI.GetNodesRequest(reqid: reqid), to: .agentAPI, target: "agent-a",
                                     replyTo: answeredOnReplies ? Topic.agentAPI.replies : nil)
        }
        // The first member answers one request and dies before marking it handled.
        let request = try await first(1, of: dying.inbound)[0]
        #expect(request.reqid == "answered")
        #expect(request.replyTopic == (answeredOnReplies ? Topic.agentAPI.replies : .agentAPI))
        try await dying.publish(AgentAPI.GetNodesResponse(reqid: "answered", result: Management.Result(reqid: "answered", instance: "agent-a")),
                                to: request.replyTopic, target: requesterName)
        await dying.shutdown()

        let second = try await endpoint(broker, name: "agent-a", addressing: addressing, membership: membership)
        try await client.publish(AgentAPI.GetNodesRequest(reqid: "later"), to: .agentAPI, target: "agent-a")
        // (Sharing the name, it also reads the response; only the requests matter here.)
        var requests: [InboundMessage] = []
        for await message in second.inbound where message.event == AgentAPI.GetNodesRequest.eventName {
            requests.append(message)
            if requests.count == 2 { break }
        }
        #expect(requests.map(\.reqid) == ["pending", "later"])
        await second.shutdown()
        await client.shutdown()
    }
}
