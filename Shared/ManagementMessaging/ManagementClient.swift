#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KafkaTransport
import Logging

/// An endpoint that asks and waits: publishes requests and hands back the response with the
/// same `reqid`. What an operator's client (and a benchmark) is to the controller.
///
/// It reads its topics from their current end without a consumer group, so it is ready in
/// milliseconds and leaves nothing behind; every other message it sees goes to `observer`
/// (progress displays, monitors).
public final class ManagementClient: Sendable {
    public let endpoint: ManagementEndpoint
    private let pending = PendingResponses<InboundMessage>()
    private let reader: Task<Void, Never>

    /// - Parameters:
    ///   - name: the client's name: responses come back with it as their target.
    ///   - topics: where responses (and anything observed) arrive.
    public static func connect(
        name: String, kafka: KafkaConfiguration, namespace: TopicNamespace, topics: [Topic], logger: Logger,
        observer: (@Sendable (InboundMessage) -> Void)? = nil
    ) async throws -> ManagementClient {
        let endpoint = try await ManagementEndpoint.connect(EndpointConfiguration(
            name: name, kafka: kafka, namespace: namespace, consumes: topics,
            membership: .fromEnd, addressing: .targets([name], orUntargeted: observer != nil)
        ), logger: logger)
        return ManagementClient(endpoint: endpoint, observer: observer)
    }

    private init(endpoint: ManagementEndpoint, observer: (@Sendable (InboundMessage) -> Void)?) {
        self.endpoint = endpoint
        let pending = self.pending
        reader = Task {
            for await message in endpoint.inbound {
                if message.head.target == endpoint.name, message.event.hasSuffix("_response"), let reqid = message.reqid,
                   await pending.deliver(message, for: reqid) {
                    continue
                }
                observer?(message)
            }
        }
    }

    /// Publishes `request` on `topic` and returns its response, or throws ``RequestTimeout``.
    public func request<Response: ManagementEvent>(
        _ request: some ManagementRequest, on topic: Topic, target: String?, expecting: Response.Type, timeout: Duration
    ) async throws -> Response {
        await pending.register(request.reqid)
        try await endpoint.publish(request, to: topic, target: target)
        return try await pending.response(for: request.reqid, timeout: timeout).decode(Response.self).event
    }

    public func close() async {
        await endpoint.shutdown()
        await reader.value
    }
}
