import Logging
import NIOSSL
import ServerTLS
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where and how the controller serves Prometheus HTTP service discovery. Paths, not loaded
/// material: ``MetricsDiscoveryServer/init(settings:content:logger:)`` loads them, so a
/// misconfiguration stops the controller at start with the reason.
public struct MetricsDiscoverySettings: Sendable {
    /// The PEM files of `https://`; with a client CA, scrapers must present a certificate it
    /// signed (Prometheus's `tls_config.cert_file`), else any client may connect.
    public typealias TLSFiles = ServerTLSFiles

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
}

/// Why the discovery endpoint cannot run as configured, worded for the operator.
public struct MetricsDiscoverySetupError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

extension MetricsDiscoverySettings.TLSFiles {
    /// A TLS server context that, with a client CA, requires a client certificate it signed.
    func serverContext() throws(MetricsDiscoverySetupError) -> NIOSSLContext {
        do {
            return try serverContext(flags: Flags(certificate: "--metrics-discovery-cert", key: "--metrics-discovery-key", clientCA: "--metrics-discovery-ca"))
        } catch {
            throw MetricsDiscoverySetupError(error.description)
        }
    }
}
