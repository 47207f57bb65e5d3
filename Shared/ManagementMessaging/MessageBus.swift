#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What the controller, the agent and the supervisor need from the bus: publish events, read
/// those addressed to them, keep state in a compacted topic, and learn whether their group
/// made them the active reader.
///
/// `ManagementEndpoint` (in `ManagementKafka`) is the implementation over Kafka; an in-memory one (in the
/// `ManagementTesting` target) runs the same service code in one process, in milliseconds,
/// for tests and benchmarks.
public protocol MessageBus: Sendable {
    /// The endpoint's name, sent as `sender`.
    var name: String { get }

    /// Publishes `event` on `topic` and waits until the bus stored it. A request with
    /// `replyTo` asks to be answered there (``Topic/replies``) instead of on `topic`.
    func publish<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?, replyTo: Topic?) async throws

    /// Publishes `event` at once, in order with everything else enqueued from the same task or
    /// actor, without waiting for an acknowledgement; a failed delivery is logged.
    ///
    /// `sender` names another endpoint this one speaks for (a relay publishing for the Zeek
    /// nodes of its host); nil for the endpoint's own name.
    func enqueue<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?, sender: String?)

    /// Stores `value` (as its JSON) under `key` in a compacted state topic and waits until the
    /// bus kept it.
    func store<Value: Encodable & Sendable>(_ value: Value, key: String, in topic: Topic) async throws

    /// The latest value of every key of a compacted state topic (an empty value is a deletion).
    func storedValues(in topic: Topic) async throws -> [String: Data]

    /// Envelopes addressed to this endpoint, in arrival order. Ends when the endpoint shuts down.
    var inbound: InboundMessages { get }

    /// Whether the endpoint reads its topics, at every rebalance of its group, the first once
    /// the group took the member in (false for a member that stands by): a group member that
    /// may stand by is the active one while this is true.
    var assignmentChanges: BusSequence<Bool> { get }

    /// Marks a message handled, so the endpoint's group resumes after it.
    func handled(_ message: InboundMessage)
}

extension MessageBus {
    public func publish<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String?) async throws {
        try await publish(event, to: topic, target: target, replyTo: nil)
    }

    public func publish<Event: ManagementEvent>(_ event: Event, to topic: Topic) async throws {
        try await publish(event, to: topic, target: nil)
    }

    public func enqueue<Event: ManagementEvent>(_ event: Event, to topic: Topic, target: String? = nil) {
        enqueue(event, to: topic, target: target, sender: nil)
    }
}

/// A stream of a bus's events (its messages, its assignment), whatever bus they come from,
/// without buffering of its own: each `next()` asks the bus.
public struct BusSequence<Element: Sendable>: AsyncSequence, Sendable {
    public typealias Failure = Never

    private let makeNext: @Sendable () -> () async -> Element?

    /// - Parameter makeNext: called once per iteration; returns the function that gives the
    ///   next element, or nil at the end.
    public init(_ makeNext: @escaping @Sendable () -> () async -> Element?) {
        self.makeNext = makeNext
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextElement: () async -> Element?

        public mutating func next() async -> Element? {
            await nextElement()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(nextElement: makeNext())
    }
}

/// The envelopes addressed to an endpoint, in arrival order.
public typealias InboundMessages = BusSequence<InboundMessage>

/// A long-running part of a service that works on a bus: the controller, an agent, a
/// supervisor. The executables run it on a Kafka endpoint (`ManagementEndpoint`) inside a
/// ServiceGroup; tests run it on an in-memory bus.
///
/// `run(on:)` returns when the task is cancelled or the service is shut down gracefully,
/// after it stopped what it started.
public protocol BusService: Sendable {
    func run(on bus: any MessageBus) async throws
}
