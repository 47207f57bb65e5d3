import KafkaTransport
import Testing

/// librdkafka's reasons for a failed broker connection (as librdkafka 2.8 writes them against
/// stunnel with `verifyChain = yes`) name the setting to fix.
@Suite("Broker connection diagnosis")
struct BrokerConnectionDiagnosisTests {
    @Test func aBrokerCertificateTheClientDoesNotTrust() throws {
        let diagnosis = try #require(BrokerConnectionDiagnosis.diagnose(
            "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000086:SSL routines::certificate verify failed: broker certificate could not be verified, verify that ssl.ca.location is correctly configured or root CA certificates are installed (install ca-certificates package) (after 2ms in state SSL_HANDSHAKE)"))
        #expect(diagnosis.problem.contains("TLS handshake") && diagnosis.problem.contains("does not trust the broker's certificate"))
        #expect(diagnosis.remedy.contains("ssl.ca.location"))
        let error = KafkaError(.unreachable, "listing topics", diagnosis: diagnosis)
        #expect(error.whatToCheck.contains("ssl.ca.location") && error.whatToCheck.contains("--kafka-options-file"))
    }

    @Test("no client certificate, or one the broker does not trust", arguments: [
        "ssl://127.0.0.1:9093/bootstrap: Receive failed: error:0A00045C:SSL routines::tlsv13 alert certificate required: SSL alert number 116 (after 3ms in state APIVERSION_QUERY)",
        "ssl://127.0.0.1:9093/bootstrap: SSL handshake failed: error:0A000418:SSL routines::tlsv1 alert unknown ca: SSL alert number 48",
    ])
    func aClientCertificateTheBrokerRefuses(reason: String) throws {
        let diagnosis = try #require(BrokerConnectionDiagnosis.diagnose(reason))
        #expect(diagnosis.problem.contains("refused this client's certificate"))
        #expect(diagnosis.remedy.contains("ssl.certificate.location") && diagnosis.remedy.contains("ssl.key.location"))
    }

    @Test func aPlaintextClientAtATLSListener() throws {
        let diagnosis = try #require(BrokerConnectionDiagnosis.diagnose(
            "127.0.0.1:9093/bootstrap: Disconnected while requesting ApiVersion: might be caused by incorrect security.protocol configuration (connecting to a SSL listener?) or broker version is < 0.10 (see api.version.request) (after 2ms in state APIVERSION_QUERY)"))
        #expect(diagnosis.remedy.contains("security.protocol"))
    }

    @Test func aBrokerThatIsDownIsNoSecurityProblem() {
        #expect(BrokerConnectionDiagnosis.diagnose("127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused (after 0ms in state CONNECT)") == nil)
        #expect(BrokerConnectionDiagnosis.diagnose("ssl://127.0.0.1:9/bootstrap: Connect to ipv4#127.0.0.1:9 failed: Connection refused (after 0ms in state CONNECT)") == nil)
        #expect(KafkaError(.unreachable, "listing topics").whatToCheck == "Check --brokers and that the broker is running.")
    }
}
