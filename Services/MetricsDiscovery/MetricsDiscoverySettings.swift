import Logging
import NIOSSL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where and how the controller serves Prometheus HTTP service discovery. Paths, not loaded
/// material: ``MetricsDiscoveryServer/init(settings:content:logger:)`` loads them, so a
/// misconfiguration stops the controller at start with the reason.
public struct MetricsDiscoverySettings: Sendable {
    /// The PEM files of `https://`.
    public struct TLSFiles: Sendable {
        public var certificate: String
        public var key: String
        /// The CA that signs the certificates scrapers must present (Prometheus's
        /// `tls_config.cert_file`); nil: any client may connect.
        public var clientCA: String?

        public init(certificate: String, key: String, clientCA: String?) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }
    }

    /// The one path served, the one Zeek's manager serves its own service discovery at.
    public static let path = "/services.json"

    /// The address to listen on; nil: 127.0.0.1 without TLS, every address with TLS.
    public var host: String?
    public var port: Int
    public var tls: TLSFiles?
    /// Connections served at once, TLS handshakes included; more are closed at once.
    public var maximumConnections = 64
    /// The most bytes one connection may send (its request: a GET has no body, and its head
    /// is a few hundred bytes); past this it is closed without an answer.
    public var maximumRequestSize = 16 * 1024
    /// Time from accepting a connection to having answered it; each connection carries one
    /// request (Prometheus asks once per `refresh_interval`), so an idle peer holds no slot.
    public var connectionTimeout: Duration = .seconds(10)

    public init(host: String?, port: Int) {
        self.host = host
        self.port = port
    }

    /// The address listened on.
    var listenHost: String { host ?? (tls == nil ? "127.0.0.1" : "0.0.0.0") }

    var url: String {
        let host = listenHost.contains(":") ? "[\(listenHost)]" : listenHost
        return "\(tls == nil ? "http" : "https")://\(host):\(port)\(Self.path)"
    }

    /// Whether `host` names a loopback address, which only processes of this machine reach.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { UInt8($0) != nil } && octets[0] == "127"
    }
}

/// Why the discovery endpoint cannot run as configured, worded for the operator.
public struct MetricsDiscoverySetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension MetricsDiscoverySettings.TLSFiles {
    /// A TLS server context that, with a client CA, requires a client certificate it signed.
    func serverContext() throws(MetricsDiscoverySetupError) -> NIOSSLContext {
        func load<T>(_ flag: String, _ path: String, _ body: () throws -> T) throws(MetricsDiscoverySetupError) -> T {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw MetricsDiscoverySetupError("\(flag) \(path): no such readable file")
            }
            do { return try body() } catch {
                throw MetricsDiscoverySetupError("\(flag) \(path): not a usable PEM file (\(error))")
            }
        }
        let chain = try load("--metrics-discovery-cert", certificate) {
            try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) }
        }
        let privateKey = try load("--metrics-discovery-key", key) { try NIOSSLPrivateKey(file: key, format: .pem) }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA {
            let roots = try load("--metrics-discovery-ca", clientCA) { try NIOSSLCertificate.fromPEMFile(clientCA) }
            if roots.isEmpty { throw MetricsDiscoverySetupError("--metrics-discovery-ca \(clientCA): holds no certificate") }
            configuration.trustRoots = .certificates(roots)
            // Requires a certificate and verifies its chain; client certificates name no address.
            configuration.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw MetricsDiscoverySetupError("--metrics-discovery-cert \(certificate) and --metrics-discovery-key \(key) do not make a TLS server (\(error)); is the key the certificate's?")
        }
    }
}
