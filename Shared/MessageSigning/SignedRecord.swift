#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// What a signature covers: the topic a record was written to, its key and its value (the
/// whole envelope: event, arguments with the reqid, sender, target, ts).
///
/// The bytes signed are, with lengths as 4-byte big-endian integers:
///
///     "zeek-mgmt/3" || len(topic) || topic || len(key) || key || value
///
/// The topic is the Kafka topic name as written (with the deployment's prefix), so a record
/// cannot be moved to another topic, and the key so it cannot be moved to another host's
/// partition. Headers are not covered: receivers trust only the envelope.
public struct SignedRecord: Sendable, Hashable, Codable {
    public var topic: String
    public var key: Data
    public var value: Data
    /// The signer's raw Ed25519 public key (32 bytes).
    public var signer: Data
    /// The Ed25519 signature (64 bytes) of ``signedBytes``.
    public var signature: Data

    /// The domain of every signature of this contract version: a signature made for anything
    /// else never verifies here.
    public static let domain = "zeek-mgmt/3"

    /// Header names that carry a record's signature.
    public enum Header {
        /// The base64 of the signer's raw 32-byte public key.
        public static let signer = "signer"
        /// The base64 of the 64-byte Ed25519 signature.
        public static let signature = "signature"
    }

    public init(topic: String, key: Data, value: Data, signer: Data, signature: Data) {
        self.topic = topic
        self.key = key
        self.value = value
        self.signer = signer
        self.signature = signature
    }

    /// Signs a record with `key`.
    public init(signing value: Data, topic: String, key recordKey: Data, with key: SigningKey) {
        self.init(topic: topic, key: recordKey, value: value, signer: key.publicKey.raw,
                  signature: key.signature(for: Self.signedBytes(topic: topic, key: recordKey, value: value)))
    }

    public static func signedBytes(topic: String, key: Data, value: Data) -> Data {
        var bytes = Data()
        bytes.reserveCapacity(domain.utf8.count + 8 + topic.utf8.count + key.count + value.count)
        bytes.append(contentsOf: domain.utf8)
        func appendLength(_ count: Int) {
            withUnsafeBytes(of: UInt32(truncatingIfNeeded: count).bigEndian) { bytes.append(contentsOf: $0) }
        }
        appendLength(topic.utf8.count)
        bytes.append(contentsOf: topic.utf8)
        appendLength(key.count)
        bytes.append(key)
        bytes.append(value)
        return bytes
    }

    /// Whether the signature is the signer's, over this topic, key and value.
    public func verifies(with key: VerifyingKey) -> Bool {
        key.raw == signer && key.isValidSignature(signature, for: Self.signedBytes(topic: topic, key: self.key, value: value))
    }

    /// The header values that carry the signature (base64).
    public var headerValues: (signer: String, signature: String) {
        (signer.base64EncodedString(), signature.base64EncodedString())
    }

    enum CodingKeys: String, CodingKey {
        case topic, key, value, signer, signature
    }

    // Bytes travel as base64 strings in JSON (a warrant inside a request, a state record).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func bytes(_ key: CodingKeys, limit: Int) throws -> Data {
            let text = try c.decode(String.self, forKey: key)
            guard text.utf8.count <= limit * 4 / 3 + 4, let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: c, debugDescription: "not base64 of at most \(limit) bytes")
            }
            return data
        }
        topic = try c.decode(String.self, forKey: .topic)
        key = try bytes(.key, limit: 4096)
        value = try bytes(.value, limit: 16 << 20)
        signer = try bytes(.signer, limit: 32)
        signature = try bytes(.signature, limit: 64)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(topic, forKey: .topic)
        try c.encode(key.base64EncodedString(), forKey: .key)
        try c.encode(value.base64EncodedString(), forKey: .value)
        try c.encode(signer.base64EncodedString(), forKey: .signer)
        try c.encode(signature.base64EncodedString(), forKey: .signature)
    }
}
