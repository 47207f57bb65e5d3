import Foundation
import Testing

/// A shipped deployment file is secure as shipped: `scripts/check-published-ports` (run by
/// `scripts/check-deployment` on the resolved compose files) refuses a compose file that
/// publishes plaintext Kafka, the gateway without TLS, or anything else on every address.
@Suite("Published ports")
struct PublishedPortsTests {
    static let script = ComposeTopologyTests.root.appendingPathComponent("scripts/check-published-ports")

    static func check(_ yaml: String) async throws -> CLIResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("compose-\(UUID().uuidString).yml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try await CLIResult.run(executable: URL(fileURLWithPath: "/usr/bin/python3"), arguments: [script.path, file.path])
    }

    static let plaintextKafka = """
        services:
          kafka:
            environment:
              KAFKA_LISTENERS: PLAINTEXT://:9092,EXTERNAL://:29092
              KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT
            ports:
            - %PORT%
        """

    @Test func plaintextKafkaOnEveryAddressIsRefused() async throws {
        for port in ["29092:29092", "0.0.0.0:29092:29092/tcp", "{published: 29092, target: 29092}"] {
            let result = try await Self.check(Self.plaintextKafka.replacingOccurrences(of: "%PORT%", with: port))
            #expect(result.status == 1, "\(port): \(result.stderr)")
            #expect(result.stderr.contains("service kafka publishes port 29092 on every address without TLS: bind it to 127.0.0.1"), "\(result.stderr)")
        }
        for port in ["127.0.0.1:29092:29092", "{host_ip: 127.0.0.1, published: 29092, target: 29092}"] {
            let result = try await Self.check(Self.plaintextKafka.replacingOccurrences(of: "%PORT%", with: port))
            #expect(result.status == 0, "\(port): \(result.stderr)")
        }
        let tls = Self.plaintextKafka.replacingOccurrences(of: "EXTERNAL:PLAINTEXT", with: "EXTERNAL:SASL_SSL")
            .replacingOccurrences(of: "%PORT%", with: "29092:29092")
        #expect(try await Self.check(tls).status == 0, "a SASL_SSL listener may be published")
    }

    @Test func theGatewayOnEveryAddressNeedsTLSWithClientCertificates() async throws {
        let gateway = """
            services:
              controller:
                environment:
                  ZEEK_MGMT_WEBSOCKET: 0.0.0.0:2149
            %TLS%
                ports:
                - 2149:2149
            """
        let plaintext = try await Self.check(gateway.replacingOccurrences(of: "%TLS%\n", with: ""))
        #expect(plaintext.status == 1 && plaintext.stderr.contains("service controller publishes port 2149 on every address without TLS"), "\(plaintext.stderr)")
        let tls = try await Self.check(gateway.replacingOccurrences(of: "%TLS%", with: """
                  ZEEK_MGMT_WEBSOCKET_CERT: /run/secrets/cert
                  ZEEK_MGMT_WEBSOCKET_KEY: /run/secrets/key
                  ZEEK_MGMT_WEBSOCKET_CA: /run/secrets/ca
            """))
        #expect(tls.status == 0, "\(tls.stderr)")
    }

    /// The shipped compose files, as docker-compose resolves them, pass; so changed that Kafka
    /// (SCRAM logins, but no TLS) or the gateway without TLS is reachable on every address, or
    /// Kafka on the host's network, they do not.
    @Test func theShippedComposeFilesPassAndTheirExposedVariantsDoNot() async throws {
        let compose = ComposeTopologyTests.root.appendingPathComponent("compose")
        let bridge = try ComposeFile.resolve(compose.appendingPathComponent("docker-compose.yml")).resolved
        let host = try ComposeFile.resolve([compose.appendingPathComponent("docker-compose.yml"),
                                            compose.appendingPathComponent("docker-compose.host-network.yml")]).resolved
        for shipped in [bridge, host] {
            let result = try await Self.check(shipped)
            #expect(result.status == 0, "the shipped compose file: \(result.stderr)")
        }
        #expect(bridge.contains("- 127.0.0.1:29092:29092/tcp"), "Kafka's EXTERNAL listener, on the loopback: \(bridge)")
        for exposed in ["- 29092:29092/tcp", "- 0.0.0.0:29092:29092/tcp"] {
            let result = try await Self.check(bridge.replacingOccurrences(of: "- 127.0.0.1:29092:29092/tcp", with: exposed))
            #expect(result.status == 1, "\(exposed): \(result.stderr)")
            #expect(result.stderr.contains("service kafka publishes port 29092 on every address without TLS"), "\(result.stderr)")
        }
        let lines = bridge.split(separator: "\n", omittingEmptySubsequences: false)
        let withoutTLS = lines.filter { !$0.contains("ZEEK_MGMT_WEBSOCKET_CERT:") }.joined(separator: "\n")
        #expect(withoutTLS != bridge)
        let plaintextGateway = try await Self.check(withoutTLS)
        #expect(plaintextGateway.status == 1 && plaintextGateway.stderr.contains("service controller publishes port 2149 on every address without TLS"),
                "\(plaintextGateway.stderr)")
        #expect(bridge.contains("\n  kafka:\n"))
        let hostNetworkKafka = try await Self.check(bridge.replacingOccurrences(of: "\n  kafka:\n", with: "\n  kafka:\n    network_mode: host\n"))
        #expect(hostNetworkKafka.status == 1 && hostNetworkKafka.stderr.contains("service kafka publishes port 9092 on every address without TLS"),
                "\(hostNetworkKafka.stderr)")
    }
}

