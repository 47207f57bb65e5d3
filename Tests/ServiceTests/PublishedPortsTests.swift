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
}
