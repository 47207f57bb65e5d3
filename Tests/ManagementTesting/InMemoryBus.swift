#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementMessaging
import ManagementTypes
import MessageSigning
import Synchronization

/// A bus in one process that keeps the delivery rules of the Kafka one, so the controller,
/// agent and supervisor run unchanged in a test and answer in microseconds.
///
/// What it keeps of Kafka: every topic is one ordered log; envelopes are encoded and decoded
/// as on the wire; each endpoint reads what is addressed to it (``AddressFilter``); members of
/// a consumer group share one committed position, and only the oldest member reads (the
/// others stand by and take over, from the committed position, when it leaves); endpoints
/// without a group read from the end; state topics keep the latest value per key.
public final class InMemoryBus: Sendable {
    public let clock: any ManagementClock

    private struct Reader {
        let id: UUID
        let topics: Set<Topic>
        var group: String?
        let addressing: AddressFilter
        let messages: AsyncStream<InboundMessage>.Continuation
        let assignment: AsyncStream<Bool>.Continuation
        var active: Bool
        var cursor: [Topic: Int]
        /// Delivered and not yet handled, per topic: the group's position stays before them.
        var outstanding: [Topic: Set<Int>] = [:]
    }

    private struct State {
        var logs: [Topic: [InboundMessage]] = [:]
        var stored: [Topic: [String: WireRecord]] = [:]
        var committed: [String: [Topic: Int]] = [:]
        /// Readers in the order they joined: the first of a group is its active member.
        var readers: [Reader] = []
        var refusesPublishing: String?
        var refusesStateReads: String?

        /// Makes the oldest member of `group` its reader, if none is, from the group's
        /// committed position.
        mutating func activateGroup(_ group: String) {
            guard !readers.contains(where: { $0.group == group && $0.active }),
                  let index = readers.firstIndex(where: { $0.group == group }) else { return }
            readers[index].active = true
            readers[index].outstanding = [:]
            for topic in readers[index].topics {
                readers[index].cursor[topic] = committed[group]?[topic] ?? 0
                deliverPending(to: index, on: topic)
            }
            readers[index].assignment.yield(true)
        }

        /// Hands reader `index` what it has not read of `topic` and is addressed to it.
        mutating func deliverPending(to index: Int, on topic: Topic) {
            let log = logs[topic] ?? []
            var cursor = readers[index].cursor[topic] ?? log.count
            while cursor < log.count {
                let message = log[cursor]
                if readers[index].addressing.accepts(target: message.head.target) {
                    readers[index].outstanding[topic, default: []].insert(cursor)
                    readers[index].messages.yield(message)
                }
                cursor += 1
            }
            readers[index].cursor[topic] = cursor
        }
    }

    private let state = Mutex(State())

    public init(clock: any ManagementClock = SystemClock()) {
        self.clock = clock
    }

    /// How an endpoint joins (the in-memory counterpart of ``EndpointConfiguration``).
    public enum Membership: Sendable {
        /// A consumer group: one position for all members, the oldest member reads.
        case group(String)
        /// No group: reads from the current end.
        case fromEnd
    }

    /// Connects an endpoint named `name` that reads `topics`.
    /// - Parameter signingAs: for a probe that plays several parts, the key it signs with,
    ///   by topic, target and sender, instead of its own.
    public func connect(_ name: String, consumes topics: [Topic], membership: Membership, addressing: AddressFilter,
                        security: MessageSecurity, signingAs: (@Sendable (Topic, String?, String) -> SigningKey)? = nil) -> Endpoint {
        let (messages, messagesContinuation) = AsyncStream<InboundMessage>.makeStream()
        let (assignment, assignmentContinuation) = AsyncStream<Bool>.makeStream()
        let id = UUID()
        state.withLock { state in
            var reader = Reader(id: id, topics: Set(topics), group: nil, addressing: addressing,
                                messages: messagesContinuation, assignment: assignmentContinuation, active: false, cursor: [:])
            switch membership {
            case .fromEnd:
                reader.active = true
                for topic in topics { reader.cursor[topic] = state.logs[topic, default: []].count }
                state.readers.append(reader)
                assignmentContinuation.yield(!topics.isEmpty)
            case .group(let group):
                reader.group = group
                state.readers.append(reader)
                assignmentContinuation.yield(false)
                state.activateGroup(group)
            }
        }
        let logger = Logger(label: "in-memory-bus.\(name)")
        return Endpoint(name: name, id: id, bus: self, messages: messages, assignment: assignment,
                        messageGuard: security.makeGuard(clock: clock, logger: logger), signingAs: signingAs)
    }

