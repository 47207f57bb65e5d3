import CRdKafka
#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization

/// A topic and partition.
public struct TopicPartition: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public var description: String { "\(topic)[\(partition)]" }
}

/// Consumes records and delivers them as an `AsyncSequence`.
///
/// Two ways to read, matching the kinds of endpoint in the design:
/// - ``Subscription/group(id:topics:start:)``: a consumer-group member. Every group sees every
///   record; the group resumes from its committed offsets after a restart, and a standby member
///   takes over the partitions of one that died. Call ``commit(_:)`` once a record is handled.
/// - ``Subscription/assigned(_:committedIn:lookback:)``: the partitions chosen, without joining
///   a group (no join to wait for, no rebalance). With a group id the consumer resumes from
///   the offsets committed under it and commits there: an endpoint that reads only its own
///   partition (an agent, a supervisor) and must not lose what arrived while it was down.
///   Without one it starts at the end ( ``Subscription/fromEnd(topics:)``): nodes, clients.
///
/// Records reach ``messages`` through a bounded buffer (``BufferLimits``): a reader that falls
/// behind pauses fetching rather than letting records pile up. A filter given at creation sees
/// each record's headers on the poll thread, before its payload is copied; records it rejects
/// are never delivered and, for a group member, count as skipped (see ``skip(_:)``).
public final class KafkaConsumer: Sendable {
    /// Where a group member starts in a partition its group has no committed offset for.
    public enum StartPosition: Sendable, Hashable {
        /// The oldest retained record. Nothing published before the group first joined is missed.
        case earliest
        /// Only records published after the group first got its partitions.
        case latest
        /// Records published at most this long before the member got the partition: what may
        /// still be waited for, without replaying the topic's retention.
        case recent(Duration)
    }

    public enum Subscription: Sendable {
        /// Joins consumer group `id`; `start` applies only where the group has no committed offset.
        case group(id: String, topics: [String], start: StartPosition = .earliest)
        /// Reads the selected partitions without joining a group. With `committedIn`, from the
        /// offsets committed under that group id (``commit(_:)`` commits there); where there
        /// are none, records published at most `lookback` ago (nil: from the current end).
        case assigned(_ partitions: [PartitionSelection], committedIn: String?, lookback: Duration? = nil)

        /// Every partition of `topics`, from its current end, without a group.
        public static func fromEnd(topics: [String]) -> Subscription {
            .assigned(topics.map(PartitionSelection.all), committedIn: nil)
        }
    }

    /// Records in the order librdkafka fetched them (those the filter accepted). Ends when the
    /// consumer shuts down.
    public let messages: Messages

    private let client: RdKafkaClient
    private let rebalance: RebalanceState
    private let buffer: MessageBuffer
    /// Where the group's position may move, as records are handled in any order.
    private let handledOffsets: HandledOffsets
    private let pollThread: PollThread
    private let isGroupMember: Bool

