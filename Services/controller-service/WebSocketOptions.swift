import ArgumentParser
import ZeekClientGateway
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where and how the controller serves zeek-client (the gateway). Every flag falls back to an
/// environment variable so a container turns the endpoint on without changing its command.
struct WebSocketOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Serve zeek-client (Broker's WebSocket JSON protocol) at ADDR:PORT/v1/messages/json; Zeek's port is 2149. Without ADDR: 127.0.0.1, or every address with TLS. A non-loopback ADDR needs TLS (env ZEEK_MGMT_WEBSOCKET; off unless given).", valueName: "[addr:]port"))
    var websocket: String?

    @Option(help: ArgumentHelp("Serve the WebSocket over TLS (wss://) with this PEM certificate chain; zeek-client's ssl.enable = true (env ZEEK_MGMT_WEBSOCKET_CERT).", valueName: "pem-file"))
    var websocketCert: String?

    @Option(help: ArgumentHelp("The PEM private key of --websocket-cert (env ZEEK_MGMT_WEBSOCKET_KEY).", valueName: "pem-file"))
    var websocketKey: String?

    @Option(help: ArgumentHelp("The CA that signs client certificates: with TLS every client must present one (zeek-client's ssl.certificate, ssl.keyfile) (env ZEEK_MGMT_WEBSOCKET_CA).", valueName: "pem-file"))
    var websocketCA: String?

    @Flag(help: ArgumentHelp("With TLS, do not ask for client certificates: clients authenticate with bearer tokens of --websocket-clients (env ZEEK_MGMT_WEBSOCKET_NO_CLIENT_CERTIFICATES=true)."))
    var websocketNoClientCertificates = false

    @Option(help: ArgumentHelp("The clients file: one `OPERATOR ROLE CREDENTIAL` per line, ROLE read or deploy, CREDENTIAL cert-sha256=FINGERPRINT, cert-cn=NAME or token-sha256=HEX. Without it, every certificate the CA signed (or, on loopback without TLS, every local process) may deploy (env ZEEK_MGMT_WEBSOCKET_CLIENTS).", valueName: "file"))
    var websocketClients: String?

    @Option(help: ArgumentHelp("An origin (https://host[:port]) whose web pages may connect; browsers' handshakes from any other origin are refused. Repeatable (env ZEEK_MGMT_WEBSOCKET_ALLOWED_ORIGINS, comma-separated).", valueName: "origin"))
    var websocketAllowedOrigin: [String] = []

    @Option(help: ArgumentHelp("Connections served at once, TLS handshakes included (env ZEEK_MGMT_WEBSOCKET_MAX_CONNECTIONS; default 64).", valueName: "n"))
    var websocketMaxConnections: Int?

    @Option(help: ArgumentHelp("Seconds a connection may stay silent before it is closed; it is pinged halfway (env ZEEK_MGMT_WEBSOCKET_IDLE_TIMEOUT; default 300).", valueName: "seconds"))
    var websocketIdleTimeout: Double?

    @Option(help: ArgumentHelp("Requests of one connection awaiting their response (env ZEEK_MGMT_WEBSOCKET_MAX_OUTSTANDING; default 16).", valueName: "n"))
    var websocketMaxOutstanding: Int?

    /// The gateway's settings (Kafka's message limit applied by the caller), or nil when it is off.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ZeekClientGatewaySettings? {
        func value(_ flag: String?, _ variable: String) -> String? {
            (flag ?? environment[variable]).flatMap { $0.isEmpty ? nil : $0 }
        }
        func number<T: LosslessStringConvertible>(_ flag: T?, _ variable: String, _ name: String) throws -> T? {
            if let flag { return flag }
            guard let text = value(nil, variable) else { return nil }
            guard let number = T(text) else { throw ValidationError("\(variable)=\(text) (\(name)) is not a number") }
            return number
        }
        let certificate = value(websocketCert, "ZEEK_MGMT_WEBSOCKET_CERT")
        let key = value(websocketKey, "ZEEK_MGMT_WEBSOCKET_KEY")
        let ca = value(websocketCA, "ZEEK_MGMT_WEBSOCKET_CA")
        let noClientCertificates = websocketNoClientCertificates
            || ["1", "true", "yes"].contains(environment["ZEEK_MGMT_WEBSOCKET_NO_CLIENT_CERTIFICATES"]?.lowercased() ?? "")
        if (certificate == nil) != (key == nil) {
            throw ValidationError("--websocket-cert and --websocket-key go together")
        }
        if ca != nil && certificate == nil {
            throw ValidationError("--websocket-ca checks client certificates over TLS: give --websocket-cert and --websocket-key too")
        }
        guard let address = value(websocket, "ZEEK_MGMT_WEBSOCKET") else {
            if certificate != nil { throw ValidationError("--websocket-cert configures the WebSocket endpoint: give --websocket ADDR:PORT too") }
            return nil
        }
        let colon = address.lastIndex(of: ":")
        let portText = colon.map { address[address.index(after: $0)...] } ?? address[...]
        guard let port = Int(portText), (1...65535).contains(port) else {
            throw ValidationError("--websocket \(address) is not [ADDR:]PORT, e.g. 127.0.0.1:2149")
        }
        let host = colon.map { address[..<$0].trimming(charactersIn: "[]") }
        var settings = ZeekClientGatewaySettings(host: host.flatMap { $0.isEmpty ? nil : String($0) }, port: port)
        if let certificate, let key {
            settings.tls = .init(certificate: certificate, key: key, clientCA: ca)
        }
        settings.requireClientCertificates = !noClientCertificates
        settings.clientsFile = value(websocketClients, "ZEEK_MGMT_WEBSOCKET_CLIENTS")
        let origins = websocketAllowedOrigin.isEmpty
            ? (value(nil, "ZEEK_MGMT_WEBSOCKET_ALLOWED_ORIGINS") ?? "").split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }
            : websocketAllowedOrigin
        settings.allowedOrigins = Set(origins.filter { !$0.isEmpty })
        if let limit: Int = try number(websocketMaxConnections, "ZEEK_MGMT_WEBSOCKET_MAX_CONNECTIONS", "--websocket-max-connections") {
            settings.maximumConnections = limit
        }
        if let seconds: Double = try number(websocketIdleTimeout, "ZEEK_MGMT_WEBSOCKET_IDLE_TIMEOUT", "--websocket-idle-timeout") {
            guard seconds > 0 else { throw ValidationError("--websocket-idle-timeout must be positive") }
            settings.idleTimeout = .milliseconds(Int(seconds * 1000))
        }
        if let limit: Int = try number(websocketMaxOutstanding, "ZEEK_MGMT_WEBSOCKET_MAX_OUTSTANDING", "--websocket-max-outstanding") {
            settings.maximumOutstandingRequests = limit
        }
        return settings
    }
}
