import ArgumentParser
import Foundation
import KafkaTransport
import LocalServers
import Logging
import ManagementKafka
import ManagementMessaging

/// Measures request/response round trips through the project's transport against a bare
/// librdkafka ping-pong on the same broker in the same run, and prints their ratio.
struct TransportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transport",
        abstract: "Round-trip latency: project transport vs. bare librdkafka, same broker, same run."
    )

    @OptionGroup var broker: BrokerOption

    @Option(name: .customLong("kafka-option"), help: "A librdkafka property applied to both variants, e.g. fetch.wait.max.ms=5 (repeatable).")
    var kafkaOptions: [String] = []

    enum Variant: String, ExpressibleByArgument, Hashable {
        case bare, transport
    }

    @Option(help: "Run only one variant (bare or transport), e.g. to isolate a broker problem.")
    var only: Variant?

    @Option(help: "Measured round trips per block.")
    var rounds: Int = 200

    @Option(help: "Blocks; each runs both variants, alternating which goes first.")
    var blocks: Int = 6

    @Option(help: "Unmeasured round trips before each block.")
    var warmup: Int = 20

    func run() async throws {
        let logger = bootstrapBenchmark()
        let overrides = try KafkaConfiguration.parseOverrides(kafkaOptions)
        print("librdkafka \(LibrdkafkaVersion.loaded); \(blocks) blocks of \(rounds) round trips (+\(warmup) warm-up) per variant")
        print(broker.brokers.map { "broker: \($0), a fresh topic per run" } ?? "broker: a fresh local broker per run")

        var bareSamples: [Duration] = []
        var transportSamples: [Duration] = []
        for block in 1...blocks {
            var blockSamples: [Variant: [Duration]] = [:]
            // Alternate which variant goes first, so neither is always measured second.
            for variant in block.isMultiple(of: 2) ? [Variant.transport, .bare] : [.bare, .transport] where only == nil || only == variant {
                blockSamples[variant] = try await measure(variant, overrides: overrides, logger: logger)
            }
            bareSamples += blockSamples[.bare] ?? []
            transportSamples += blockSamples[.transport] ?? []
            print("block \(block)/\(blocks): bare p50 \(format(percentile(blockSamples[.bare] ?? [], 0.5))), transport p50 \(format(percentile(blockSamples[.transport] ?? [], 0.5)))")
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

extension TransportCommand {
    /// One run of one variant on a topic of its own — and, unless `--brokers` is given, on a
    /// broker of its own: the in-memory test broker slows down as it accumulates records, which
    /// would otherwise penalise whichever variant runs later.
    func measure(_ variant: Variant, overrides: [String: String], logger: Logger) async throws -> [Duration] {
        try await broker.withBroker { servers in
            try await measure(variant, servers: servers, overrides: overrides, logger: logger)
        }
    }

    private func measure(_ variant: Variant, servers: String, overrides: [String: String], logger: Logger) async throws -> [Duration] {
        let configuration = KafkaConfiguration(
            bootstrapServers: servers.split(separator: ",").map(String.init),
            clientID: "benchmark",
            overrides: LocalBroker.clientOptions.merging(overrides) { $1 }
        )
        let namespace = TopicNamespace(prefix: "bench-\(UUID().uuidString.prefix(8).lowercased()).")
        let topic = Topic.controllerAPI
        try await KafkaAdmin(configuration: configuration, logger: logger).ensureTopics([namespace.specification(topic)])
        let rounds = self.rounds, warmup = self.warmup
        switch variant {
        case .bare:
            let bare = BareFloor(configuration: configuration, topic: namespace.kafkaName(topic))
            return try await Task.detached { try bare.measure(rounds: rounds, warmup: warmup) }.value
        case .transport:
            return try await TransportRoundTrip(configuration: configuration, namespace: namespace, topic: topic, logger: logger)
                .measure(rounds: rounds, warmup: warmup)
        }
    }
}

func percentile(_ samples: [Duration], _ fraction: Double) -> Duration {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return .zero }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * fraction).rounded()))]
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func format(_ duration: Duration) -> String {
    String(format: "%.3f ms", seconds(duration) * 1000)
}

func pad(_ text: String) -> String {
    String(repeating: " ", count: max(0, 10 - text.count)) + text
}
