import ArgumentParser
import Foundation
import KafkaTransport
import LocalBroker
import Logging
import ManagementMessaging

/// Measures request/response round trips through the project's transport against a bare
/// librdkafka ping-pong on the same broker in the same run, and prints their ratio.
@main
struct TransportBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport-benchmark",
        abstract: "Round-trip latency: project transport vs. bare librdkafka, same broker, same run."
    )

    @Option(help: "Kafka bootstrap servers; without it a local broker is started on a free port.")
    var brokers: String?

    @Option(name: .customLong("kafka-option"), help: "A librdkafka property applied to both variants, e.g. fetch.wait.max.ms=5 (repeatable).")
    var kafkaOptions: [String] = []

    enum Variant: String, ExpressibleByArgument {
        case bare, transport
    }

    @Option(help: "Run only one variant (bare or transport), e.g. to isolate a broker problem.")
    var only: Variant?

    @Option(help: "Measured round trips per block.")
    var rounds: Int = 200

    @Option(help: "Blocks; each block runs both variants, alternating, to cancel out drift.")
    var blocks: Int = 5

    @Option(help: "Unmeasured round trips before each block.")
    var warmup: Int = 20

    func run() async throws {
        try LibrdkafkaVersion.requireSupported()
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .warning
            return handler
        }
        let logger = Logger(label: "transport-benchmark")
        var broker: LocalBroker?
        if brokers == nil {
            broker = try await LocalBroker.start()
            print("started local broker on \(broker!.address)")
        }
        defer { broker?.stop() }
        let servers = brokers ?? broker!.address
        let configuration = KafkaConfiguration(
            bootstrapServers: servers.split(separator: ",").map(String.init),
            clientID: "transport-benchmark",
            overrides: try KafkaConfiguration.parseOverrides(kafkaOptions)
        )
        let namespace = TopicNamespace(prefix: "bench-\(UUID().uuidString.prefix(8).lowercased()).")
        let topic = Topic.controllerAPI
        try await KafkaAdmin(configuration: configuration, logger: logger).ensureTopics([namespace.specification(topic)])

        let bare = BareFloor(configuration: configuration, topic: namespace.kafkaName(topic))
        let transport = TransportRoundTrip(configuration: configuration, namespace: namespace, topic: topic, logger: logger)
        print("librdkafka \(LibrdkafkaVersion.loaded); \(blocks) blocks of \(rounds) round trips (+\(warmup) warm-up) each")

        var bareSamples: [Duration] = []
        var transportSamples: [Duration] = []
        for block in 1...blocks {
            let rounds = self.rounds, warmup = self.warmup
            if only != .bare {
                transportSamples += try await transport.measure(rounds: rounds, warmup: warmup)
            }
            if only != .transport {
                bareSamples += try await Task.detached { try bare.measure(rounds: rounds, warmup: warmup) }.value
            }
            print("block \(block)/\(blocks): bare p50 \(format(percentile(bareSamples, 0.5))), transport p50 \(format(percentile(transportSamples, 0.5)))")
        }

        let bareP50 = percentile(bareSamples, 0.5), bareP99 = percentile(bareSamples, 0.99)
        let transportP50 = percentile(transportSamples, 0.5), transportP99 = percentile(transportSamples, 0.99)
        print("")
        print("round trip              p50         p99      samples")
        print("bare librdkafka    \(pad(format(bareP50)))  \(pad(format(bareP99)))  \(bareSamples.count)")
        print("project transport  \(pad(format(transportP50)))  \(pad(format(transportP99)))  \(transportSamples.count)")
        print(String(format: "ratio p50 %.2fx   p99 %.2fx   (transport / bare)", seconds(transportP50) / seconds(bareP50), seconds(transportP99) / seconds(bareP99)))
    }
}

private func percentile(_ samples: [Duration], _ fraction: Double) -> Duration {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return .zero }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
}

private func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

private func format(_ duration: Duration) -> String {
    String(format: "%.3f ms", seconds(duration) * 1000)
}

private func pad(_ text: String) -> String {
    String(repeating: " ", count: max(0, 10 - text.count)) + text
}
