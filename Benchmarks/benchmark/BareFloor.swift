import CRdKafka
import Foundation
import KafkaTransport
import Synchronization

/// Request/response ping-pong written directly against librdkafka's C API: the physical floor
/// any transport on this broker can reach. Same topic layout and the same librdkafka
/// properties as the project's transport, so the ratio shows only what the Swift layers add.
struct BareFloor {
    let configuration: KafkaConfiguration
    let topic: String

    func measure(rounds: Int, warmup: Int) throws -> [Duration] {
        let responderProducer = try makeHandle(RD_KAFKA_PRODUCER, role: KafkaConfiguration.Tuning.producer)
        let responderConsumer = try makeHandle(RD_KAFKA_CONSUMER, role: KafkaConfiguration.Tuning.consumer + KafkaConfiguration.Tuning.standalone(groupID: "bare-responder-\(UUID())"))
        let requesterProducer = try makeHandle(RD_KAFKA_PRODUCER, role: KafkaConfiguration.Tuning.producer)
        let requesterConsumer = try makeHandle(RD_KAFKA_CONSUMER, role: KafkaConfiguration.Tuning.consumer + KafkaConfiguration.Tuning.standalone(groupID: "bare-requester-\(UUID())"))
        defer {
            for handle in [responderProducer, requesterProducer] { BareKafka.close(handle, isConsumer: false) }
            for handle in [responderConsumer, requesterConsumer] { BareKafka.close(handle, isConsumer: true) }
        }
        try BareKafka.assignAtEnd(responderConsumer, topic: topic)
        try BareKafka.assignAtEnd(requesterConsumer, topic: topic)

        // Responder: answers every "ping:<n>" with "pong:<n>".
        let stop = Atomic<Bool>(false)
        let responderHandles = ThreadSafeHandles(consumer: responderConsumer, producer: responderProducer)
        let responderFinished = DispatchSemaphore(value: 0)
        let responder = Thread { [topic] in
            defer { responderFinished.signal() }
            while !stop.load(ordering: .relaxed) {
                guard let text = BareKafka.poll(responderHandles.consumer, milliseconds: 50), text.hasPrefix("ping:") else { continue }
                BareKafka.produce(responderHandles.producer, topic: topic, payload: "pong:" + text.dropFirst(5))
            }
        }
        responder.start()
        defer {
            stop.store(true, ordering: .relaxed)
            responderFinished.wait()
        }

        var samples: [Duration] = []
        let clock = ContinuousClock()
        for round in 0..<(warmup + rounds) {
            let expected = "pong:\(round)"
            let start = clock.now
            BareKafka.produce(requesterProducer, topic: topic, payload: "ping:\(round)")
            let deadline = start + .seconds(10)
            while BareKafka.poll(requesterConsumer, milliseconds: 50) != expected {
                guard clock.now < deadline else { throw KafkaError(.timedOut, "bare ping-pong round \(round) got no answer") }
            }
            if round >= warmup { samples.append(clock.now - start) }
            _ = rd_kafka_poll(requesterProducer, 0)
        }
        return samples
    }

    private func makeHandle(_ type: rd_kafka_type_t, role: [(String, String)]) throws -> OpaquePointer {
        try BareKafka.handle(type, properties: configuration.properties(role: role))
    }
}

/// librdkafka handles may be used from any thread.
private struct ThreadSafeHandles: @unchecked Sendable {
    let consumer: OpaquePointer
    let producer: OpaquePointer
}
