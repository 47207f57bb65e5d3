import Crypto
import ManagementMessaging
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a client of the gateway may ask the controller.
///
/// Roles are enforced here, in the gateway, and nowhere else: everything the gateway publishes
/// on Kafka is signed with the gateway's own operator key, so the controller sees one operator
/// for every zeek-client and cannot tell a `read` client from a `deploy` client. A request the
/// client's role does not allow never reaches Kafka.
public enum GatewayRole: String, Sendable, CaseIterable {
    /// Looks, changes nothing: the `get_*` requests and `test_timeout`.
    case read
    /// Everything zeek-client can do: stage, deploy, restart too.
    case deploy

    /// The requests of the `read` role: none of them changes the cluster.
    static let readRequests: Set<String> = [
        ControllerAPI.GetConfigurationRequest.eventName,
        ControllerAPI.GetInstancesRequest.eventName,
        ControllerAPI.GetNodesRequest.eventName,
        ControllerAPI.GetIDValueRequest.eventName,
        ControllerAPI.TestTimeoutRequest.eventName,
    ]

    func allows(_ event: String) -> Bool {
        switch self {
        case .deploy: true
        case .read: Self.readRequests.contains(event)
        }
    }
}

/// A client the gateway let in: who it is (for the log of each request) and what it may do.
struct GatewayClient: Sendable, Equatable {
    var name: String
    var role: GatewayRole
    /// How it proved who it is, for the log: `certificate`, `token` or `loopback`.
    var authenticatedBy: String
}

/// The clients file (`--websocket-clients`): which certificates and bearer tokens belong to
/// which operator, with which role. One client per line, `#` starts a comment:
///
/// ```
/// # operator  role    credential
/// alice       deploy  cert-sha256=5A:1F:...:9C     # openssl x509 -noout -fingerprint -sha256
/// bob         read    cert-cn=bob.example.org      # the certificate's subject CN
/// grafana     read    token-sha256=9f86d081...     # printf %s "$TOKEN" | sha256sum
/// ```
///
/// Tokens are stored as their SHA-256 only, so the file does not hold a usable secret.
/// Certificates are matched only after TLS verified them against `--websocket-ca`.
struct GatewayClients: Sendable {
    enum Credential: Hashable, Sendable {
        case certificateFingerprint([UInt8])
        case certificateCommonName(String)
        case tokenDigest([UInt8])
    }

    private(set) var entries: [(credential: Credential, client: GatewayClient)] = []

    var hasTokens: Bool { entries.contains { if case .tokenDigest = $0.credential { true } else { false } } }

    init(entries: [(credential: Credential, client: GatewayClient)]) {
        self.entries = entries
    }

    /// Reads a clients file; errors name the file and the line.
    init(contentsOf path: String) throws(GatewaySetupError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw GatewaySetupError("--websocket-clients \(path): no such readable file")
        }
        try self.init(parsing: String(decoding: data, as: UTF8.self), file: path)
    }

    init(parsing text: String, file: String) throws(GatewaySetupError) {
        var seen: Set<Credential> = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            let location = "--websocket-clients \(file) line \(index + 1)"
            guard fields.count == 3 else {
                throw GatewaySetupError("\(location): expected `OPERATOR ROLE CREDENTIAL`, got \(fields.count) fields")
            }
            let name = String(fields[0])
            guard name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._@-".contains($0)) }) else {
                throw GatewaySetupError("\(location): operator name \(name) may have only letters, digits and . _ @ -")
            }
            guard let role = GatewayRole(rawValue: String(fields[1])) else {
                throw GatewaySetupError("\(location): role \(fields[1]) is not one of \(GatewayRole.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let credential = try Self.credential(String(fields[2]), at: location)
            guard seen.insert(credential).inserted else {
                throw GatewaySetupError("\(location): \(fields[2]) is listed twice")
            }
            entries.append((credential, GatewayClient(name: name, role: role, authenticatedBy: credential.kind)))
        }
    }

    private static func credential(_ text: String, at location: String) throws(GatewaySetupError) -> Credential {
        guard let equals = text.firstIndex(of: "=") else {
            throw GatewaySetupError("\(location): credential \(text) is not cert-sha256=..., cert-cn=... or token-sha256=...")
        }
        let value = String(text[text.index(after: equals)...])
        switch text[..<equals] {
        case "cert-sha256":
            guard let bytes = hexBytes(value.replacing(":", with: "")), bytes.count == SHA256.byteCount else {
                throw GatewaySetupError("\(location): cert-sha256 takes the certificate's SHA-256 fingerprint, 32 bytes in hex (openssl x509 -noout -fingerprint -sha256 -in CERT)")
            }
            return .certificateFingerprint(bytes)
        case "cert-cn":
            guard !value.isEmpty else { throw GatewaySetupError("\(location): cert-cn takes a subject common name") }
            return .certificateCommonName(value)
        case "token-sha256":
            guard let bytes = hexBytes(value), bytes.count == SHA256.byteCount else {
                throw GatewaySetupError("\(location): token-sha256 takes the SHA-256 of the token, 64 hex digits (printf %s \"$TOKEN\" | sha256sum)")
            }
            return .tokenDigest(bytes)
        case let other:
            throw GatewaySetupError("\(location): unknown credential kind \(other); use cert-sha256, cert-cn or token-sha256")
        }
    }

    private static func hexBytes(_ text: String) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = hexValue(digits[index]), let low = hexValue(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func hexValue(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The client a verified certificate belongs to: by fingerprint first, then by subject CN.
    func client(certificateDER der: [UInt8], commonName: String?) -> GatewayClient? {
        let fingerprint = Array(SHA256.hash(data: der))
        if let entry = entries.first(where: { $0.credential == .certificateFingerprint(fingerprint) }) { return entry.client }
        if let commonName, let entry = entries.first(where: { $0.credential == .certificateCommonName(commonName) }) { return entry.client }
        return nil
    }

    /// The client a bearer token belongs to. Every stored digest is compared, each in constant
    /// time, so how long this takes says nothing about which entry, or how much of one, matched.
    func client(token: String) -> GatewayClient? {
        let digest = Array(SHA256.hash(data: Array(token.utf8)))
        var found: GatewayClient?
        for entry in entries {
            guard case .tokenDigest(let stored) = entry.credential else { continue }
            if Self.constantTimeEqual(stored, digest) && found == nil { found = entry.client }
        }
        return found
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    /// A certificate's SHA-256 fingerprint as openssl prints it (`AB:CD:...`), for log lines
    /// that tell an operator what to put in the clients file.
    static func fingerprint(ofDER der: [UInt8]) -> String {
        SHA256.hash(data: der).map { byte in
            let hex = String(byte, radix: 16, uppercase: true)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}

extension GatewayClients.Credential {
    var kind: String {
        switch self {
        case .certificateFingerprint, .certificateCommonName: "certificate"
        case .tokenDigest: "token"
        }
    }
}

/// The gateway cannot start as configured; says which option to change.
public struct GatewaySetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
