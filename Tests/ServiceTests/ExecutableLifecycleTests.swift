import Foundation
import LocalServers
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Every executable, run as a real process against a real broker: starts, reports ready,
/// and exits 0 on SIGTERM (and SIGINT), having left Kafka cleanly.
@Suite("Executables", .timeLimit(.minutes(3)))
struct ExecutableLifecycleTests {
    struct Executable: Sendable, CustomTestStringConvertible {
        var name: String
        var arguments: [String]
        var readyLine: String
        var testDescription: String { name }
    }

    static let executables = [
        Executable(name: "controller-service", arguments: [], readyLine: "controller-service ready"),
        Executable(name: "agent-service", arguments: ["--instance", "agent-test"], readyLine: "agent-service ready"),
        Executable(name: "supervisor-service", arguments: ["--instance", "agent-test", "--base-dir", NSTemporaryDirectory() + "lifecycle-nodes"], readyLine: "supervisor-service ready"),
        Executable(name: "cluster-node", arguments: ["--node", "worker-1", "--instance", "agent-test"], readyLine: "cluster-node ready"),
        Executable(name: "zeek-mgmt", arguments: ["monitor", "--log-level", "info"], readyLine: "zeek-mgmt monitor ready"),
    ]

    @Test("starts, reports ready, exits 0 on SIGTERM", arguments: executables)
    func startsAndStops(_ executable: Executable) async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let service = try ServiceProcess(executable.name, arguments: executable.arguments + ["--brokers", broker.address])
        try await service.waitForOutput(executable.readyLine)
        #expect(try await service.stop(signal: SIGTERM) == 0)
        #expect(service.text.contains("stopped"), "logs a clean shutdown: \(service.text)")
    }

    @Test func commonFlagsComeFromTheEnvironment() async throws {
        let broker = try await LocalBroker.start()
        defer { broker.stop() }
        let service = try ServiceProcess("agent-service", arguments: [], environment: [
            "ZEEK_MGMT_BROKERS": broker.address,
            "ZEEK_MGMT_TOPIC_PREFIX": "site-a.",
            "ZEEK_MGMT_INSTANCE": "agent-env",
            "ZEEK_MGMT_LOG_LEVEL": "debug",
        ])
        try await service.waitForOutput("agent-service ready")
        #expect(service.text.contains("consumes=site-a.Management.Agent.API[partition of agent-env]"))
        #expect(service.text.contains("name=agent-env"))
        #expect(service.text.contains("debug"), "debug level lines appear")
        #expect(try await service.stop(signal: SIGINT) == 0)
    }

    @Test func waitsForAnUnreachableBrokerAndStillStopsCleanly() async throws {
        let port = try freeLoopbackPort()
        let service = try ServiceProcess("controller-service", arguments: ["--brokers", "127.0.0.1:\(port)"])
        try await service.waitForOutput("cannot connect to Kafka at 127.0.0.1:\(port) (attempt 1)")
        #expect(service.text.contains("Check --brokers and that the broker is running"))
        #expect(try await service.stop(signal: SIGTERM) == 0)
    }

    @Test func connectsOnceTheBrokerComesUp() async throws {
        let port = try freeLoopbackPort()
        let service = try ServiceProcess("supervisor-service", arguments: ["--brokers", "127.0.0.1:\(port)", "--instance", "late", "--base-dir", NSTemporaryDirectory() + "lifecycle-nodes"])
        try await service.waitForOutput("(attempt 1)")
        let broker = try await LocalBroker.start(port: port)
        defer { broker.stop() }
        try await service.waitForOutput("supervisor-service ready")
        #expect(try await service.stop() == 0)
    }

    @Test func kafkaOptionsFromTheEnvironmentAreValidatedToo() async throws {
        let service = try ServiceProcess("controller-service", arguments: [], environment: ["ZEEK_MGMT_KAFKA_OPTIONS": "socket.timeout.ms=10000\nno.such.property=1"])
        #expect(try await service.waitForExit() != 0)
        #expect(service.text.contains("no.such.property=1 rejected"), "output: \(service.text)")
    }

    @Test func kafkaOptionsFileIsReadAndFlagsWin() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-\(UUID().uuidString).properties")
        defer { try? FileManager.default.removeItem(at: file) }
        try "# mounted from a secret\n\nsocket.timeout.ms = 10000\nsasl.kerberos.no.such.key = 1\n".write(to: file, atomically: true, encoding: .utf8)
        let service = try ServiceProcess("controller-service", arguments: ["--kafka-options-file", file.path])
        #expect(try await service.waitForExit() != 0)
        #expect(service.text.contains("sasl.kerberos.no.such.key=1 rejected"), "the file's properties reach librdkafka: \(service.text)")

        let missing = try ServiceProcess("controller-service", arguments: [], environment: ["ZEEK_MGMT_KAFKA_OPTIONS_FILE": "/nonexistent/kafka.properties"])
        #expect(try await missing.waitForExit() != 0)
        #expect(missing.text.contains("cannot read the Kafka options file /nonexistent/kafka.properties"))
    }

    @Test("rejects bad flags with a clear message", arguments: [
        (["--log-level", "loud"], "unknown log level \"loud\""),
        (["--brokers", "localhost"], "broker address \"localhost\" lacks a port"),
        (["--kafka-option", "novalue"], "is not of the form KEY=VALUE"),
        (["--kafka-option", "no.such.property=1"], "no.such.property=1 rejected"),
    ])
    func rejectsBadFlags(_ arguments: [String], _ message: String) async throws {
        let service = try ServiceProcess("controller-service", arguments: arguments)
        let status = try await service.waitForExit()
        #expect(status != 0)
        #expect(service.text.contains(message), "output: \(service.text)")
    }
}
