import Foundation
import KafkaTransport
import LocalServers
import Synchronization
import Testing

/// What a consumer lets through to its reader and how much it holds, against a real broker:
/// the filter applied on the poll thread, and the buffer's watermarks.
@Suite("Consumer filter and backpressure", .timeLimit(.minutes(2)))
struct ConsumerFlowTests {
    /// Accepts records whose `target` header is "here", as an endpoint accepts those addressed to it.
    static let forHere: @Sendable (borrowing KafkaMessageHead) -> Bool = { head in
        head.header("target")?.stringValue == "here"
    }

    // MARK: Filter

    @Test func rejectedMessagesNeverReachTheReaderAndAcceptedOnesArriveInOrder() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config)
        // Every third record has no target, the others alternate between here and elsewhere.
        let targets: [String?] = (0..<12).map { $0 % 3 == 2 ? nil : ($0 % 2 == 0 ? "here" : "elsewhere") }
        try await send(Array(zip(0..<12, targets)), with: producer)

        let seen = Recorder<(topic: String, partition: Int32, offset: Int64, headers: [KafkaHeader])>()
        let consumer = try await KafkaConsumer(
            configuration: config, subscription: .group(id: "workers", topics: ["jobs"]),
            accepting: { head in
                seen.append((head.topic, head.partition, head.offset, head.headers))
                return Self.forHere(head)
            },
            logger: testLogger
        )
        let expected = zip(0..<12, targets).filter { $0.1 == "here" }.map { "job-\($0.0)" }
        let received = try await first(expected.count, of: consumer.messages)
        #expect(received.map(\.text) == expected)
        #expect(received.map(\.offset) == received.map(\.offset).sorted())
        #expect(received.allSatisfy { $0.header("target")?.stringValue == "here" })

        // Nothing rejected arrives later either: the next record delivered is the next one for here.
        try await send([(12, "elsewhere"), (13, nil), (14, "here")], with: producer)
        #expect(try await first(1, of: consumer.messages).map(\.text) == ["job-14"])

        // The filter saw every record, where it is and all its headers, read from librdkafka.
        let records = seen.items
        #expect(records.map(\.offset) == Array(0...14))
        #expect(records.allSatisfy { $0.topic == "jobs" && $0.partition == 0 })
        #expect(records[0].headers == [KafkaHeader(name: "target", string: "here"), KafkaHeader(name: "job", string: "0")])
        #expect(records[2].headers == [KafkaHeader(name: "job", string: "2")])
        #expect(consumer.bufferedCount == 0)

        await consumer.shutdown()
        await producer.shutdown()
    }

    @Test func groupMemberResumesAfterRejectedMessagesAfterRestart() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config)
        try await send([(1, "here"), (2, "elsewhere"), (3, "elsewhere")], with: producer)

        let firstRun = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]),
                                               accepting: Self.forHere, logger: testLogger)
        let handled = try await first(1, of: firstRun.messages)
        #expect(handled.map(\.text) == ["job-1"])
        firstRun.commit(handled[0])
        // Received after the rejected ones, and deliberately not handled.
        try await send([(4, "here")], with: producer)
        #expect(try await first(1, of: firstRun.messages).map(\.text) == ["job-4"])
        await firstRun.shutdown()

        // Without a filter, the group resumes after the rejected records (they count as
        // handled), at the one that was received but not handled.
        let secondRun = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]), logger: testLogger)
        #expect(try await first(1, of: secondRun.messages).map(\.text) == ["job-4"])
        await secondRun.shutdown()
        await producer.shutdown()
    }

    @Test func rejectedMessagesDoNotMoveThePositionPastAnUnhandledOne() async throws {
        // A rejected record's offset is stored only once the reader is past what came before
        // it: storing it at once would let auto-commit skip a record still being handled.
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config)
        try await send([(1, "here"), (2, "elsewhere")], with: producer)

        let firstRun = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]),
                                               accepting: Self.forHere, logger: testLogger)
        #expect(try await first(1, of: firstRun.messages).map(\.text) == ["job-1"])
        // job-1 is "being handled" (neither committed nor skipped) when job-3 is fetched, which
        // shows job-2 was fetched and rejected too.
        try await send([(3, "here")], with: producer)
        try await eventually { firstRun.bufferedCount == 1 }
        try await Task.sleep(for: .milliseconds(1_200)) // more than auto.commit.interval.ms
        await firstRun.shutdown()

        let secondRun = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]), logger: testLogger)
        #expect(try await first(1, of: secondRun.messages).map(\.text) == ["job-1"])
        await secondRun.shutdown()
        await producer.shutdown()
    }

    /// A rebalance makes librdkafka fetch every partition again from the committed position,
    /// also the one a member keeps. What that member's reader holds or handled must not reach
    /// it a second time: a controller would take the deploy it is carrying out for a new one.
    @Test func aMemberKeepingItsPartitionThroughARebalanceGetsNothingTwice() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "pairs", partitions: 2)])
        let producer = try KafkaProducer(configuration: config, logger: testLogger)
        var keyOf: [Int32: String] = [:]
        for index in 0..<20 {
            let report = try await producer.send(KafkaRecord(topic: "pairs", key: Data("k\(index)".utf8), value: Data("job-\(index)".utf8)))
            keyOf[report.partition] = keyOf[report.partition] ?? "k\(index)"
        }
        try #require(keyOf.count == 2, "the keys went to both partitions")

        // A takes all 20 and handles none: all are "being handled" when B joins.
        let keeper = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["pairs"]), logger: testLogger)
        let firstSeen = Recorder<KafkaMessage>()
        let reading = Task { for await message in keeper.messages { firstSeen.append(message) } }
        try await eventually("the first member to read all 20") { firstSeen.items.count == 20 }
        let joiner = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["pairs"]), logger: testLogger)
        try await eventually(within: .seconds(30), "the range assignor to give each member one partition") {
            keeper.assignment.count == 1 && joiner.assignment.count == 1
        }
        let kept = try #require(keeper.assignment.first)
        let taken = try #require(joiner.assignment.first)

        // One new record per partition: the member that kept its partition gets its new one, and
        // nothing it had before.
        for partition in [kept.partition, taken.partition] {
            _ = try await producer.send(KafkaRecord(topic: "pairs", key: Data(keyOf[partition]!.utf8), value: Data("new-\(partition)".utf8)))
        }
        try await eventually("the first member to read the new record of its partition") {
            firstSeen.items.contains { $0.text == "new-\(kept.partition)" }
        }
        let afterRebalance = firstSeen.items.dropFirst(20)
        #expect(afterRebalance.map(\.text) == ["new-\(kept.partition)"], "\(afterRebalance.map { "\($0.partition)/\($0.offset) \($0.text)" })")
        // The other member starts where the group's position is: it gets what the first held.
        let originally = firstSeen.items.prefix(20).filter { $0.partition == taken.partition }.map(\.text)
        #expect(try await first(originally.count + 1, of: joiner.messages).map(\.text) == originally + ["new-\(taken.partition)"])

        reading.cancel()
        await keeper.shutdown()
        await joiner.shutdown()
        await producer.shutdown()
    }

    // MARK: Backpressure

    @Test func aReaderThatFallsBehindPausesFetchingAtTheHighWatermark() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config)
        try await send((0..<500).map { ($0, nil) }, with: producer)

        let limits = KafkaConsumer.BufferLimits()
        #expect(limits.lowWatermark == 10 && limits.highWatermark == 100)
        let consumer = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]), logger: testLogger)
        try await eventually { consumer.bufferedCount >= limits.highWatermark }
        // Nobody reads: the consumer stays at the high watermark instead of taking in all 500.
        try await Task.sleep(for: .milliseconds(500))
        #expect(consumer.bufferedCount == limits.highWatermark)

        let largest = Recorder<Int>()
        let sampling = Task {
            while !Task.isCancelled {
                largest.append(consumer.bufferedCount)
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
        let received = try await first(500, of: consumer.messages)
        sampling.cancel()
        await sampling.value
        #expect(received.map(\.text) == (0..<500).map { "job-\($0)" })
        #expect(largest.items.max() ?? 0 <= limits.highWatermark)
        #expect(consumer.bufferedCount == 0)

        await consumer.shutdown()
        await producer.shutdown()
    }

    @Test func theTightestLimitsStillDeliverEverythingInOrder() async throws {
        // One record at a time: the poll thread pauses and is woken for every record, so a
        // lost wake-up between the reader and the poll thread would stall this.
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config)
        try await send((0..<300).map { ($0, nil) }, with: producer)

        let consumer = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]),
                                               bufferLimits: .init(lowWatermark: 0, highWatermark: 1), logger: testLogger)
        var received: [String] = []
        for await message in consumer.messages {
            received.append(message.text)
            #expect(consumer.bufferedCount <= 1)
            if received.count == 300 { break }
        }
        #expect(received == (0..<300).map { "job-\($0)" })
        await consumer.shutdown()
        await producer.shutdown()
    }

    @Test func shutdownReturnsPromptlyWhileFetchingIsPaused() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config)
        try await send((0..<20).map { ($0, nil) }, with: producer)

        let consumer = try await KafkaConsumer(configuration: config, subscription: .group(id: "workers", topics: ["jobs"]),
                                               bufferLimits: .init(lowWatermark: 1, highWatermark: 5), logger: testLogger)
        try await eventually { consumer.bufferedCount >= 5 }
        #expect(consumer.bufferedCount == 5)
        try await Task.sleep(for: .milliseconds(200)) // the poll thread is asleep by now

        // Unstructured, so that a shutdown that hangs fails the test instead of hanging it.
        let shutDown = Recorder<Bool>()
        Task {
            await consumer.shutdown()
            shutDown.append(true)
        }
        try await eventually(within: .seconds(3), "shutdown to return") { !shutDown.items.isEmpty }
        // The sequence has ended; what was buffered is dropped (it was never handled).
        var iterator = consumer.messages.makeAsyncIterator()
        #expect(await iterator.next() == nil)
        #expect(consumer.bufferedCount == 0)
        await producer.shutdown()
    }

    @Test func shutdownEndsAWaitingReader() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config)
        let consumer = try await KafkaConsumer(configuration: config, subscription: .fromEnd(topics: ["jobs"]), logger: testLogger)
        let reader = Task {
            var count = 0
            for await _ in consumer.messages { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(200))
        await consumer.shutdown()
        #expect(await reader.value == 0)
        await producer.shutdown()
    }

    @Test func aCancelledReaderLosesNoMessage() async throws {
        // Unlike an AsyncStream, which terminates when its reader is cancelled, the messages
        // stay: a later iteration gets them.
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        let producer = try await jobsTopic(config)
        let consumer = try await KafkaConsumer(configuration: config, subscription: .fromEnd(topics: ["jobs"]), logger: testLogger)
        try await consumer.waitForAssignment(timeout: .seconds(5))

        let waiting = Task { () -> KafkaMessage? in
            var iterator = consumer.messages.makeAsyncIterator()
            return await iterator.next()
        }
        try await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(await waiting.value == nil)

        try await send([(1, nil), (2, nil)], with: producer)
        #expect(try await first(2, of: consumer.messages).map(\.text) == ["job-1", "job-2"])
        await consumer.shutdown()
        await producer.shutdown()
    }

    // MARK: Concurrent producers

    /// Requests reach a control-plane topic from many producers at once (the controller, every
    /// agent, every client). A consumer reading along must get every record exactly once and in
    /// offset order, even where the broker hands out a later record before an earlier one
    /// appended at the same moment (see `OffsetContinuity`).
    @Test(arguments: [false, true])
    func everyRecordFromConcurrentProducersIsReadOnce(asGroupMember: Bool) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let config = configuration(broker)
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "jobs")])
        let consumer = try await KafkaConsumer(
            configuration: config,
            subscription: asGroupMember ? .group(id: "readers", topics: ["jobs"], start: .earliest) : .fromEnd(topics: ["jobs"]),
            logger: testLogger
        )
        try await consumer.waitForAssignment(timeout: .seconds(15))
        let producers = 4, perProducer = 1_000
        // Read while they write, as an endpoint does.
        let reading = Task {
            var records: [KafkaMessage] = []
            for await record in consumer.messages {
                records.append(record)
                if records.count == producers * perProducer { break }
            }
            return records
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for producerIndex in 0..<producers {
                group.addTask {
                    let producer = try KafkaProducer(configuration: config, logger: testLogger)
                    var deliveries: [KafkaDelivery] = []
                    for index in 0..<perProducer {
                        deliveries.append(try producer.enqueue(KafkaRecord(topic: "jobs", value: Data("\(producerIndex)-\(index)".utf8))))
                        if index % 4 == 0 { try await Task.sleep(for: .milliseconds(1)) }
                    }
                    for delivery in deliveries { _ = try await delivery.report() }
                    await producer.shutdown()
                }
            }
            try await group.waitForAll()
        }
        // Every record is stored now; what the reader has not got within 20 s it never gets.
        let ending = Task {
            try await Task.sleep(for: .seconds(20))
            await consumer.shutdown()
        }
        let records = await reading.value
        ending.cancel()
        let expected = Set((0..<producers).flatMap { producer in (0..<perProducer).map { "\(producer)-\($0)" } })
        let missing = expected.subtracting(records.map(\.text))
        #expect(missing.isEmpty, "\(missing.count) records never read, e.g. \(missing.sorted().prefix(5))")
        #expect(records.count == expected.count)
        #expect(records.map(\.offset) == Array(0..<Int64(records.count)))
        await consumer.shutdown()
    }

    // MARK: Helpers

    /// Creates topic `jobs` and returns a producer.
    private func jobsTopic(_ config: KafkaConfiguration) async throws -> KafkaProducer {
        try await KafkaAdmin(configuration: config, logger: testLogger).ensureTopics([TopicSpecification(name: "jobs")])
        return try KafkaProducer(configuration: config, logger: testLogger)
    }

    /// Publishes `job-<n>` for each pair, with header `target` if one is given and header
    /// `job` = n, in order, and waits for every acknowledgement.
    private func send(_ jobs: [(Int, String?)], with producer: KafkaProducer) async throws {
        var deliveries: [KafkaDelivery] = []
        for (index, target) in jobs {
            var headers = [KafkaHeader(name: "job", string: "\(index)")]
            if let target { headers.insert(KafkaHeader(name: "target", string: target), at: 0) }
            deliveries.append(try producer.enqueue(KafkaRecord(topic: "jobs", value: Data("job-\(index)".utf8), headers: headers)))
        }
        for delivery in deliveries { _ = try await delivery.report() }
    }
}

/// Waits until `condition` holds, checking every 10 ms.
func eventually(within timeout: Duration = .seconds(20), _ what: String = "the condition", _ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while !condition() {
        guard ContinuousClock.now < deadline else { throw TestTimeout(description: "waited \(timeout) for \(what) in vain") }
        try await Task.sleep(for: .milliseconds(10))
    }
}

/// Collects values from any thread (the filter runs on the consumer's poll thread).
final class Recorder<Item: Sendable>: Sendable {
    private let storage = Mutex<[Item]>([])
    func append(_ item: Item) { storage.withLock { $0.append(item) } }
    var items: [Item] { storage.withLock { $0 } }
}

extension KafkaMessage {
    var text: String { String(decoding: value, as: UTF8.self) }
}
