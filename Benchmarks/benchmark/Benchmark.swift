import ArgumentParser
import Foundation
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import MessageSigning
import Synchronization
import KafkaTransport
import LocalServers
import Logging

/// Measurements of the project against the floor of doing the same thing directly.
@main
struct Benchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "benchmark",
        abstract: "Latency of the project's transport and supervision against their physical floors.",
        subcommands: [TransportCommand.self, SupervisionCommand.self, AgentCommand.self, ControllerCommand.self, FleetCommand.self, ZeekCommand.self, InProcessCommand.self, SigningCommand.self],
        defaultSubcommand: TransportCommand.self
    )
}

/// Logs warnings and worse to stderr (`ZEEK_MGMT_BENCHMARK_LOG_LEVEL` sets another level, for
/// the benchmark as for the services it starts), and refuses an unusable librdkafka.
func bootstrapBenchmark() -> Logger {
    let level = ProcessInfo.processInfo.environment["ZEEK_MGMT_BENCHMARK_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
    return Logger(label: "benchmark")
}

/// A line on stderr telling where a long measurement is.
func progress(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Where the project's executables are: beside this benchmark (`.build/release`).
let executableDirectory = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()

/// Starts one of the project's services against `servers`, logging only warnings (to the
/// benchmark's stderr) so its output cannot disturb the measurement; `ZEEK_MGMT_BENCHMARK_LOG_LEVEL`
/// sets another level, for looking into a failed run.
func launchService(_ name: String, _ arguments: [String], servers: String, kafkaOptions: [String: String] = LocalBroker.clientOptions) throws -> Process {
    let process = Process()
    process.executableURL = executableDirectory.appendingPathComponent(name)
    let level = ProcessInfo.processInfo.environment["ZEEK_MGMT_BENCHMARK_LOG_LEVEL"] ?? "warning"
    process.arguments = arguments + ["--brokers", servers, "--log-level", level]
    process.environment = ProcessInfo.processInfo.environment.merging(LocalBroker.serviceEnvironment(kafkaOptions)) { current, _ in current }
        .merging(BenchmarkSigning.environment(forExecutable: name, arguments: arguments)) { $1 }
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    return process
}

/// Whether the services a benchmark starts sign and verify every message (as deployed), or
/// run unsigned to measure what signing costs; set per phase by the benchmarks that compare.
enum BenchmarkSigning {
    private static let enabled = Mutex(true)

    static var isEnabled: Bool {
        get { enabled.withLock { $0 } }
        set { enabled.withLock { $0 = newValue } }
    }

    static func environment(forExecutable name: String, arguments: [String]) -> [String: String] {
        isEnabled ? LocalKeys.shared.environment(forExecutable: name, arguments: arguments) : ["ZEEK_MGMT_INSECURE_UNSIGNED": "1"]
    }

    /// How a benchmark's own endpoint signs: with the key at `keyPath` (of ``LocalKeys``) and
    /// believing what `policy` admits.
    static func security(_ policy: TrustPolicy, keyPath: String) throws -> MessageSecurity {
        guard isEnabled else { return .unsignedInsecure }
        return .signed(EndpointSecurity(key: try LocalKeys.shared.signingKey(keyPath), trust: try LocalKeys.shared.trustStore(), policy: policy))
    }
}

/// `--brokers`, or a local broker started for the measurement.
struct BrokerOption: ParsableArguments {
    @Option(help: "Kafka bootstrap servers; without it a local broker is started for each measurement.")
    var brokers: String?

    /// Runs `body` with bootstrap servers: the given ones, or a fresh local broker's, stopped after.
    func withBroker<T>(_ body: (String) async throws -> T) async throws -> T {
        try await withBroker { servers, _ in try await body(servers) }
    }

    /// Runs `body` with bootstrap servers and, for a local broker, its process id.
    func withBroker<T>(_ body: (String, Int32?) async throws -> T) async throws -> T {
        if let brokers { return try await body(brokers, nil) }
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        return try await body(broker.address, broker.processIdentifier)
    }
}

/// CPU time a process has used so far (user and system, from /proc; `nil`: this process).
func cpuTime(of pid: Int32?) -> Duration {
    guard let text = try? String(contentsOfFile: "/proc/\(pid.map(String.init) ?? "self")/stat", encoding: .utf8),
          let end = text.lastIndex(of: ")") else { return .zero }
    // Fields after the command's closing parenthesis: state is field 3, utime 14, stime 15.
    let fields = text[text.index(after: end)...].split(separator: " ")
    guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return .zero }
    return .milliseconds((user + system) * 1000 / Int(sysconf(Int32(_SC_CLK_TCK))))
}

/// A memory figure of a process from /proc (`status` VmRSS, `smaps_rollup` Pss), in bytes.
func memory(of pid: Int32, file: String, field: String) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/\(file)", encoding: .utf8),
          let line = text.split(separator: "\n").first(where: { $0.hasPrefix(field) }),
          let kilobytes = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return 0 }
    return kilobytes * 1024
}

/// The deploy operator's signature of `config` (nil when the benchmark runs unsigned), which
/// agents require of what they run.
func operatorSignature(_ config: Management.Configuration) throws -> SignedRecord? {
    guard BenchmarkSigning.isEnabled else { return nil }
    return try .stageRequest(for: config, signedWith: LocalKeys.shared.signingKey(LocalKeys.shared.deployer))
}
