import Foundation
import KafkaTransport
import LocalServers
import Testing

/// The transport against a real broker (Tansu, started per test).
@Suite("Kafka transport", .timeLimit(.minutes(2)))
struct KafkaTransportTests {
    @Test func producesAndConsumesWithKeysAndHeaders() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "orders")])
        let consumer = try await KafkaConsumer(configuration: config, subscription: .group(id: "g1", topics: ["orders"]), logger: testLogger)
        let producer = try KafkaProducer(configuration: config, logger: testLogger)

        var reports: [KafkaDeliveryReport] = []
        for index in 0..<3 {
            reports.append(try await producer.send(KafkaRecord(
                topic: "orders", key: Data("k\(index)".utf8), value: Data("v\(index)".utf8),
                headers: [KafkaHeader(name: "event", string: "e\(index)"), KafkaHeader(name: "empty", value: nil)]
            )))
        }
        #expect(reports.map(\.offset) == [0, 1, 2])
        #expect(reports.allSatisfy { $0.topic == "orders" && $0.partition == 0 })

        let messages = try await first(3, of: consumer.messages)
        #expect(messages.map { String(decoding: $0.value, as: UTF8.self) } == ["v0", "v1", "v2"])
        #expect(messages.map { $0.key.map { String(decoding: $0, as: UTF8.self) } } == ["k0", "k1", "k2"])
        #expect(messages.map { $0.header("event")?.stringValue } == ["e0", "e1", "e2"])
        #expect(messages[0].header("empty") == KafkaHeader(name: "empty", value: nil))
        #expect(messages[0].timestamp != nil)
        #expect(consumer.assignment == [TopicPartition(topic: "orders", partition: 0)])

        await consumer.shutdown()
        await producer.shutdown()
    }

    @Test func callsAfterShutdownAreRefusedNotRacing() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "late")])
        let consumer = try await KafkaConsumer(configuration: config, subscription: .group(id: "late-group", topics: ["late"]), logger: testLogger)
        let producer = try KafkaProducer(configuration: config, logger: testLogger)
        try await producer.send(KafkaRecord(topic: "late", value: Data("x".utf8)))
        let message = try #require(try await first(1, of: consumer.messages).first)

        await consumer.shutdown()
        consumer.commit(message) // the client is gone: nothing to commit into, and nothing crashes
        consumer.skip(message)
        await producer.shutdown()
        let error = await #expect(throws: KafkaError.self) { try await producer.send(KafkaRecord(topic: "late", value: Data("y".utf8))) }
        #expect(error?.kind == .shutDown)
    }

    /// Administration over a producer uses its handle only through the producer's `withHandle`:
    /// a call made after the producer shut down is refused, not run on the destroyed handle.
    @Test func adminOverAShutDownProducerIsRefused() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: configuration(broker), logger: testLogger)
        await producer.shutdown()
        let error = await #expect(throws: KafkaError.self) {
            try await KafkaAdmin(producer: producer, logger: testLogger).ensureTopics([TopicSpecification(name: "late")])
        }
        #expect(error?.kind == .shutDown, "\(String(describing: error))")
    }

    /// Admin calls racing the producer's shutdown, started just before or just after it with
    /// varying gaps: each ends in a result or a `.shutDown` error, never on a destroyed handle
    /// (a crash, or a hang the time limit catches).
    @Test func adminCallsRacingTheProducerShutdownEndInResultsOrErrors() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let rounds = 30
        var outcomes: [String: Int] = [:]
        for round in 0..<rounds {
            let producer = try KafkaProducer(configuration: config, logger: testLogger)
            let admin = KafkaAdmin(producer: producer, logger: testLogger)
            let gap = Duration.milliseconds(round / 2 % 8 * 15)
            let outcome: String
            if round.isMultiple(of: 2) {
                async let ensured = Self.outcome(of: admin, topic: "race-\(round % 3)")
                try await Task.sleep(for: gap)
                await producer.shutdown()
                outcome = try await ensured
            } else {
                async let stopped: Void = producer.shutdown()
                try await Task.sleep(for: gap)
                outcome = try await Self.outcome(of: admin, topic: "race-\(round % 3)")
                await stopped
            }
            outcomes[outcome, default: 0] += 1
        }
        #expect(Set(outcomes.keys).isSubset(of: ["ensured", KafkaError.Kind.shutDown.rawValue]), "\(outcomes)")
        #expect(outcomes.values.reduce(0, +) == rounds)
    }

    /// "ensured", or the kind of the `KafkaError` thrown; any other error fails the test.
    private static func outcome(of admin: KafkaAdmin, topic: String) async throws -> String {
        do {
            try await admin.ensureTopics([TopicSpecification(name: topic)])
            return "ensured"
        } catch let error as KafkaError {
            return error.kind.rawValue
        }
    }

    @Test func deliveryFailureSurfacesWhenTheBrokerIsDown() async throws {
        let broker = try await LocalBroker.start()
        let config = configuration(broker, ["message.timeout.ms": "1500"])
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "t")])
        let producer = try KafkaProducer(configuration: config, logger: testLogger)
        try await producer.send(KafkaRecord(topic: "t", value: Data("delivered".utf8)))

        broker.stop()
        let started = ContinuousClock.now
        let error = await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaRecord(topic: "t", value: Data("lost".utf8)))
        }
        #expect(error?.kind == .delivery)
        #expect(error?.description.contains("not delivered") == true)
        #expect(ContinuousClock.now - started < .seconds(10), "the error arrives within message.timeout.ms, not minutes later")
        await producer.shutdown()
    }

    @Test func sendAfterShutdownIsAnError() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let producer = try KafkaProducer(configuration: configuration(broker), logger: testLogger)
        await producer.shutdown()
        let error = await #expect(throws: KafkaError.self) {
            try await producer.send(KafkaRecord(topic: "t", value: Data()))
        }
        #expect(error?.kind == .shutDown)
    }

    @Test func restartedGroupMemberDoesNotSeeHandledMessagesAgain() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config, seededWith: 1...3)

        let firstRun = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]), logger: testLogger)
        for message in try await first(3, of: firstRun.messages) { firstRun.commit(message) }
        await firstRun.shutdown()

        try await send(jobs: 4...5, with: producer)
        let secondRun = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]), logger: testLogger)
        let resumed = try await first(2, of: secondRun.messages)
        #expect(resumed.map { String(decoding: $0.value, as: UTF8.self) } == ["job-4", "job-5"])
        await secondRun.shutdown()
        await producer.shutdown()
    }

    @Test func unhandledMessagesAreDeliveredAgainAfterRestart() async throws {
        // The other half of commit-after-handling: what was received but not handled is not lost.
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config, seededWith: 1...3)

        let firstRun = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]), logger: testLogger)
        let received = try await first(3, of: firstRun.messages)
        firstRun.commit(received[0])
        await firstRun.shutdown()

        let secondRun = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]), logger: testLogger)
        let again = try await first(2, of: secondRun.messages)
        #expect(again.map { String(decoding: $0.value, as: UTF8.self) } == ["job-2", "job-3"])
        await secondRun.shutdown()
        await producer.shutdown()
    }

    /// Creates topic `jobs` holding `job-<n>` for each n, and returns the producer used.
    private func jobsTopic(_ config: KafkaConfiguration, seededWith jobs: ClosedRange<Int>) async throws -> KafkaProducer {
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "jobs")])
        let producer = try KafkaProducer(configuration: config, logger: testLogger)
        try await send(jobs: jobs, with: producer)
        return producer
    }

    private func send(jobs: ClosedRange<Int>, with producer: KafkaProducer) async throws {
        for index in jobs { try await producer.send(KafkaRecord(topic: "jobs", value: Data("job-\(index)".utf8))) }
    }

    @Test func standaloneConsumerStartsAtTheEnd() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "news")])
        let producer = try KafkaProducer(configuration: config, logger: testLogger)
        try await producer.send(KafkaRecord(topic: "news", value: Data("old".utf8)))

        let consumer = try await KafkaConsumer(configuration: config, subscription: .fromEnd(topics: ["news"]), logger: testLogger)
        try await consumer.waitForAssignment(timeout: .seconds(1))
        try await producer.send(KafkaRecord(topic: "news", value: Data("new".utf8)))
        let received = try await first(1, of: consumer.messages)
        #expect(received.map { String(decoding: $0.value, as: UTF8.self) } == ["new"])
        await consumer.shutdown()
        await producer.shutdown()
    }

    @Test func ensureTopicsIsIdempotentAndCreatesCompactedTopics() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let admin = KafkaAdmin(configuration: configuration(broker), logger: testLogger)
        let topics = [TopicSpecification(name: "state", config: ["cleanup.policy": "compact"]), TopicSpecification(name: "api")]
        try await admin.ensureTopics(topics)
        try await admin.ensureTopics(topics)
        let consumer = try await KafkaConsumer(configuration: configuration(broker), subscription: .fromEnd(topics: ["state", "api"]), logger: testLogger)
        #expect(consumer.assignment == [TopicPartition(topic: "state", partition: 0), TopicPartition(topic: "api", partition: 0)])
        await consumer.shutdown()
    }

    @Test func unreachableBrokerIsAClearError() async throws {
        let port = try freeLoopbackPort()
        let config = KafkaConfiguration(bootstrapServers: ["127.0.0.1:\(port)"], clientID: "tests")
        let error = await #expect(throws: KafkaError.self) {
            try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "t")], timeout: .seconds(2))
        }
        #expect(error?.kind == .unreachable, "\(String(describing: error))")
        #expect(error?.whatToCheck == "Check --brokers and that the broker is running.", "the advice, once, after the error")
    }

    @Test func invalidKafkaOptionIsRejectedByName() throws {
        let config = KafkaConfiguration(bootstrapServers: ["127.0.0.1:1"], clientID: "tests", overrides: ["no.such.property": "1"])
        let error = #expect(throws: KafkaError.self) { try KafkaProducer(configuration: config, logger: testLogger) }
        #expect(error?.kind == .configuration)
        #expect(error?.message.contains("no.such.property=1 rejected") == true)
        #expect(throws: KafkaError.self) { try KafkaConfiguration.parseOverrides(["novalue"]) }
        #expect(try KafkaConfiguration.parseOverrides(["sasl.password=a=b"]) == ["sasl.password": "a=b"])
    }

    @Test func loadedLibrdkafkaIsSupported() {
        #expect(LibrdkafkaVersion.loaded >= LibrdkafkaVersion.minimumSupported)
    }
}
