#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import Synchronization

/// A test's own endpoint on an ``InMemoryBus``: sends requests as a client, a controller or
/// an agent would, and records everything it reads so a test can wait for an event.
///
/// Its waits are bounded by real time (a safety net, so a failing test ends rather than hangs;
/// generous, so a busy machine does not fail a passing one), whatever clock the services under
/// test run on.
public final class BusProbe: Sendable {
    public let endpoint: InMemoryBus.Endpoint
    private let requester: Requester
    private let seen = Seen()
    private let changes = ChangeSignal()
    private let reader: Task<Void, Never>

    /// - Parameters:
    ///   - name: the probe's endpoint name: responses come back with it as their target.
    ///   - topics: what it reads, from the current end, whoever it is addressed to.
    public init(_ bus: InMemoryBus, name: String, topics: [Topic]) {
        let identities = TestIdentities.shared
        endpoint = bus.connect(name, consumes: topics, membership: .fromEnd, addressing: .everything,
                               security: identities.security(TrustPolicy.observer, key: identities.deployer),
                               signingAs: { identities.key(forWritingTo: $0, target: $1, sender: $2) })
        let requester = Requester(bus: endpoint)
        self.requester = requester
        let (endpoint, seen, changes) = (endpoint, seen, changes)
        reader = Task {
            for await message in endpoint.inbound {
                if message.head.target == endpoint.name { requester.deliver(message) }
                seen.messages.withLock { $0.append(message) }
                changes.signal()
            }
        }
    }

    deinit {
        reader.cancel()
    }

    /// Publishes `request` to `target` and returns its response.
    public func request<Request: ManagementRequest>(
        _ request: Request, on topic: Topic, target: String?, timeout: Duration = .seconds(30)
    ) async throws(RequestFailure) -> Request.Response {
        try await requester.request(request, on: topic, target: target, until: .now + timeout)
    }

    /// Publishes `request` and returns the task awaiting its response, for tests that must act
    /// (advance a clock, stop a service) while it waits.
    public func send<Request: ManagementRequest>(
        _ request: Request, on topic: Topic, target: String?, timeout: Duration = .seconds(30)
    ) -> Task<Request.Response, any Error> {
        let requester = self.requester
        requester.expect(request.reqid)
        return Task {
            try await self.endpoint.publish(request, to: topic, target: target)
            return try await requester.response(to: request.reqid, until: .now + timeout).decode(Request.Response.self).event
        }
    }

    /// Every message read so far.
    public var messages: [InboundMessage] { seen.messages.withLock { $0 } }

    /// The decoded `Event`s read so far, oldest first.
    public func events<Event: ManagementEvent>(_ type: Event.Type) -> [Envelope<Event>] {
        messages.filter { $0.event == Event.eventName }.compactMap { try? $0.decode(Event.self) }
    }

    /// Waits until an `Event` matching `condition` was read (also one read earlier) and
    /// returns it; nil after `timeout`.
    public func first<Event: ManagementEvent>(
        _ type: Event.Type, timeout: Duration = .seconds(30), where condition: @escaping (Envelope<Event>) -> Bool = { _ in true }
    ) async -> Envelope<Event>? {
        var match: Envelope<Event>?
        _ = await changes.wait(until: .now + timeout) {
            match = events(type).first(where: condition)
            return match != nil
        }
        return match
    }

    /// Waits until `condition` holds for what was read; false after `timeout`.
    public func wait(timeout: Duration = .seconds(30), until condition: @escaping ([InboundMessage]) -> Bool) async -> Bool {
        await changes.wait(until: .now + timeout) { condition(messages) }
    }
}

/// The messages a probe read.
private final class Seen: Sendable {
    let messages = Mutex<[InboundMessage]>([])
}
