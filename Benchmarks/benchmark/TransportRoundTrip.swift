import Foundation
import KafkaTransport
import Logging
import ManagementKafka
import ManagementMessaging

/// A request/response round trip through the project's own stack: envelopes, addressing,
/// `ManagementEndpoint`, `PendingResponses`, the Swift producer and consumer. Request and
/// response share one topic, as they do on every API topic of the contract.
struct TransportRoundTrip {
    struct Ping: ManagementEvent {
        static let eventName = "Benchmark::ping_request"
        var reqid: String
    }

    struct Pong: ManagementEvent {
        static let eventName = "Benchmark::ping_response"
        var reqid: String
    }

    let configuration: KafkaConfiguration
    let namespace: TopicNamespace
    let topic: Topic
    let logger: Logger

    func measure(rounds: Int, warmup: Int) async throws -> [Duration] {
        let responder = try await ManagementEndpoint.connect(endpoint("responder", acceptsUntargeted: true), logger: logger)
        let requester = try await ManagementEndpoint.connect(endpoint("requester", acceptsUntargeted: false), logger: logger)
        let pending = PendingResponses<InboundMessage>()
        let topic = self.topic

        let tasks = [
            Task { [logger] in
                for await message in responder.inbound where message.event == Ping.eventName {
                    do {
                        let ping = try message.decode(Ping.self)
                        try await responder.publish(Pong(reqid: ping.event.reqid), to: topic, target: ping.sender)
                    } catch {
                        logger.error("responder: \(error)")
                    }
                }
            },
            Task { [logger] in
                for await message in requester.inbound where message.event == Pong.eventName {
                    do {
                        let pong = try message.decode(Pong.self)
                        pending.deliver(message, for: pong.event.reqid)
                    } catch {
                        logger.error("requester: \(error)")
                    }
                }
            },
        ]

        var samples: [Duration] = []
        let clock = ContinuousClock()
        for round in 0..<(warmup + rounds) {
            let reqid = UUID().uuidString
            let start = clock.now
            pending.register(reqid)
            async let delivered = requester.publish(Ping(reqid: reqid), to: topic, target: "responder")
            _ = try await pending.response(for: reqid, until: .now + .seconds(10))
            let elapsed = clock.now - start
            _ = try await delivered
            if round >= warmup { samples.append(elapsed) }
        }
        await requester.shutdown()
        await responder.shutdown()
        for task in tasks { await task.value }
        return samples
    }

    private func endpoint(_ name: String, acceptsUntargeted: Bool) -> EndpointConfiguration {
        EndpointConfiguration(
            name: name,
            kafka: configuration,
            namespace: namespace,
            consumes: [topic.whole],
            membership: .fromEnd,
            addressing: .targets([name], orUntargeted: acceptsUntargeted),
            // The transport's own round trip, under the services: nothing to sign.
            security: .unsignedInsecure
        )
    }
}