    /// Creates the client and subscribes (or assigns); records flow once this returns.
    ///
    /// - Parameters:
    ///   - bufferLimits: how many fetched records may wait for the reader. While the buffer is
    ///     at its high watermark the consumer does not poll librdkafka at all, so it also
    ///     serves no rebalance; a group member whose reader stalls for longer than
    ///     `max.poll.interval.ms` (5 minutes by default) is taken out of the group and its
    ///     partitions go to another member, and it rejoins once its reader catches up.
    ///   - filter: decides on the poll thread, from a record's topic, position and headers,
    ///     whether it is delivered. A rejected record is not copied and never reaches
    ///     ``messages``; a group member stores its offset as handled, once the reader has got
    ///     past the records delivered before it, so the group's position moves past it. The
    ///     filter runs for every record, between polls: keep it quick and non-blocking.
    public init(
        configuration: KafkaConfiguration,
        subscription: Subscription,
        bufferLimits: BufferLimits = BufferLimits(),
        accepting filter: (@Sendable (borrowing KafkaMessageHead) -> Bool)? = nil,
        logger: Logger
    ) async throws {
        var role = KafkaConfiguration.Tuning.consumer
        var start = StartOffsets.Fallback.end
        switch subscription {
        case let .group(id, _, position):
            role += KafkaConfiguration.Tuning.groupMember
            role += [("group.id", id), ("auto.offset.reset", position == .earliest ? "earliest" : "latest")]
            switch position {
            case .earliest: start = .earliest
            case .latest: start = .end
            case .recent(let duration): start = .since(duration)
            }
            isGroupMember = true
        case let .assigned(_, group?, _):
            role += KafkaConfiguration.Tuning.groupMember + [("group.id", group)]
            isGroupMember = true
        case .assigned(_, nil, _):
            role += KafkaConfiguration.Tuning.standalone(groupID: "\(configuration.clientID).\(UUID().uuidString)")
            isGroupMember = false
        }
        let rebalance = RebalanceState(start: start)
        let continuity = OffsetContinuity()
        let client = try RdKafkaClient(
            kind: .consumer,
            properties: configuration.properties(role: role),
            context: ClientContext(logger: logger, rebalance: rebalance, offsetContinuity: continuity,
                                   errorObserver: configuration.errorObserver)
        ) { conf in
            rd_kafka_conf_set_rebalance_cb(conf) { handle, error, partitions, _ in
                guard let handle, let context = ClientContext.from(handle) else { return }
                context.rebalance?.handle(handle: handle, event: error, partitions: partitions, continuity: context.offsetContinuity, logger: context.logger)
            }
            rd_kafka_conf_set_offset_commit_cb(conf) { handle, error, _, _ in
                guard error != RD_KAFKA_RESP_ERR_NO_ERROR, error != RD_KAFKA_RESP_ERR__NO_OFFSET,
                      let context = ClientContext.from(handle) else { return }
                context.logger.warning("offset commit failed: \(String(cString: rd_kafka_err2str(error)))")
            }
        }
        self.client = client
        self.rebalance = rebalance
        rd_kafka_poll_set_consumer(client.handle)

        do {
            switch subscription {
            case let .group(_, topics, _):
                try Self.subscribe(client, to: topics)
            case let .assigned(partitions, group, lookback):
                try await runBlocking {
                    try Self.assign(client, partitions, committedIn: group != nil, fallback: lookback.map(StartOffsets.Fallback.since) ?? .end,
                                    rebalance: rebalance, continuity: continuity)
                }
            }
        } catch {
            client.close { handle in _ = rd_kafka_consumer_close(handle) }
            throw error
        }

        let isGroupMember = self.isGroupMember
        let fetching = ThreadParking()
        let buffer = MessageBuffer(limits: bufferLimits, fetching: fetching)
        let handledOffsets = HandledOffsets()
        self.handledOffsets = handledOffsets
        self.buffer = buffer
        self.messages = Messages(buffer: buffer)
        self.pollThread = PollThread(
            parking: fetching,
            pausedWhile: { buffer.isFetchPaused },
            iteration: {
                guard let message = rd_kafka_consumer_poll(client.handle, 100) else { return }
                defer { rd_kafka_message_destroy(message) }
                guard message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                    if message.pointee.err != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        logger.warning("consume error: \(KafkaMessage.errorText(message.pointee))")
                    }
                    return
                }
                let head = KafkaMessageHead(message)
                let partition = TopicPartition(topic: head.topic, partition: head.partition)
                if case .reread(let missing) = continuity.check(partition, offset: head.offset) {
                    logger.debug("\(partition): offset \(head.offset) fetched before \(missing); fetching again from \(missing)")
                    // A moment for the broker to store what it appended; the thread is ours.
                    usleep(1_000)
                    Self.seek(client, partition: partition, to: missing)
                    return
                }
                if let filter {
                    guard filter(head) else {
                        if isGroupMember, let position = handledOffsets.rejected(partition, offset: head.offset) {
                            Self.storeOffset(client, partition: partition, nextOffset: position).map(rd_kafka_topic_partition_list_destroy)
                        }
                        return
                    }
                }
                if isGroupMember {
                    guard handledOffsets.deliver(partition, offset: head.offset) else {
                        logger.debug("\(partition): offset \(head.offset) fetched again after a rebalance; it is being handled or was handled here")
                        return
                    }
                }
                buffer.deliver(KafkaMessage(copying: message))
            },
            finish: {
                buffer.finish()
                // Commits the stored offsets of a group member and leaves the group at once,
                // so a standby takes over without waiting for the session to time out.
                client.close { handle in _ = rd_kafka_consumer_close(handle) }
                rebalance.closed()
            }
        )
    }

    /// Records fetched and waiting for the reader: at most the high watermark of the
    /// consumer's ``BufferLimits``. For observing a reader that falls behind.
    public var bufferedCount: Int { buffer.count }

    /// The partitions this consumer reads now.
    public var assignment: Set<TopicPartition> { rebalance.assignment }

    /// ``assignment`` after every rebalance, the first once the group took the member in (empty
    /// for a member given nothing), or once at start for a consumer that assigns its partitions
    /// itself. Lets a group member act on becoming the one that reads (a standby taking over) or
    /// on losing its partitions. Made for one reader.
    public var assignmentChanges: AsyncStream<Set<TopicPartition>> { rebalance.changes }

    /// Waits until the consumer has at least one partition (a group join takes a few seconds).
    public func waitForAssignment(timeout: Duration) async throws {
        try await rebalance.waitForAssignment(timeout: timeout)
    }

    /// Records that `message` has been handled, so the group resumes after it once every
    /// record delivered before it is handled too (``HandledOffsets``): handling may finish out
    /// of order, a position never moves past a record still being handled.
    ///
    /// The position is committed at once (asynchronously) and also stored for the commit made
    /// when the consumer closes. Does nothing for consumers without a group.
    public func commit(_ message: KafkaMessage) {
        commit(TopicPartition(topic: message.topic, partition: message.partition), offset: message.offset)
    }

    /// ``commit(_:)`` for the record at `offset` of `partition`, for a reader that kept where a
    /// record was rather than the record.
    public func commit(_ partition: TopicPartition, offset: Int64) {
        guard let list = storePosition(afterHandling: partition, offset: offset) else { return }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        _ = try? client.withHandle { rd_kafka_commit($0, list, 1) }
    }

    /// Records that `message` needs no handling (it is for someone else). The position is
    /// committed with the next handled message, by the periodic auto-commit, or on close:
    /// every skipped record committing at once would cost the broker a request each.
    public func skip(_ message: KafkaMessage) {
        storePosition(afterHandling: TopicPartition(topic: message.topic, partition: message.partition), offset: message.offset)
            .map(rd_kafka_topic_partition_list_destroy)
    }

    /// Marks the record at `offset` of `partition` handled and stores the group's new position if
    /// it moved; returns the one-entry list, or nil for consumers without a group, if the
    /// position did not move, or if librdkafka refuses.
    private func storePosition(afterHandling partition: TopicPartition, offset: Int64) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? {
        guard isGroupMember else { return nil }
        guard let position = handledOffsets.handled(partition, offset: offset) else { return nil }
        return Self.storeOffset(client, partition: partition, nextOffset: position)
    }

    /// Stores `nextOffset` as the position of `partition` for the next commit; returns the
    /// one-entry list (the caller destroys it), or nil if librdkafka refuses (e.g. the
    /// partition is no longer assigned to this member).
    private static func storeOffset(_ client: RdKafkaClient, partition: TopicPartition, nextOffset: Int64) -> UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? {
        guard let list = rd_kafka_topic_partition_list_new(1) else { return nil }
        let entry = rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)
        entry?.pointee.offset = nextOffset
        // After shutdown there is nothing to store into: the position was committed on close.
        let stored = (try? client.withHandle { rd_kafka_offsets_store($0, list) }) ?? RD_KAFKA_RESP_ERR__DESTROY
        if stored != RD_KAFKA_RESP_ERR_NO_ERROR {
            client.context.logger.debug("offset for \(partition) not stored: \(String(cString: rd_kafka_err2str(stored)))")
            rd_kafka_topic_partition_list_destroy(list)
            return nil
        }
        return list
    }

    /// Leaves the group (committing handled offsets), ends ``messages`` and releases the client.
    ///
    /// Records still buffered are dropped: they were not handled, so the group delivers them
    /// again. Returns promptly even while fetching is paused and nobody reads.
    public func shutdown() async {
        await pollThread.stop()
    }

    /// Makes the next fetch of `partition` start at `offset`. Records librdkafka had already
    /// fetched beyond it are discarded, not delivered.
    private static func seek(_ client: RdKafkaClient, partition: TopicPartition, to offset: Int64) {
        guard let list = rd_kafka_topic_partition_list_new(1) else { return }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition)?.pointee.offset = offset
        // A zero timeout starts the seek and returns: the poll thread must not block on it.
        if let error = rd_kafka_seek_partitions(client.handle, list, 0) {
            client.context.logger.warning("\(partition): could not fetch again from offset \(offset): \(String(cString: rd_kafka_error_string(error)))")
            rd_kafka_error_destroy(error)
        }
    }

    private static func subscribe(_ client: RdKafkaClient, to topics: [String]) throws {
        guard let list = rd_kafka_topic_partition_list_new(Int32(topics.count)) else {
            throw KafkaError(.consumer, "could not allocate a subscription list")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for topic in topics { rd_kafka_topic_partition_list_add(list, topic, RD_KAFKA_PARTITION_UA) }
        let error = rd_kafka_subscribe(client.handle, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumer, "subscribe to \(topics.joined(separator: ", "))", error: error)
        }
    }

    /// Assigns the selected partitions at concrete offsets (``StartOffsets``): asking the broker
    /// for them, rather than assigning a logical "end", means nothing published after this
    /// returns can be skipped, which lets the caller announce itself safely.
    private static func assign(
        _ client: RdKafkaClient, _ selections: [PartitionSelection], committedIn hasGroup: Bool, fallback: StartOffsets.Fallback,
        rebalance: RebalanceState, continuity: OffsetContinuity
    ) throws {
        var partitions: [TopicPartition] = []
        for selection in selections {
            let all = try client.partitions(of: selection.topic, timeoutMilliseconds: 5_000)
            let chosen = selection.key.map { [Murmur2Partitioner.partition(of: $0, among: all.count)] } ?? all
            for partition in chosen where !partitions.contains(TopicPartition(topic: selection.topic, partition: partition)) {
                partitions.append(TopicPartition(topic: selection.topic, partition: partition))
            }
        }
        guard let list = rd_kafka_topic_partition_list_new(Int32(max(partitions.count, 1))) else {
            throw KafkaError(.consumer, "could not allocate an assignment list")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions { rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition) }
        if !partitions.isEmpty {
            try StartOffsets.resolve(client.handle, list, committedIn: hasGroup, fallback: fallback)
        }
        for index in 0..<Int(list.pointee.cnt) {
            let entry = list.pointee.elems[index]
            continuity.expect(TopicPartition(topic: String(cString: entry.topic), partition: entry.partition), at: entry.offset)
        }
        let error = rd_kafka_assign(client.handle, list)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.consumer, "assign \(partitions.map(\.description).joined(separator: ", "))", error: error)
        }
        rebalance.replace(with: Set(partitions))
    }
}

