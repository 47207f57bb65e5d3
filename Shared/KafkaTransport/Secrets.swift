/// Keeps credentials out of logs and printed settings: librdkafka properties such as
/// `sasl.password`, and the user information of URLs (`http://user:pass@host`).
public enum Secrets {
    /// What stands in for a credential.
    public static let placeholder = "[redacted]"

    /// Parts of setting names that hold credentials, in librdkafka's properties
    /// (`sasl.password`, `ssl.key.password`, `ssl.keystore.password`, `ssl.key.pem`,
    /// `sasl.oauthbearer.client.secret`, `sasl.oauthbearer.config`) and elsewhere.
    private static let secretNameParts = [
        "password", "passwd", "secret", "token", "credential", "apikey", "api_key", "api.key", "private",
        "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key",
    ]

    /// Whether a setting named `key` holds a credential (case does not matter).
    public static func isSecret(key: String) -> Bool {
        let key = key.lowercased()
        return secretNameParts.contains { key.contains($0) }
    }

    /// Whether a librdkafka property is (part of) a client's identity, which a process given
    /// the connection settings without the credentials must not get: SASL settings, the
    /// client's TLS key and certificate, and every secret (``isSecret(key:)``). The CA a client
    /// trusts is not.
    public static func isCredential(key: String) -> Bool {
        let key = key.lowercased()
        return isSecret(key: key) || ["sasl.", "ssl.key", "ssl.certificate", "ssl.keystore", "ssl_key", "ssl.engine"].contains { key.hasPrefix($0) }
    }

    /// `value`, or ``placeholder`` if `key` names a credential.
    public static func redacted(_ value: String, forKey key: String) -> String {
        isSecret(key: key) ? placeholder : value
    }

    /// A `KEY=VALUE` option as it may be shown: the value redacted if KEY names a credential,
    /// and the whole text if it has no `=` but names one (`sasl.password:hunter2`).
    public static func redactedOption(_ option: String) -> String {
        guard let equals = option.firstIndex(of: "=") else { return isSecret(key: option) ? placeholder : option }
        let key = String(option[..<equals])
        return key + "=" + redacted(String(option[option.index(after: equals)...]), forKey: key)
    }

    /// `url` with the user information of its authority (`user:password@`) replaced by
    /// ``placeholder``: `http://user:pass@host:9091/x` → `http://[redacted]@host:9091/x`.
    public static func redactingUserinfo(in url: String) -> String {
        guard let scheme = url.firstRange(of: "://") else { return url }
        let authorityEnd = url[scheme.upperBound...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        guard let at = url[scheme.upperBound..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<scheme.upperBound]) + placeholder + String(url[at...])
    }
}
