import ArgumentParser
import KafkaTransport
import Logging

/// Measurements of the project against the floor of doing the same thing directly.
@main
struct Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark",
        abstract: "Latency of the project's transport and supervision against their physical floors.",
        subcommands: [TransportCommand.self, SupervisionCommand.self],
        defaultSubcommand: TransportCommand.self
    )
}

/// Logs warnings and worse to stderr, and refuses an unusable librdkafka.
func bootstrapBenchmark() -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = .warning
        return handler
    }
    return Logger(label: "benchmark")
}
