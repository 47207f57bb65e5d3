import NIOSSL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The PEM files of a TLS server the controller runs (the zeek-client gateway, metrics
/// discovery): its certificate and key, and the CA whose client certificates it requires.
public struct ServerTLSFiles: Sendable {
    public var certificate: String
    public var key: String
    /// The CA that signs the certificates clients must present; nil: none is asked for.
    public var clientCA: String?

    public init(certificate: String, key: String, clientCA: String?) {
        self.certificate = certificate
        self.key = key
        self.clientCA = clientCA
    }

    /// The flags the files were given by, named in every error.
    public struct Flags: Sendable {
        public var certificate: String
        public var key: String
        public var clientCA: String

        public init(certificate: String, key: String, clientCA: String) {
            self.certificate = certificate
            self.key = key
            self.clientCA = clientCA
        }
    }

    /// Why the files make no TLS server, naming the flag and file.
    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// A TLS server context (TLS 1.2 at least) that, with a client CA, requires a client
    /// certificate it signed.
    public func serverContext(flags: Flags) throws(Problem) -> NIOSSLContext {
        func load<T>(_ flag: String, _ path: String, _ body: () throws -> T) throws(Problem) -> T {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw Problem(description: "\(flag) \(path): no such readable file")
            }
            do { return try body() } catch {
                throw Problem(description: "\(flag) \(path): not a usable PEM file (\(error))")
            }
        }
        let chain = try load(flags.certificate, certificate) { try NIOSSLCertificate.fromPEMFile(certificate).map { NIOSSLCertificateSource.certificate($0) } }
        let privateKey = try load(flags.key, key) { try NIOSSLPrivateKey(file: key, format: .pem) }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        configuration.minimumTLSVersion = .tlsv12
        if let clientCA {
            let roots = try load(flags.clientCA, clientCA) { try NIOSSLCertificate.fromPEMFile(clientCA) }
            if roots.isEmpty { throw Problem(description: "\(flags.clientCA) \(clientCA): holds no certificate") }
            configuration.trustRoots = .certificates(roots)
            // Requires a certificate and verifies its chain to the CA. Not `.fullVerification`: on a
            // server, NIOSSL would also match the client's certificate against the client's IP
            // address, which client certificates do not name.
            configuration.certificateVerification = .noHostnameVerification
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw Problem(description: "\(flags.certificate) \(certificate) and \(flags.key) \(key) do not make a TLS server (\(error)); is the key the certificate's?")
        }
    }
}

/// Listen addresses.
public enum ListenAddress {
    /// Whether `host` names a loopback address, which only processes of this machine reach.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host == "::1" || host == "0:0:0:0:0:0:0:1" { return true }
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4 && octets.allSatisfy { UInt8($0) != nil } && octets[0] == "127"
    }
}
