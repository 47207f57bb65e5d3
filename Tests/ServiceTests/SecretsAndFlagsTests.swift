import Foundation
import LocalServers
import Testing

/// The executables with hostile or secret settings; no broker is needed, since nothing here
/// gets as far as connecting.
@Suite("Secrets and flags", .timeLimit(.minutes(1)))
struct SecretsAndFlagsTests {
    @Test func showSettingsRedactsCredentials() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("settings-\(UUID().uuidString).ini")
        try """
            [kafka]
            security.protocol = SASL_SSL
            sasl.username = zeek
            sasl.password = hunter2
            ssl.key.pem = -----BEGIN PRIVATE KEY-----
            """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let shown = try await CLIResult.run(["show-settings", "-c", file.path, "--set", "kafka.sasl.oauthbearer.config=principal=x secret=s3cr3t"],
                                            brokers: "127.0.0.1:9")
        #expect(shown.status == 0, "\(shown.stderr)")
        for secret in ["hunter2", "PRIVATE KEY", "s3cr3t"] { #expect(!shown.stdout.contains(secret), "\(shown.stdout)") }
        #expect(shown.stdout.contains("sasl.password = [redacted]\n"))
        #expect(shown.stdout.contains("ssl.key.pem = [redacted]\n"))
        #expect(shown.stdout.contains("sasl.oauthbearer.config = [redacted]\n"))
        #expect(shown.stdout.contains("sasl.username = zeek\n") && shown.stdout.contains("security.protocol = SASL_SSL\n"), "the rest as it is")
    }

    /// A service given its Kafka login in an options file, as compose/make-kafka-users writes
    /// it, hands it to librdkafka, which connects with SASL over plaintext, and prints the
    /// password nowhere, not even at debug level, where the service's whole configuration is
    /// listed (no broker: nothing listens at the port, so librdkafka keeps trying).
    @Test func aSASLLoginFromTheOptionsFileReachesLibrdkafkaAndNoLog() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-\(UUID().uuidString).properties")
        try """
            # The Kafka login of controller-service (compose/make-kafka-users): SASL/SCRAM-SHA-512 as zeek-controller.
            security.protocol=SASL_PLAINTEXT
            sasl.mechanisms=SCRAM-SHA-512
            sasl.username=zeek-controller
            sasl.password=hunter2-of-the-controller

            """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let port = try freeLoopbackPort()
        let service = try ServiceProcess("controller-service", arguments: ["--brokers", "127.0.0.1:\(port)", "--log-level", "debug"],
                                         environment: ["ZEEK_MGMT_KAFKA_OPTIONS_FILE": file.path])
        try await service.waitForOutput("sasl_plaintext://127.0.0.1:\(port)")
        #expect(try await service.stop() == 0, "\(service.text)")
        #expect(service.text.contains("zeek-controller") && service.text.contains("[redacted]"), "the configuration is listed: \(service.text)")
        #expect(!service.text.contains("hunter2"), "\(service.text)")
    }

    /// A rejected librdkafka property stops the service with the reason, not with its value.
    @Test func aRejectedKafkaOptionIsReportedWithoutItsValue() async throws {
        let result = try await CLIResult.run(executable: ServiceProcess.binDirectory.appendingPathComponent("agent-service"),
                                             arguments: ["--instance", "agent-x", "--brokers", "127.0.0.1:9", "--kafka-option", "sasl.password hunter2"],
                                             timeout: .seconds(30))
        #expect(result.status != 0)
        #expect(!(result.stdout + result.stderr).contains("hunter2"), "\(result.stderr)")
    }

    /// Intervals are checked before they become Durations: 1e300 seconds used to trap.
    @Test("absurd intervals are refused with the flag's name", arguments: [
        ("agent-service", "--heartbeat", "1e300"), ("agent-service", "--request-timeout", "inf"),
        ("supervisor-service", "--kill-after", "1e300"), ("supervisor-service", "--stable-after", "-1"),
    ])
    func absurdIntervals(executable: String, flag: String, value: String) async throws {
        let result = try await CLIResult.run(executable: ServiceProcess.binDirectory.appendingPathComponent(executable),
                                             arguments: ["--instance", "agent-x", "--brokers", "127.0.0.1:9", "\(flag)=\(value)"], timeout: .seconds(30))
        #expect(result.status == 64, "a usage error, not a crash: \(result.status) \(result.stderr)")
        #expect(result.stderr.contains("\(flag) must be a"), "\(result.stderr)")
    }
}