/// Which partitions of a topic a consumer reads.
public struct PartitionSelection: Sendable, Hashable, CustomStringConvertible {
    public var topic: String
    /// nil: every partition; else only the one records with this key go to (``Murmur2Partitioner``).
    public var key: String?

    public init(topic: String, key: String?) {
        self.topic = topic
        self.key = key
    }

    /// Every partition of `topic`.
    public static func all(_ topic: String) -> PartitionSelection {
        PartitionSelection(topic: topic, key: nil)
    }

    public var description: String { key.map { "\(topic)[key \($0)]" } ?? topic }
}

/// The consumer's current assignment, updated by librdkafka's rebalance callback on the poll
/// thread and awaited by tasks that need to know the consumer is live.
final class RebalanceState: Sendable {
    private struct State {
        var assignment: Set<TopicPartition> = []
        var closed = false
        var waiters: [UUID: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())
    let changes: AsyncStream<Set<TopicPartition>>
    private let changesContinuation: AsyncStream<Set<TopicPartition>>.Continuation
    /// Where a member starts in a partition the group has no committed offset for.
    private let start: StartOffsets.Fallback

    init(start: StartOffsets.Fallback = .end) {
        self.start = start
        // Nothing is yielded before the first rebalance: a member that joined its group hears
        // its first assignment (empty for a standby) only once the group took it in.
        (changes, changesContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(16))
    }

