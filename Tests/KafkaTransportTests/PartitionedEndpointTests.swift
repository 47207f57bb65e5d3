import Foundation
import KafkaTransport
import LocalServers
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import Testing

/// The partitioned per-host topics over a real broker: each host reads its own partition, a
/// broadcast reaches every host once, and one request gathers every responder's answer.
@Suite("Partitioned topics", .timeLimit(.minutes(2)))
struct PartitionedEndpointTests {
    static let partitions = 8
    static let namespace = TopicNamespace(prefix: "part.", partitions: partitions)

    /// Two host names whose partitions differ, and a third sharing the first one's.
    static let hosts: (a: String, b: String, sharingA: String) = {
        let names = (0..<200).map { "host-\($0)" }
        let a = names[0]
        let pa = Murmur2Partitioner.partition(of: a, among: partitions)
        let b = names.first { Murmur2Partitioner.partition(of: $0, among: partitions) != pa }!
        let sharing = names.dropFirst().first { Murmur2Partitioner.partition(of: $0, among: partitions) == pa }!
        return (a, b, sharing)
    }()

    func endpoint(_ broker: LocalBroker, name: String, consumes: [TopicReading], follows: [TopicReading] = [],
                  addressing: AddressFilter, membership: EndpointConfiguration.Membership = .fromEnd,
                  lookback: Duration = .seconds(120)) async throws -> ManagementEndpoint {
        try await ManagementEndpoint.connect(EndpointConfiguration(
            name: name, kafka: configuration(broker), namespace: Self.namespace, consumes: consumes, follows: follows,
            creates: [.agentAPI], membership: membership, addressing: addressing,
            // What the transport does with records, not who signed them (ContractTests and the hostile-writer suite cover that).
            security: .unsignedInsecure, lookback: lookback
        ), logger: testLogger)
    }

    func agent(_ broker: LocalBroker, _ name: String) async throws -> ManagementEndpoint {
        try await endpoint(broker, name: name, consumes: [Topic.agentAPI.partition(of: name)], addressing: .targets([name], orUntargeted: true))
    }

