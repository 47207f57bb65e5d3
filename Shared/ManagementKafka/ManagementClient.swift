#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KafkaTransport
import ManagementMessaging
import ManagementTypes
import Logging

/// An endpoint that asks and waits: publishes requests and hands back the response with the
/// same `reqid`. What an operator's client (and a benchmark) is to the controller.
///
/// It reads its topics from their current end without a consumer group, so it is ready in
/// milliseconds and leaves nothing behind; every other message it sees goes to `observer`
/// (progress displays, monitors).
public final class ManagementClient: Sendable {
    public let endpoint: ManagementEndpoint
    private let requester: Requester
    /// Reads the client's topics for as long as the connection is open (ended by ``close()``).
    private let reader: Task<Void, Never>

    /// - Parameters:
    ///   - name: the client's name: responses come back with it as their target.
    ///   - topics: where responses (and anything observed) arrive.
    public static func connect(
        name: String, kafka: KafkaConfiguration, namespace: TopicNamespace, topics: [Topic], security: MessageSecurity, logger: Logger,
        observer: (@Sendable (InboundMessage) -> Void)? = nil, unreachableAfter: Duration? = .milliseconds(500)
    ) async throws -> ManagementClient {
        let endpoint = try await ManagementEndpoint.connect(EndpointConfiguration(
            name: name, kafka: kafka, namespace: namespace, consumes: topics.map(\.whole),
            membership: .fromEnd, addressing: .targets([name], orUntargeted: observer != nil), security: security,
            unreachableAfter: unreachableAfter
        ), logger: logger)
        return ManagementClient(endpoint: endpoint, observer: observer)
    }

    private init(endpoint: ManagementEndpoint, observer: (@Sendable (InboundMessage) -> Void)?) {
        self.endpoint = endpoint
        let requester = Requester(bus: endpoint)
        self.requester = requester
        reader = Task {
            for await message in endpoint.inbound {
                if message.head.target == endpoint.name, requester.deliver(message) { continue }
                observer?(message)
            }
        }
    }

    /// Publishes `request` on `topic` and returns its response, or throws the
    /// ``RequestFailure`` that says why there is none within `timeout`.
    public func request<Request: ManagementRequest>(
        _ request: Request, on topic: Topic, target: String?, timeout: Duration
    ) async throws(RequestFailure) -> Request.Response {
        try await requester.request(request, on: topic, target: target, until: requester.clock.now + timeout)
    }

    public func close() async {
        await endpoint.shutdown()
        await reader.value
    }
}
