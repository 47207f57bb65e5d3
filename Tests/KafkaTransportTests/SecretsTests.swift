import KafkaTransport
import Testing

/// Credentials never reach a log line or printed settings.
@Suite("Secrets are redacted")
struct SecretsTests {
    @Test("settings that hold credentials are redacted", arguments: [
        "sasl.password", "SASL.PASSWORD", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem", "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.secret", "ssl_key", "api_key", "token",
    ])
    func secretKeys(key: String) {
        #expect(Secrets.isSecret(key: key))
        #expect(Secrets.redacted("hunter2", forKey: key) == "[redacted]")
        #expect(Secrets.redactedOption("\(key)=hunter2") == "\(key)=[redacted]")
    }

    @Test("other settings are shown as they are", arguments: [
        "security.protocol", "sasl.mechanisms", "sasl.username", "ssl.ca.location", "ssl.key.location", "bootstrap.servers", "brokers",
    ])
    func ordinaryKeys(key: String) {
        #expect(!Secrets.isSecret(key: key))
        #expect(Secrets.redactedOption("\(key)=value") == "\(key)=value")
    }

    @Test func optionsWithoutAnEqualsSign() {
        #expect(Secrets.redactedOption("sasl.password:hunter2") == "[redacted]")
        #expect(Secrets.redactedOption("security.protocol") == "security.protocol")
    }

    @Test("the user information of URLs is redacted", arguments: [
        ("http://user:pass@pushgateway:9091", "http://[redacted]@pushgateway:9091"),
        ("https://user:p%40ss@host/metrics/job/x?y=1", "https://[redacted]@host/metrics/job/x?y=1"),
        ("http://token@host:9091/", "http://[redacted]@host:9091/"),
        ("http://pushgateway:9091/a@b", "http://pushgateway:9091/a@b"),
        ("http://pushgateway:9091", "http://pushgateway:9091"),
        ("pushgateway:9091", "pushgateway:9091"),
    ])
    func urls(url: String, shown: String) {
        #expect(Secrets.redactingUserinfo(in: url) == shown)
    }

    @Test func aRejectedOptionIsReportedWithoutItsValue() {
        let error = #expect(throws: KafkaError.self) { try KafkaConfiguration.parseOverrides(["sasl.password hunter2"]) }
        #expect(error.map { !"\($0)".contains("hunter2") } == true, "\(String(describing: error))")
    }

    /// A service's parts are printed whole at debug level (swift-service-lifecycle lists them
    /// when they start and stop): the SASL options a service was given must show without their
    /// password, also nested in another value.
    @Test func aConfigurationPrintsWithoutItsCredentials() {
        let configuration = KafkaConfiguration(bootstrapServers: ["kafka:9092"], clientID: "controller-service.controller", overrides: [
            "security.protocol": "SASL_PLAINTEXT", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "zeek-controller",
            "sasl.password": "hunter2", "ssl.key.password": "hunter3",
        ])
        struct Holder { let kafka: KafkaConfiguration }
        for shown in [String(describing: configuration), String(reflecting: configuration), String(describing: Holder(kafka: configuration)),
                      String(reflecting: [configuration])] {
            #expect(!shown.contains("hunter2") && !shown.contains("hunter3"), "\(shown)")
            #expect(shown.contains("\"sasl.password\": \"[redacted]\""), "\(shown)")
            #expect(shown.contains("\"security.protocol\": \"SASL_PLAINTEXT\"") && shown.contains("\"sasl.username\": \"zeek-controller\""), "\(shown)")
        }
        // The SASL options reach librdkafka as given, after (so over) the defaults.
        let properties = configuration.properties(role: KafkaConfiguration.Tuning.producer)
        for (key, value) in configuration.overrides {
            #expect(properties.last { $0.0 == key }?.1 == value)
        }
    }
}
