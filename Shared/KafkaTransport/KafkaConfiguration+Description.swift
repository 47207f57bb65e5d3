/// How a configuration reads when printed, e.g. in the debug line that lists a service's parts
/// when it starts and stops: credentials (`sasl.password` and the like, ``Secrets/isSecret(key:)``)
/// as `[redacted]`, whatever prints it (`String(describing:)`, `String(reflecting:)`, or a
/// struct that holds one).
extension KafkaConfiguration: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        let shown = overrides.sorted { $0.key < $1.key }
            .map { "\"\($0.key)\": \"\(Secrets.redacted($0.value, forKey: $0.key))\"" }
        return "KafkaConfiguration(bootstrapServers: \(bootstrapServers), clientID: \"\(clientID)\", overrides: [\(shown.isEmpty ? ":" : shown.joined(separator: ", "))])"
    }

    public var debugDescription: String { description }
}
