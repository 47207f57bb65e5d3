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
}