    @Test func topicsAreCreatedWithTheConfiguredPartitions() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let host = try await agent(broker, Self.hosts.a)
        let producer = try KafkaProducer(configuration: configuration(broker), logger: testLogger)
        #expect(try await producer.partitionCount(of: "part.Management.Agent.API") == Self.partitions)
        await producer.shutdown()
        await host.shutdown()
    }

    /// A host's reader fetches its own partition only: records for a host elsewhere never
    /// reach it, not even to be filtered; a broadcast reaches every host exactly once.
    @Test func aHostReadsItsOwnPartitionAndEveryBroadcastOnce() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let (a, b, sharingA) = Self.hosts
        let hostA = try await agent(broker, a)
        let hostB = try await agent(broker, b)
        let controller = try await endpoint(broker, name: "controller", consumes: [], addressing: .targets(["controller"], orUntargeted: false))
        // Everything fetched from host a's partition, whoever it is for.
        let partitionA = try await KafkaConsumer(
            configuration: configuration(broker),
            subscription: .assigned([PartitionSelection(topic: "part.Management.Agent.API", key: a)], committedIn: nil), logger: testLogger)

        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "for-b"), to: .agentAPI, target: b)
        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "for-neighbour"), to: .agentAPI, target: sharingA)
        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "everyone"), to: .agentAPI)
        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "for-a"), to: .agentAPI, target: a)

        #expect(try await first(2, of: hostA.inbound).map(\.reqid) == ["everyone", "for-a"])
        #expect(try await first(2, of: hostB.inbound).map(\.reqid) == ["for-b", "everyone"])
        let fetched = try await first(3, of: partitionA.messages).map { InboundMessage.reqid(in: $0.value) }
        #expect(fetched == ["for-neighbour", "everyone", "for-a"])

        await partitionA.shutdown()
        for endpoint in [hostA, hostB, controller] { await endpoint.shutdown() }
    }

    /// Hosts share partitions, and a host's notifications carry no target: a host's reader of
    /// one partition of a `.notify` topic skips, unread, those keyed by the host sharing it (an
    /// agent would otherwise verify and refuse, with a warning, every notification of its
    /// neighbour's supervisor). A reader of the whole topic (a monitoring system) gets both.
    @Test func aHostSkipsTheNotificationsOfTheHostSharingItsPartition() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let (a, _, sharingA) = Self.hosts
        let topic = Topic.supervisorAPI.notify
        let hostA = try await endpoint(broker, name: a, consumes: [topic.partition(of: a)], addressing: .targets([a], orUntargeted: true))
        let monitor = try await endpoint(broker, name: "monitor", consumes: [topic.whole], addressing: .everything)
        let neighbour = try await endpoint(broker, name: sharingA, consumes: [], addressing: .targets([sharingA], orUntargeted: false))
        // The neighbour's first, in the same partition: had host a read it, it would come first.
        try await neighbour.publish(SupervisorNotification.SupervisorHello(instance: sharingA, id: "neighbour"), to: topic)
        try await hostA.publish(SupervisorNotification.SupervisorHello(instance: a, id: "own"), to: topic)
        #expect(try await first(1, of: hostA.inbound).map(\.head.sender) == [a])
        #expect(try await first(2, of: monitor.inbound).map(\.head.sender) == [sharingA, a])
        for endpoint in [hostA, monitor, neighbour] { await endpoint.shutdown() }
    }

    /// A reader of every partition (an observer, a monitor) gets one copy of a broadcast.
    @Test func aReaderOfTheWholeTopicGetsOneCopyOfABroadcast() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let observer = try await endpoint(broker, name: "observer", consumes: [Topic.agentAPI.whole], addressing: .everything)
        let controller = try await endpoint(broker, name: "controller", consumes: [], addressing: .targets(["controller"], orUntargeted: false))
        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "everyone"), to: .agentAPI)
        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "last"), to: .agentAPI, target: Self.hosts.b)
        // Partitions are read in no particular order: the targeted record may come first.
        #expect(try await Set(first(2, of: observer.inbound).map(\.reqid)) == ["everyone", "last"])
        await observer.shutdown()
        await controller.shutdown()
    }

    /// A fan-out to a handful of responders is one copy addressed to each (a few records for
    /// the broker instead of one on every partition); to more than
    /// `Requester.addressedBroadcastLimit`, one untargeted copy on every partition, of which a
    /// reader of the whole topic gets one.
    @Test func aFanOutToAFewIsAddressedToEachAndToManyIsBroadcast() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let observer = try await endpoint(broker, name: "observer", consumes: [Topic.agentAPI.whole], addressing: .everything)
        let controller = try await endpoint(broker, name: "controller", consumes: [], addressing: .targets(["controller"], orUntargeted: false))
        let requester = Requester(bus: controller)
        let few: Set<String> = ["host-1", "host-2", "host-3"]
        let many = Set((0...Requester.addressedBroadcastLimit).map { "host-\($0)" })
        _ = await requester.broadcast(AgentAPI.GetNodesRequest(reqid: "few"), on: .agentAPI, to: few, until: .now + .milliseconds(100))
        _ = await requester.broadcast(AgentAPI.GetNodesRequest(reqid: "many"), on: .agentAPI, to: many, until: .now + .milliseconds(100))
        let seen = try await first(few.count + 1, of: observer.inbound)
        #expect(Set(seen.filter { $0.reqid == "few" }.compactMap(\.head.target)) == few)
        #expect(seen.filter { $0.reqid == "many" }.map(\.head.target) == [nil])
        await observer.shutdown()
        await controller.shutdown()
    }

    /// One request, one record per partition, however many responders: each answers once,
    /// those that do not are reported as timed out, answers from others are ignored.
    @Test func aBroadcastRequestGathersEveryRespondersAnswer() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let (a, b, sharingA) = Self.hosts
        let controller = try await endpoint(broker, name: "controller", consumes: [], follows: [Topic.agentAPI.partition(of: "controller")],
                                            addressing: .targets(["controller"], orUntargeted: false))
        let requester = Requester(bus: controller)
        let hosts = [try await agent(broker, a), try await agent(broker, b), try await agent(broker, sharingA)]
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                for await message in controller.inbound { requester.deliver(message) }
            }
            for host in hosts {
                group.addTask {
                    for await message in host.inbound where message.event == AgentAPI.GetNodesRequest.eventName {
                        let reqid = message.reqid ?? ""
                        try await host.publish(AgentAPI.GetNodesResponse(reqid: reqid, result: Management.Result(reqid: reqid, instance: host.name)),
                                               to: .agentAPI, target: message.head.sender)
                    }
                }
            }
            let answers = await requester.broadcast(AgentAPI.GetNodesRequest(reqid: UUID().uuidString), on: .agentAPI,
                                                    to: [a, b, "absent"], until: .now + .seconds(3))
            #expect(answers.count == 3)
            #expect(Set(answers.prefix(2).map(\.responder)) == [a, b])
            #expect(answers.prefix(2).allSatisfy { (try? $0.result.get().result.instance) == $0.responder })
            #expect(answers.last?.responder == "absent")
            #expect(answers.last.map { if case .failure(.timedOut) = $0.result { true } else { false } } == true)
            for host in hosts { await host.shutdown() }
            await controller.shutdown()
        }
    }

    /// A group that never read a partition starts `lookback` before now: what is older is
    /// history a newcomer has no use for, and it is not read.
    @Test func aNewGroupMemberDoesNotReplayTheTopicsHistory() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let a = Self.hosts.a
        let controller = try await endpoint(broker, name: "controller", consumes: [], addressing: .targets(["controller"], orUntargeted: false))
        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "history"), to: .agentAPI, target: a)
        try await Task.sleep(for: .seconds(5)) // the history ages past the lookback
        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "recent"), to: .agentAPI, target: a)
        let host = try await endpoint(broker, name: a, consumes: [Topic.agentAPI.partition(of: a)], addressing: .targets([a], orUntargeted: true),
                                      membership: .group(id: "agent.\(a)"), lookback: .seconds(3))
        try await controller.publish(AgentAPI.GetNodesRequest(reqid: "after"), to: .agentAPI, target: a)
        #expect(try await first(2, of: host.inbound).map(\.reqid) == ["recent", "after"])
        await host.shutdown()
        await controller.shutdown()
    }
}
