import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The CURVE keys that encrypt a Zeek cluster's ZeroMQ traffic (Zeek 8.2+), as zeekctl uses
/// them: one server keypair (the manager's XPUB/XSUB proxy and the loggers' log sockets) and
/// one client keypair (every node), each key Z85-encoded (40 characters), as ZeroMQ reads it.
///
/// They never travel on Kafka: the operator makes them once (`zeek-mgmt zeromq-keys DIR`) and
/// provisions the directory on every host (`supervisor-service --zeromq-keys DIR`); a host that
/// runs no manager or logger needs no `server.secret`.
public struct CurveKeys: Sendable, Hashable {
    public var serverPublic: String
    /// Nil on hosts that serve no ZeroMQ socket.
    public var serverSecret: String?
    public var clientPublic: String
    public var clientSecret: String

    public init(serverPublic: String, serverSecret: String?, clientPublic: String, clientSecret: String) {
        self.serverPublic = serverPublic
        self.serverSecret = serverSecret
        self.clientPublic = clientPublic
        self.clientSecret = clientSecret
    }

    /// The files of a key directory, as `zeek-mgmt zeromq-keys` writes them.
    public static let files = (serverPublic: "server.public", serverSecret: "server.secret", clientPublic: "client.public", clientSecret: "client.secret")

    /// Two fresh X25519 keypairs (swift-crypto), Z85-encoded.
    public static func generate() -> CurveKeys {
        let server = Curve25519.KeyAgreement.PrivateKey(), client = Curve25519.KeyAgreement.PrivateKey()
        return CurveKeys(serverPublic: z85(server.publicKey.rawRepresentation), serverSecret: z85(server.rawRepresentation),
                         clientPublic: z85(client.publicKey.rawRepresentation), clientSecret: z85(client.rawRepresentation))
    }

    public struct Problem: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Reads a key directory; every file but `server.secret` must be there, each one key.
    public static func load(directory: String) throws(Problem) -> CurveKeys {
        func key(_ name: String, required: Bool = true) throws(Problem) -> String? {
            let path = "\(directory)/\(name)"
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                if required { throw Problem(description: "\(path) is missing or unreadable: make the keys with `zeek-mgmt zeromq-keys DIR` and copy DIR to every host") }
                return nil
            }
            let value = String(text.filter { !$0.isWhitespace })
            guard isKey(value) else { throw Problem(description: "\(path) is not a CURVE key (40 Z85 characters, as `zeek-mgmt zeromq-keys` writes)") }
            return value
        }
        return CurveKeys(serverPublic: try key(files.serverPublic)!, serverSecret: try key(files.serverSecret, required: false),
                         clientPublic: try key(files.clientPublic)!, clientSecret: try key(files.clientSecret)!)
    }

    /// Writes the keys into `directory` (created, mode 700): the public keys 644, the secret ones 600.
    public func write(to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let entries: [(String, String?, Int)] = [(Self.files.serverPublic, serverPublic, 0o644), (Self.files.serverSecret, serverSecret, 0o600),
                                                  (Self.files.clientPublic, clientPublic, 0o644), (Self.files.clientSecret, clientSecret, 0o600)]
        for (name, value, mode) in entries {
            guard let value else { continue }
            let path = "\(directory)/\(name)"
            guard FileManager.default.createFile(atPath: path, contents: Data((value + "\n").utf8), attributes: [.posixPermissions: mode]) else {
                throw Problem(description: "cannot write \(path)")
            }
        }
    }

    /// ZeroMQ's Z85 alphabet (RFC 32/Z85).
    static let z85Alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")

    /// Z85 of `bytes` (a multiple of 4 long: keys are 32): each 4 bytes, big-endian, as 5 digits of base 85.
    public static func z85<Bytes: DataProtocol>(_ bytes: Bytes) -> String {
        let bytes = Array(bytes)
        precondition(bytes.count % 4 == 0, "Z85 encodes whole 4-byte groups")
        var text = ""
        for start in stride(from: 0, to: bytes.count, by: 4) {
            var value = bytes[start..<start + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            var digits = [Character](repeating: "0", count: 5)
            for index in (0..<5).reversed() {
                digits[index] = z85Alphabet[Int(value % 85)]
                value /= 85
            }
            text.append(contentsOf: digits)
        }
        return text
    }

    /// Whether `text` reads as one key: 40 characters of the Z85 alphabet.
    public static func isKey(_ text: String) -> Bool {
        text.count == 40 && text.allSatisfy { z85Alphabet.contains($0) }
    }
}
