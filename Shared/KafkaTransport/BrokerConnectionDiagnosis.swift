/// Why a client could not talk to a broker it can reach, from the text of librdkafka's last
/// error for a broker connection, in an operator's words: what failed and which setting to fix.
///
/// librdkafka answers a metadata request that no broker served with "Broker transport failure"
/// whatever the cause; the cause (a TLS handshake the broker or the client refused, a plaintext
/// client at a TLS listener) is only in its error and log callbacks.
public struct BrokerConnectionDiagnosis: Sendable, Equatable {
    /// What went wrong, e.g. "the TLS handshake with the broker failed: ...".
    public var problem: String
    /// Which settings to change.
    public var remedy: String

    /// The diagnosis of `reason`, librdkafka's text for a failed broker connection; nil when
    /// it is no security-settings problem (a broker that is down or unreachable, say).
    public static func diagnose(_ reason: String) -> BrokerConnectionDiagnosis? {
        let text = reason.lowercased()
        let handshake = "the TLS handshake with the broker failed"
        if text.contains("certificate verify failed") || text.contains("broker certificate could not be verified") {
            return BrokerConnectionDiagnosis(
                problem: "\(handshake): this client does not trust the broker's certificate",
                remedy: "Set ssl.ca.location to the CA certificate that signed the broker's certificate")
        }
        if ["certificate required", "unknown ca", "bad certificate", "certificate unknown", "not sending any client certificate"].contains(where: text.contains) {
            return BrokerConnectionDiagnosis(
                problem: "\(handshake): the broker refused this client's certificate, or got none",
                remedy: "Set ssl.certificate.location and ssl.key.location to a client certificate signed by a CA the broker trusts")
        }
        if text.contains("incorrect security.protocol") {
            return BrokerConnectionDiagnosis(
                problem: "the broker closed the connection before answering, as a TLS listener does with a plaintext client",
                remedy: "Set security.protocol to what the broker's listener speaks (SSL or SASL_SSL for TLS)")
        }
        // Not just "ssl": every failure of a TLS connection names the broker ssl://HOST:PORT.
        if ["ssl handshake", "ssl routines", "tlsv1"].contains(where: text.contains) {
            return BrokerConnectionDiagnosis(
                problem: "\(handshake)",
                remedy: "Check the TLS settings: ssl.ca.location (the CA of the broker's certificate), ssl.certificate.location and ssl.key.location (this client's certificate)")
        }
        return nil
    }

    /// The reason in librdkafka's text for a connection that failed before any protocol was
    /// spoken — "Connection refused" from "127.0.0.1:1/bootstrap: Connect to ipv4#127.0.0.1:1
    /// failed: Connection refused (after 0ms in state CONNECT)", or a name that did not
    /// resolve — for a one-line error; nil for any other text.
    public static func connectionFailure(in reason: String) -> String? {
        if let failed = reason.firstRange(of: " failed: ") {
            var tail = reason[failed.upperBound...]
            if let after = tail.firstRange(of: " (after") { tail = tail[..<after.lowerBound] }
            return tail.isEmpty ? nil : String(tail)
        }
        if reason.contains("Failed to resolve") { return "the broker's host name does not resolve" }
        return nil
    }
}
