@_exported import LocalPorts
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A throwaway Kafka-compatible broker (Tansu, in-memory) on a free loopback port, started
/// through `scripts/broker run` so there is one place that knows how to launch it.
///
/// Used by the tests (one broker each, so they never share state) and the benchmark.
public final class LocalBroker: Sendable {
    /// The port the broker listens on.
    public let port: Int
    /// The address clients bootstrap from, which the broker also advertises in its metadata:
    /// its own, or that of a proxy in front of it (a TLS terminator).
    public let address: String
    private let process: Process

    /// The broker's process id, for measuring what it costs.
    public var processIdentifier: Int32 { process.processIdentifier }
    private let logURL: URL

    /// librdkafka options every client of this broker should use.
    ///
    /// The services' default `fetch.wait.max.ms` (500) suits Apache Kafka, which answers a held
    /// fetch as soon as a record arrives. This broker re-checks for records at halving
    /// intervals of the wait instead, so with 500 ms a record waits up to a quarter of a second
    /// for each idle reader: the demo, the tests and the benchmarks set 10 ms.
    public static let clientOptions: [String: String] = ["fetch.wait.max.ms": "10"]

    /// How long this broker holds the JoinGroup of a member rejoining a group that changed
    /// (a member died or left), given the group's session timeout.
    ///
    /// Tansu answers it only once half the session timeout has passed, re-checking once a
    /// second (its group coordinator, `administrator.rs`); Apache Kafka answers as soon as every
    /// remaining member has rejoined. So on this broker a standby takes over from a killed
    /// active member after the session timeout, one heartbeat and this hold; on Kafka, after the
    /// session timeout and one heartbeat.
    public static func groupJoinHold(sessionTimeout: Duration) -> Duration {
        let half = sessionTimeout / 2
        return .seconds(half.components.seconds + (half.components.attoseconds > 0 ? 1 : 0))
    }

    /// ``clientOptions`` as the environment of a service process (`ZEEK_MGMT_KAFKA_OPTIONS`).
    public static let serviceEnvironment: [String: String] = serviceEnvironment(clientOptions)

    /// Kafka client `options` as the environment of a service process (`ZEEK_MGMT_KAFKA_OPTIONS`).
    public static func serviceEnvironment(_ options: [String: String]) -> [String: String] {
        ["ZEEK_MGMT_KAFKA_OPTIONS": options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\n")]
    }

    /// The repository root, found from this file's location.
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// Starts a broker and returns once it accepts connections.
    ///
    /// - Parameter advertisedAddress: `HOST:PORT` the broker tells clients to connect to
    ///   (default: its own), e.g. a TLS terminator's that forwards to `port`.
    public static func start(port requestedPort: Int? = nil, advertisedAddress: String? = nil,
                             timeout: Duration = .seconds(20)) async throws -> LocalBroker {
        let port = try requestedPort ?? freeLoopbackPort()
        let address = advertisedAddress ?? "127.0.0.1:\(port)"
        let script = repositoryRoot.appendingPathComponent("scripts/broker")
        let runDirectory = repositoryRoot.appendingPathComponent(".run")
        try FileManager.default.createDirectory(at: runDirectory, withIntermediateDirectories: true)
        let logURL = runDirectory.appendingPathComponent("broker-\(port).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)

        let process = Process()
        process.executableURL = script
        process.arguments = ["run", String(port), address]
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        // Ended with this process, also when it is killed before it could stop the broker.
        process.environment = ProcessInfo.processInfo.environment.merging(["ZEEK_MGMT_BROKER_OWNER": "\(getpid())"]) { $1 }
        try process.run()
        let broker = LocalBroker(port: port, address: address, process: process, logURL: logURL)

        let deadline = ContinuousClock.now + timeout
        while !isAcceptingConnections(port: port) {
            guard process.isRunning else {
                let output = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
                throw LocalServerError("broker exited during start-up (run scripts/setup first?):\n\(output)")
            }
            guard ContinuousClock.now < deadline else {
                broker.stop()
                throw LocalServerError("broker did not accept connections on port \(port) within \(timeout); see \(logURL.path)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return broker
    }

    private init(port: Int, address: String, process: Process, logURL: URL) {
        self.port = port
        self.address = address
        self.process = process
        self.logURL = logURL
    }

    /// Stops the broker (SIGTERM, then SIGKILL), waits for it to exit and removes its log.
    /// Its data is gone.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        for _ in 0..<50 where process.isRunning { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitForExit()
        try? FileManager.default.removeItem(at: logURL)
    }

    deinit { stop() }
}

public struct LocalServerError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