    var assignment: Set<TopicPartition> { state.withLock { $0.assignment } }

    /// Applies a rebalance. What `continuity` knew of the partitions it assigned or revoked is
    /// forgotten; an assigned partition starts at a concrete offset, which it is told.
    func handle(
        handle: OpaquePointer, event: rd_kafka_resp_err_t, partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        continuity: OffsetContinuity?, logger: Logger
    ) {
        let changed = Self.topicPartitions(partitions)
        continuity?.forget(changed)
        let cooperative = Self.isCooperative(protocol: rd_kafka_rebalance_protocol(handle))
        switch event {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if let partitions {
                do {
                    try StartOffsets.resolve(handle, partitions, committedIn: true, fallback: start)
                    for index in 0..<Int(partitions.pointee.cnt) {
                        let entry = partitions.pointee.elems[index]
                        continuity?.expect(TopicPartition(topic: String(cString: entry.topic), partition: entry.partition), at: entry.offset)
                    }
                } catch {
                    // librdkafka's own reset applies where no offset was found.
                    logger.warning("start offsets of \(changed.map(\.description).sorted().joined(separator: ", ")) not known: \(error)")
                }
            }
            if cooperative {
                if let error = rd_kafka_incremental_assign(handle, partitions) { rd_kafka_error_destroy(error) }
            } else {
                _ = rd_kafka_assign(handle, partitions)
            }
            logger.debug("partitions assigned: \(changed.map(\.description).sorted().joined(separator: ", "))")
            update { $0.formUnion(changed) }
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, partitions) { rd_kafka_error_destroy(error) }
            } else {
                _ = rd_kafka_assign(handle, nil)
            }
            logger.debug("partitions revoked: \(changed.map(\.description).sorted().joined(separator: ", "))")
            update { $0.subtract(changed) }
        default:
            logger.warning("rebalance failed: \(String(cString: rd_kafka_err2str(event)))")
            _ = rd_kafka_assign(handle, nil)
            continuity?.forget(assignment)
            update { $0.removeAll() }
        }
    }

    /// Whether a rebalance is applied incrementally, given `rd_kafka_rebalance_protocol`'s
    /// answer: "COOPERATIVE", "EAGER", "NONE" (not joined yet), or NULL.
    ///
    /// librdkafka returns NULL when it cannot say: the handle has no consumer group, or the
    /// group no longer takes requests (it is being torn down). NULL is taken as eager, as
    /// "NONE" is, rather than trapping in `String(cString:)` on the poll thread:
    /// eager is the protocol of the range assignor these consumers run, an eager revoke drops
    /// the whole assignment (the safe side when unsure: no partition is kept that may have
    /// moved to another member), and should the group be cooperative after all, librdkafka
    /// refuses the eager call with an error instead of applying it.
    static func isCooperative(protocol name: UnsafePointer<CChar>?) -> Bool {
        guard let name else { return false }
        return String(cString: name) == "COOPERATIVE"
    }

    func replace(with assignment: Set<TopicPartition>) {
        update { $0 = assignment }
    }

    func closed() {
        let waiters = state.withLock { state in
            state.closed = true
            state.assignment = []
            defer { state.waiters = [:] }
            return state.waiters.values
        }
        waiters.forEach { $0.resume(returning: false) }
        changesContinuation.yield([])
        changesContinuation.finish()
    }

    func waitForAssignment(timeout: Duration) async throws {
        let assigned = try await withThrowingTaskGroup(of: Bool.self) { group in
            group.addTask { await self.assigned() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw KafkaError(.timedOut, "no partition assigned within \(timeout); is the broker reachable and the topic created?")
            }
            defer { group.cancelAll() }
            return try await group.next() ?? false
        }
        if !assigned {
            throw KafkaError(.shutDown, "consumer closed before it was assigned a partition")
        }
    }

    /// True once a partition is assigned, false if the consumer closes or the task is cancelled.
    private func assigned() async -> Bool {
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate: Bool? = state.withLock { state in
                    if !state.assignment.isEmpty { return true }
                    if state.closed || Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(returning: false)
        }
    }

    private func update(_ change: (inout Set<TopicPartition>) -> Void) {
        let (assignment, waiters) = state.withLock { state in
            change(&state.assignment)
            guard !state.assignment.isEmpty else { return (state.assignment, [CheckedContinuation<Bool, Never>]()) }
            defer { state.waiters = [:] }
            return (state.assignment, Array(state.waiters.values))
        }
        changesContinuation.yield(assignment)
        waiters.forEach { $0.resume(returning: true) }
    }

    private static func topicPartitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> Set<TopicPartition> {
        guard let list else { return [] }
        return Set((0..<Int(list.pointee.cnt)).map { index in
            let element = list.pointee.elems[index]
            return TopicPartition(topic: String(cString: element.topic), partition: element.partition)
        })
    }
}

