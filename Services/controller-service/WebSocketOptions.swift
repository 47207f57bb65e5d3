import ArgumentParser
import NIOSSL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where and how the controller serves zeek-client. Every flag falls back to an environment
/// variable so a container turns the endpoint on without changing its command.
struct WebSocketOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Serve zeek-client (Broker's WebSocket JSON protocol) at ws://ADDR:PORT/v1/messages/json; Zeek's default port is 2149 (env ZEEK_MGMT_WEBSOCKET; off unless given).", valueName: "addr:port"))
    var websocket: String?

    @Option(help: ArgumentHelp("Serve the WebSocket over TLS (wss://) with this PEM certificate chain; zeek-client's ssl.enable = true (env ZEEK_MGMT_WEBSOCKET_CERT).", valueName: "pem-file"))
    var websocketCert: String?

    @Option(help: ArgumentHelp("The PEM private key of --websocket-cert (env ZEEK_MGMT_WEBSOCKET_KEY).", valueName: "pem-file"))
    var websocketKey: String?

    @Option(help: ArgumentHelp("Require WebSocket clients to present a certificate signed by a CA in this PEM file: zeek-client's ssl.certificate and ssl.keyfile (env ZEEK_MGMT_WEBSOCKET_CA).", valueName: "pem-file"))
    var websocketCA: String?

    /// The endpoint to serve, or nil when it is off.
    struct Endpoint {
        var host: String
        var port: Int
        /// Serves `wss://` when set.
        var tls: NIOSSLContext?
    }

    /// Applies the environment fallbacks, checks the flags and loads the TLS material.
    func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Endpoint? {
        func value(_ flag: String?, _ variable: String) -> String? {
            (flag ?? environment[variable]).flatMap { $0.isEmpty ? nil : $0 }
        }
        let certificate = value(websocketCert, "ZEEK_MGMT_WEBSOCKET_CERT")
        let key = value(websocketKey, "ZEEK_MGMT_WEBSOCKET_KEY")
        let ca = value(websocketCA, "ZEEK_MGMT_WEBSOCKET_CA")
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
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else {
            throw ValidationError("--websocket \(address) is not ADDR:PORT, e.g. 0.0.0.0:2149")
        }
        let host = address[..<colon].trimming(charactersIn: "[]")
        var endpoint = Endpoint(host: host.isEmpty ? "0.0.0.0" : host, port: port)
        if let certificate, let key {
            endpoint.tls = try Self.serverContext(certificate: certificate, key: key, clientCA: ca)
        }
        return endpoint
    }

    /// A TLS server context; with `clientCA`, clients must present a certificate it signed.
    private static func serverContext(certificate: String, key: String, clientCA: String?) throws -> NIOSSLContext {
        func load<T>(_ flag: String, _ path: String, _ body: () throws -> T) throws -> T {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw ValidationError("\(flag) \(path): no such readable file")
            }
            do { return try body() } catch {
                throw ValidationError("\(flag) \(path): not a usable PEM file (\(error))")
            }
        }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: try load("--websocket-cert", certificate) { try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) } },
            privateKey: .privateKey(try load("--websocket-key", key) { try NIOSSLPrivateKey(file: key, format: .pem) })
        )
        if let clientCA {
            configuration.trustRoots = .certificates(try load("--websocket-ca", clientCA) { try NIOSSLCertificate.fromPEMFile(clientCA) })
            configuration.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw ValidationError("--websocket-cert \(certificate) and --websocket-key \(key) do not make a TLS server (\(error)); is the key the certificate's?")
        }
    }
}