/// Every process of the shipped deployments logs in to Kafka with a login of its own, from a
/// file (`scripts/check-kafka-credentials`, run by `scripts/check-deployment`): one SCRAM user
/// per compose service, made by compose/make-kafka-users, and a Kafka that enforces ACLs; one
/// Secret per component of the Helm chart, each mounted in its own container alone.
@Suite("Kafka logins")
struct KafkaLoginsTests {
    static let root = ComposeTopologyTests.root

    /// Runs the check on `yaml` (a resolved compose file or rendered manifests) with the users
    /// make-kafka-users made in `users`.
    static func check(_ yaml: String, users: URL? = nil) async throws -> CLIResult {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("logins-\(UUID().uuidString).yml")
        try yaml.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        return try await CLIResult.run(executable: URL(fileURLWithPath: "/usr/bin/python3"),
                                       arguments: [root.appendingPathComponent("scripts/check-kafka-credentials").path]
                                           + (users.map { ["--users", $0.path] } ?? []) + [file.path])
    }

    @Test func eachComposeServiceLogsInAsItself() async throws {
        let users = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-users-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: users) }
        let made = try await CLIResult.run(executable: Self.root.appendingPathComponent("compose/make-kafka-users"), arguments: [],
                                           environment: ProcessInfo.processInfo.environment.merging(
                                               ["ZEEK_MGMT_KAFKA_DIR": users.path, "ZEEK_MGMT_SKIP_CHOWN": "1"]) { $1 })
        #expect(made.status == 0, "\(made.stderr)")
        let controller = try String(contentsOf: users.appendingPathComponent("controller.properties"), encoding: .utf8)
        for line in ["security.protocol=SASL_PLAINTEXT", "sasl.mechanisms=SCRAM-SHA-512", "sasl.username=zeek-controller", "sasl.password="] {
            #expect(controller.contains(line + (line.hasSuffix("=") ? "" : "\n")), "\(line)")
        }
        let compose = try ComposeFile.resolve(Self.root.appendingPathComponent("compose/docker-compose.yml")).resolved
        let shipped = try await Self.check(compose, users: users)
        #expect(shipped.status == 0, "\(shipped.stderr)")
        #expect(!compose.contains("sasl.password"), "no password in the compose file")

        // The agent's supervisor with the agent's login; a password in the environment; Kafka
        // without ACLs, or with a listener that takes anyone.
        let broken: [(String, String, String)] = [
            ("ZEEK_MGMT_SUPERVISOR_KAFKA_OPTIONS_FILE: /run/secrets/kafka-supervisor", "ZEEK_MGMT_SUPERVISOR_KAFKA_OPTIONS_FILE: /run/secrets/kafka-agent",
             "service agent (agent-service) and service agent (supervisor-service) share one Kafka login"),
            ("ZEEK_MGMT_KAFKA_OPTIONS_FILE: /run/secrets/kafka-controller", "ZEEK_MGMT_KAFKA_OPTIONS: sasl.password=hunter2",
             "service controller has a credential in its environment or command line"),
            ("KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND: \"false\"", "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND: \"true\"",
             "KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND is 'true', not false"),
            ("INTERNAL:SASL_PLAINTEXT", "INTERNAL:PLAINTEXT", "listener INTERNAL takes clients without a login (PLAINTEXT)"),
        ]
        for (shippedText, brokenText, problem) in broken {
            #expect(compose.contains(shippedText), "\(shippedText)")
            let result = try await Self.check(compose.replacingOccurrences(of: shippedText, with: brokenText), users: users)
            #expect(result.status == 1 && result.stderr.contains(problem), "\(brokenText): \(result.stderr)")
            #expect(!result.stderr.contains("hunter2"))
        }
    }

    @Test func eachHelmComponentMountsItsOwnSecretAlone() async throws {
        func render(_ settings: [String]) async throws -> String {
            let result = try await CLIResult.run(executable: URL(fileURLWithPath: "/usr/bin/python3"),
                                                 arguments: [Self.root.appendingPathComponent("scripts/render-chart.py").path,
                                                             Self.root.appendingPathComponent("helm/zeek-mgmt").path] + settings.flatMap { ["--set", $0] })
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout
        }
        let shipped = try await Self.check(try await render([]))
        #expect(shipped.status == 0, "\(shipped.stderr)")
        let shared = try await Self.check(try await render(["kafka.sasl.supervisor.existingSecret=zeek-mgmt-kafka-agent"]))
        #expect(shared.status == 1 && shared.stderr.contains("agent and supervisor share the Kafka Secret zeek-mgmt-kafka-agent"), "\(shared.stderr)")
        let none = try await Self.check(try await render(["kafka.sasl.controller.existingSecret="]))
        #expect(none.status == 1 && none.stderr.contains("container controller has no Kafka login"), "\(none.stderr)")
    }
}