extension KafkaMessage {
    /// Copies a message out of librdkafka. Takes the pointer librdkafka handed out (not a copy
    /// of the struct): header and timestamp accessors find the enclosing internal message from it.
    init(copying pointer: UnsafeMutablePointer<rd_kafka_message_t>) {
        let message = pointer.pointee
        let topic = message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
        let value = message.payload.map { Data(bytes: $0, count: message.len) } ?? Data()
        let key = message.key.map { Data(bytes: $0, count: message.key_len) }
        let headers = KafkaHeader.all(of: pointer)
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let milliseconds = rd_kafka_message_timestamp(pointer, &timestampType)
        self.init(
            topic: topic,
            partition: message.partition,
            offset: message.offset,
            key: key,
            value: value,
            headers: headers,
            timestamp: milliseconds >= 0 ? Date(timeIntervalSince1970: Double(milliseconds) / 1000) : nil
        )
    }

    static func errorText(_ message: rd_kafka_message_t) -> String {
        let topic = message.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? "-"
        var text = "\(topic): \(String(cString: rd_kafka_err2str(message.err)))"
        if let payload = message.payload, message.len > 0 {
            text += " (\(String(decoding: UnsafeRawBufferPointer(start: payload, count: message.len), as: UTF8.self)))"
        }
        return text
    }
}