    /// Connects an endpoint named `name` that takes part as `participation` declares, as the
    /// service's executable does on Kafka: every topic it reads (whole: this bus has no
    /// partitions), in its group.
    public func connect(_ name: String, participating participation: BusParticipation, security: MessageSecurity) -> Endpoint {
        connect(name, consumes: participation.topicsRead, membership: .group(participation.group), addressing: participation.addressing, security: security)
    }

    /// Every message published on `topic` so far, in order, whoever it was for.
    public func messages(on topic: Topic) -> [InboundMessage] {
        state.withLock { $0.logs[topic] ?? [] }
    }

    /// Publishes raw bytes as a value on `topic`, bypassing the codecs (malformed input),
    /// signed with `key`, else as the legitimate writer of `topic` would sign it
    /// (``TestIdentities/key(forWritingTo:target:sender:)``), or `unsigned` as a forger without
    /// any key writes. Returns false if they do not parse as an envelope head, as Kafka
    /// endpoints would skip them.
    @discardableResult
    public func publishRaw(_ json: String, on topic: Topic, signedWith key: SigningKey? = nil, unsigned: Bool = false) -> Bool {
        let value = Data(json.utf8)
        guard let head = try? EnvelopeHead.parse(value) else { return false }
        let recordKey = Data((head.target ?? head.sender).utf8)
        var headers: [WireHeader] = []
        if !unsigned {
            let signer = key ?? TestIdentities.shared.key(forWritingTo: topic, target: head.target, sender: head.sender)
            headers = Self.signatureHeaders(value, topic: topic, key: recordKey, with: signer)
        }
        try? append(value, key: recordKey, headers: headers, on: topic)
        return true
    }

    /// Writes `message` again exactly as it was read, headers and signature included: what an
    /// attacker who captured a record can do.
    public func replay(_ message: InboundMessage) {
        let record = message.record
        try? append(record.value, key: record.key, headers: record.headers, on: message.topic)
    }

    /// From now on, publishing fails with `reason` (nil: works again), as with a broker down.
    public func refusePublishing(_ reason: String?) {
        state.withLock { $0.refusesPublishing = reason }
    }

