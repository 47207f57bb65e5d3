import Logging
import ManagementMessaging
import NIOSSL
import ServerTLS
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// How the gateway serves zeek-client: where, with which TLS material, which clients, within
/// which limits. Paths, not loaded material: ``ZeekClientGateway/init(settings:controllerName:logger:)``
/// loads and checks them, so a misconfiguration stops the service at start with the reason.
public struct ZeekClientGatewaySettings: Sendable {
    /// The PEM files of `wss://`. The client CA is required unless `requireClientCertificates`
    /// is off, i.e. unless clients prove who they are with bearer tokens instead.
    public typealias TLSFiles = ServerTLSFiles

    /// The address to listen on; nil: 127.0.0.1 without TLS, every address with TLS.
    public var host: String?
    public var port: Int
    /// Serves `wss://` when set. Without it the gateway listens on loopback addresses only.
    public var tls: TLSFiles?
    /// With TLS, clients must present a certificate signed by `tls.clientCA` (mutual TLS).
    /// Turning this off leaves bearer tokens (from the clients file) as the only credential.
    public var requireClientCertificates = true
    /// The clients file (``GatewayClients``); nil: every certificate the client CA signed is an
    /// operator with role `deploy`, named by its CN, and without TLS every local process is.
    public var clientsFile: String?
    /// Origins (`https://ops.example.org`) whose pages may open a WebSocket to the gateway.
    /// Browsers send `Origin` with every WebSocket handshake and zeek-client sends none, so a
    /// handshake with any other origin is a web page trying to drive the controller.
    public var allowedOrigins: Set<String> = []
    /// Connections served at once, TLS handshakes included; more are closed at once.
    public var maximumConnections = 64
    /// A connection that sends nothing for this long is closed. Halfway through, it is pinged:
    /// a client that is alive answers (zeek-client's WebSocket library does on its own), so
    /// `zeek-client monitor` stays connected while a vanished peer does not hold a slot.
    public var idleTimeout: Duration = .seconds(300)
    /// Requests of one connection waiting for their response; more are answered with a failure.
    public var maximumOutstandingRequests = 16
    /// The largest WebSocket message a client may send: the Kafka message limit
    /// (`message.max.bytes`). Nothing larger could be published anyway, and a bound on what a
    /// client makes the gateway buffer is what keeps one client from exhausting its memory.
    public var maximumMessageSize = EnvelopeHead.maximumSize
    /// Messages queued for one client that does not read them; past this it is disconnected.
    public var maximumQueuedMessages = 256

    public init(host: String?, port: Int) {
        self.host = host
        self.port = port
    }

    /// The bytes queued for one client before it counts as too slow: a response in Broker's JSON
    /// is about three times its Kafka envelope, so one of the largest responses fits, with room.
    var maximumQueuedBytes: Int { max(4 * maximumMessageSize, 1 << 20) }

    /// Whether `host` names a loopback address, which only processes of this machine reach.
    static func isLoopback(_ host: String) -> Bool { ListenAddress.isLoopback(host) }
}

/// The settings, checked and loaded: what the running gateway uses.
struct GatewaySecurity: Sendable {
    var host: String
    var tls: NIOSSLContext?
    var clients: GatewayClients?
    /// Clients without any credential are let in (as operator `local`, role `deploy`): only on
    /// a loopback address, and only without a clients file.
    var admitsAnonymousLocalClients: Bool

    init(_ settings: ZeekClientGatewaySettings, logger: Logger) throws(GatewaySetupError) {
        host = settings.host ?? (settings.tls == nil ? "127.0.0.1" : "0.0.0.0")
        let loopback = ZeekClientGatewaySettings.isLoopback(host)
        if settings.tls == nil && !loopback {
            throw GatewaySetupError("""
                refusing to serve zeek-client in plaintext on \(host):\(settings.port): the gateway is an administrator's \
                interface. Serve it over TLS with client certificates (--websocket-cert, --websocket-key, --websocket-ca) \
                or listen on 127.0.0.1
                """)
        }
        if let files = settings.tls {
            if settings.requireClientCertificates && files.clientCA == nil {
                throw GatewaySetupError("""
                    the zeek-client gateway requires client certificates over TLS: give --websocket-ca (the CA that signs \
                    them), or --websocket-no-client-certificates to authenticate clients by bearer tokens of --websocket-clients
                    """)
            }
            if !settings.requireClientCertificates && files.clientCA != nil {
                throw GatewaySetupError("--websocket-ca checks client certificates: it does not go with --websocket-no-client-certificates")
            }
            tls = try Self.serverContext(files)
        }
        if let path = settings.clientsFile {
            let clients = try GatewayClients(contentsOf: path)
            if clients.entries.isEmpty {
                throw GatewaySetupError("--websocket-clients \(path) lists no client: nobody could connect")
            }
            if settings.tls != nil && !settings.requireClientCertificates && !clients.hasTokens {
                throw GatewaySetupError("--websocket-clients \(path) lists no token, and without client certificates only tokens authenticate")
            }
            self.clients = clients
        }
        admitsAnonymousLocalClients = loopback && clients == nil
        if settings.tls != nil && !settings.requireClientCertificates && clients == nil && !loopback {
            throw GatewaySetupError("without client certificates, clients authenticate with tokens: give --websocket-clients")
        }
        for origin in settings.allowedOrigins where origin == "*" || origin == "null" {
            throw GatewaySetupError("--websocket-allowed-origin \(origin) would let any web page drive the controller; name the origin (https://host)")
        }
        if admitsAnonymousLocalClients {
            logger.notice("zeek-client gateway: every process of this host that connects to \(host):\(settings.port) is operator \"local\" with role deploy; give --websocket-clients to name operators and roles")
        } else if clients == nil {
            logger.notice("zeek-client gateway: every certificate --websocket-ca signed is an operator with role deploy (named by its CN); give --websocket-clients to name operators and roles")
        }
    }

    /// A TLS server context that, with a client CA, requires a client certificate it signed.
    private static func serverContext(_ files: ZeekClientGatewaySettings.TLSFiles) throws(GatewaySetupError) -> NIOSSLContext {
        do {
            return try files.serverContext(flags: .init(certificate: "--websocket-cert", key: "--websocket-key", clientCA: "--websocket-ca"))
        } catch {
            throw GatewaySetupError(error.description)
        }
    }
}
