#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KafkaTransport
import ManagementMessaging
import ManagementTypes
import Logging
import Synchronization

/// Which requests read again after a group member (re)started reading a partition were
/// answered already, so that none is answered twice.
///
/// A request is committed only once its response is stored (contract 7.2). An endpoint that
/// dies between the two (a window of milliseconds), or a standby that takes over then, reads the
/// request again from the committed position. Its response was sent after it, under the
/// endpoint's name, which every member of the group shares, on the request's topic or on the
/// `.replies` topic the request named (contract 2.1). So on the first recent request read after
/// resuming, the request's partition is read ahead to its current end, and the responses sent
/// under that name since the request are looked up; a request whose `reqid` is among them is
/// not answered again. Records after that end were published after the takeover and are
/// answered as usual.
///
/// Requests older than ``horizon`` are not looked up: they are past every endpoint's deadline
/// (7.3) and will be skipped anyway, and a topic's whole retention is not read for them.
final class AnsweredRequests: Sendable {
    /// How far back a request read again is still looked up.
    static let horizon: Duration = .seconds(300)

    /// What is known of a partition since the endpoint started reading it. The consumer
    /// delivers each offset of a partition once (``KafkaConsumer`` does not hand out again what
    /// a rebalance fetches again), so the first read is the only resume.
    private enum Reading {
        /// Nothing looked up yet.
        case resumed
        /// Looked up up to `end` (exclusive): the reqids answered there under this name.
        case lookedUp(end: Int64, answered: Set<String>)
    }

    private let name: String
    private let kafka: KafkaConfiguration
    private let logger: Logger
    private let partitions = Mutex<[TopicPartition: Reading]>([:])
    /// Where a response to a request goes: the Kafka topic it is answered on, and that topic's
    /// partition of the requester (responses are keyed by it); nil if unknown.
    private let responses: @Sendable (InboundMessage) async -> TopicPartition?

    /// Tells the requests past the ``horizon``; tests move it instead of waiting.
    private let clock: any ManagementClock

    init(name: String, kafka: KafkaConfiguration, clock: any ManagementClock, logger: Logger,
         responses: @escaping @Sendable (InboundMessage) async -> TopicPartition?) {
        self.name = name
        self.kafka = kafka
        self.clock = clock
        self.logger = logger
        self.responses = responses
    }

    /// Whether `message`, read by the endpoint, is a request it answered before it last
    /// resumed reading. Must see every message the endpoint accepts, in order.
    func wasAnswered(_ message: InboundMessage) async -> Bool {
        let record = message.record
        let partition = TopicPartition(topic: record.topic, partition: record.partition)
        let reading = partitions.withLock { $0[partition] ?? .resumed }
        // Only requests are looked up: responses and notifications are never answered.
        guard message.event.hasSuffix("_request") else { return false }
        switch reading {
        case .lookedUp(let end, let answered):
            guard record.offset < end, let reqid = message.reqid else { return false }
            return answered.contains(reqid)
        case .resumed:
            // Nor those stamped that far in the future (a wrong clock, or hostile): answers are
            // looked up from the request's time on, which would find none.
            guard abs(clock.wallTime - message.head.timestamp) < Self.horizon.timeInterval,
                  let reqid = message.reqid else { return false }
            let responses = await responses(message) ?? partition
            let (end, answered) = await lookUp(partition, from: record.offset, responsesIn: responses, since: message.head.timestamp)
            partitions.withLock { $0[partition] = .lookedUp(end: end, answered: answered) }
            return answered.contains(reqid)
        }
    }

    /// The reqids of responses this endpoint's name sent since the request at `offset` of
    /// `partition` (in `responses`: the request's topic or its `.replies`, in the partition of
    /// the requester, since responses are keyed by the requester and requests by their target),
    /// and the end `partition` had when they were looked up. A failed read finds none (a request
    /// may then be answered twice, which requesters tolerate, rather than not at all).
    private func lookUp(_ partition: TopicPartition, from offset: Int64, responsesIn responses: TopicPartition,
                        since published: Double) async -> (end: Int64, answered: Set<String>) {
        let name = self.name
        let sentByThisName: @Sendable (borrowing KafkaMessageHead) -> Bool = { head in
            head.header(EnvelopeHeader.sender)?.stringValue == name
                && head.header(EnvelopeHeader.event)?.stringValue?.hasSuffix("_response") == true
        }
        // Responses are published after their request; a margin for clocks of other hosts.
        let sincePublished = KafkaTopicSnapshot.Start.time(Date(timeIntervalSince1970: published - 10))
        do {
            let end: Int64
            let answeredRecords: [KafkaMessage]
            if responses.topic == partition.topic {
                var starts: [Int32: KafkaTopicSnapshot.Start] = [partition.partition: .offset(offset)]
                if responses.partition != partition.partition { starts[responses.partition] = sincePublished }
                let snapshot = try await KafkaTopicSnapshot.snapshot(of: partition.topic, partitions: Set(starts.keys), from: starts,
                                                                     accepting: sentByThisName, configuration: kafka, logger: logger)
                end = snapshot.ends[partition.partition] ?? 0
                answeredRecords = snapshot.records.filter { $0.partition == responses.partition }
            } else {
                async let requests = KafkaTopicSnapshot.snapshot(of: partition.topic, partitions: [partition.partition], from: [partition.partition: .offset(offset)],
                                                                 accepting: { _ in false }, configuration: kafka, logger: logger)
                async let answers = KafkaTopicSnapshot.snapshot(of: responses.topic, partitions: [responses.partition], from: [responses.partition: sincePublished],
                                                                accepting: sentByThisName, configuration: kafka, logger: logger)
                end = try await requests.ends[partition.partition] ?? 0
                answeredRecords = try await answers.records
            }
            return (max(end, offset + 1), Set(answeredRecords.compactMap { InboundMessage.reqid(in: $0.value) }))
        } catch {
            logger.warning("could not read \(partition.topic) ahead for requests answered before this endpoint resumed: \(error)")
            return (offset + 1, [])
        }
    }
}