    fileprivate func publish<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?, sender: String, replyTo: Topic? = nil,
                                                     signer: MessageGuard?, signingAs: (@Sendable (Topic, String?, String) -> SigningKey)? = nil) throws {
        if let reason = state.withLock({ $0.refusesPublishing }) { throw InMemoryBusError(description: reason) }
        let envelope = Envelope(event: event, sender: sender, target: target, timestamp: clock.wallTime, replyTo: replyTo)
        let record = try envelope.record(topic: topic.name)
        let headers = if let signingAs {
            Self.signatureHeaders(record.value, topic: topic, key: record.key ?? Data(), with: signingAs(topic, target, sender))
        } else {
            signer?.sign(record.value, topic: topic.name, key: record.key ?? Data()) ?? []
        }
        try append(record.value, key: record.key, headers: headers, on: topic)
    }

    private static func signatureHeaders(_ value: Data, topic: Topic, key: Data, with signingKey: SigningKey) -> [WireHeader] {
        SignedRecord(signing: value, topic: topic.name, key: key, with: signingKey).headers
    }

    /// Stores `value` at the end of `topic`, parsed once, and hands it to the readers.
    private func append(_ value: Data, key: Data?, headers: [WireHeader], on topic: Topic) throws(WireDecodingError) {
        try state.withLock { state throws(WireDecodingError) in
            let offset = state.logs[topic, default: []].count
            let record = WireRecord(topic: topic.name, offset: Int64(offset), key: key, value: value, headers: headers)
            state.logs[topic, default: []].append(try InboundMessage(parsing: record, on: topic))
            for index in state.readers.indices where state.readers[index].active && state.readers[index].topics.contains(topic) {
                state.deliverPending(to: index, on: topic)
            }
        }
    }

    fileprivate func store(_ data: Data, key: String, in topic: Topic, signer: MessageGuard?) throws {
        let record = WireRecord(topic: topic.name, key: Data(key.utf8), value: data, headers: signer?.sign(data, topic: topic.name, key: Data(key.utf8)) ?? [])
        try state.withLock { state in
            if let reason = state.refusesPublishing { throw InMemoryBusError(description: reason) }
            state.stored[topic, default: [:]][key] = record
        }
    }

    /// Writes `value` under `key` in a state topic as anyone with write access could: signed
    /// with `key` if given, else unsigned.
    public func storeRaw(_ value: String, key: String, in topic: Topic, signedWith signingKey: SigningKey? = nil) {
        let data = Data(value.utf8)
        var headers: [WireHeader] = []
        if let signingKey { headers = Self.signatureHeaders(data, topic: topic, key: Data(key.utf8), with: signingKey) }
        state.withLock { $0.stored[topic, default: [:]][key] = WireRecord(topic: topic.name, key: Data(key.utf8), value: data, headers: headers) }
    }

    /// From now on, reading a state topic fails with `reason` (nil: works again).
    public func refuseStateReads(_ reason: String?) {
        state.withLock { $0.refusesStateReads = reason }
    }

    fileprivate func storedRecords(in topic: Topic) throws -> [String: WireRecord] {
        try state.withLock { state in
            if let reason = state.refusesStateReads { throw InMemoryBusError(description: reason) }
            return state.stored[topic] ?? [:]
        }
    }

    /// Marks `message` handled; the group's position moves to the first message still being
    /// handled (handling may finish out of order), as a Kafka endpoint's does.
    fileprivate func commit(_ message: InboundMessage, reader id: UUID) {
        state.withLock { state in
            guard let index = state.readers.firstIndex(where: { $0.id == id }), state.readers[index].active,
                  let group = state.readers[index].group else { return }
            let topic = message.topic
            state.readers[index].outstanding[topic]?.remove(Int(message.record.offset))
            let position = state.readers[index].outstanding[topic]?.min() ?? state.readers[index].cursor[topic] ?? 0
            state.committed[group, default: [:]][topic] = max(state.committed[group]?[topic] ?? 0, position)
        }
    }

    fileprivate func disconnect(_ id: UUID) {
        state.withLock { state in
            guard let index = state.readers.firstIndex(where: { $0.id == id }) else { return }
            let reader = state.readers.remove(at: index)
            reader.messages.finish()
            reader.assignment.yield(false)
            reader.assignment.finish()
            if let group = reader.group, reader.active { state.activateGroup(group) }
        }
    }

    /// One endpoint on the bus.
    public final class Endpoint: MessageBus {
        public let name: String
        let id: UUID
        let bus: InMemoryBus
        private let messages: AsyncStream<InboundMessage>
        private let assignment: AsyncStream<Bool>
        /// Signs and verifies, as a Kafka endpoint's does; nil for an unsigned endpoint.
        private let messageGuard: MessageGuard?
        private let signingAs: (@Sendable (Topic, String?, String) -> SigningKey)?

        fileprivate init(name: String, id: UUID, bus: InMemoryBus, messages: AsyncStream<InboundMessage>, assignment: AsyncStream<Bool>,
                         messageGuard: MessageGuard?, signingAs: (@Sendable (Topic, String?, String) -> SigningKey)?) {
            self.signingAs = signingAs
            self.name = name
            self.id = id
            self.bus = bus
            self.messages = messages
            self.assignment = assignment
            self.messageGuard = messageGuard
        }

        public func publish<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?, replyTo: Topic?) async throws {
            try bus.publish(event, to: topic, target: target, sender: name, replyTo: replyTo, signer: messageGuard, signingAs: signingAs)
        }

        public func enqueue<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?, sender: String?) {
            try? bus.publish(event, to: topic, target: target, sender: sender ?? name, signer: messageGuard, signingAs: signingAs)
        }

        public func store<Value: Encodable & Sendable>(_ value: Value, key: String, in topic: Topic) async throws {
            try bus.store(try ZeekJSON.encode(value), key: key, in: topic, signer: messageGuard)
        }

        public func storedValues(in topic: Topic) async throws -> [String: Data] {
            MessageGuard.latestValues(of: try bus.storedRecords(in: topic).values, on: topic, admittedBy: messageGuard)
        }

        /// What is addressed to this endpoint and, on a signed endpoint, passes ``MessageGuard``;
        /// what does not is marked handled unread, as the Kafka endpoint does.
        public var inbound: InboundMessages {
            InboundMessages { [messages, messageGuard, bus, id] in
                var iterator = messages.makeAsyncIterator()
                return {
                    while let message = await iterator.next() {
                        guard let messageGuard else { return message }
                        switch messageGuard.admit(message) {
                        case .success(let admitted):
                            return admitted
                        case .failure:
                            bus.commit(message, reader: id)
                        }
                    }
                    return nil
                }
            }
        }

        public var assignmentChanges: BusSequence<Bool> {
            BusSequence { [assignment] in
                var iterator = assignment.makeAsyncIterator()
                return { await iterator.next() }
            }
        }

        public func handled(_ message: InboundMessage) {
            bus.commit(message, reader: id)
        }

        /// Leaves the bus: reading ends, and a standby of the same group takes over.
        public func shutdown() {
            bus.disconnect(id)
        }
    }
}

/// Publishing failed on purpose (``InMemoryBus/refusePublishing(_:)``).
public struct InMemoryBusError: Error, CustomStringConvertible {
    public var description: String
}
