import Crypto
import CryptoExtras
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An Ed25519 private key: what an operator, a controller or a host signs its messages with.
///
/// Read from and written as PKCS#8 PEM, the format `openssl genpkey -algorithm ed25519` writes,
/// so operators can make keys with the tools they already use.
public struct SigningKey: Sendable {
    let key: Curve25519.Signing.PrivateKey

    /// A new random key.
    public static func generate() -> SigningKey {
        SigningKey(key: Curve25519.Signing.PrivateKey())
    }

    init(key: Curve25519.Signing.PrivateKey) {
        self.key = key
    }

    /// Parses a PKCS#8 PEM document (`-----BEGIN PRIVATE KEY-----`).
    public init(pem: String) throws(KeyError) {
        do {
            key = try Curve25519.Signing.PrivateKey(pemRepresentation: pem)
        } catch {
            throw KeyError("not an Ed25519 private key in PKCS#8 PEM (as `openssl genpkey -algorithm ed25519` writes): \(error)")
        }
    }

    /// Reads a key file; refuses one that others may read, as ssh does, since whoever reads it
    /// can sign as its owner.
    public init(file path: String) throws(KeyError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw KeyError("cannot read the key file \(path); check --key / ZEEK_MGMT_KEY_FILE")
        }
        // What a symlink points to (Kubernetes mounts Secrets through two of them) is what others could read.
        if let attributes = try? FileManager.default.attributesOfItem(atPath: resolvingSymlinks(path)),
           let permissions = attributes[.posixPermissions] as? Int, permissions & 0o077 != 0 {
            throw KeyError("the key file \(path) may be read by others (mode \(String(permissions, radix: 8))); make it private: chmod 600 \(path)")
        }
        do throws(KeyError) {
            try self.init(pem: String(decoding: data, as: UTF8.self))
        } catch {
            throw KeyError("\(path): \(error.description)")
        }
    }

    /// PKCS#8 PEM, as `openssl genpkey -algorithm ed25519` writes it.
    public var pem: String { key.pemRepresentation }

    public var publicKey: VerifyingKey { VerifyingKey(key: key.publicKey) }

    /// The Ed25519 signature of `data`.
    public func signature(for data: some DataProtocol) -> Data {
        // Ed25519 signing is deterministic and fails only for a broken key, which
        // `Curve25519.Signing.PrivateKey` cannot hold.
        (try? key.signature(for: data)) ?? Data()
    }
}

/// An Ed25519 public key: whose signature a receiver accepts.
public struct VerifyingKey: Sendable, Hashable {
    let key: Curve25519.Signing.PublicKey
    /// The 32 raw key bytes: how the key is named in a message's `signer` header.
    public let raw: Data

    init(key: Curve25519.Signing.PublicKey) {
        self.key = key
        raw = key.rawRepresentation
    }

    /// The key whose 32 raw bytes are `raw`.
    public init(raw: Data) throws(KeyError) {
        do {
            self.init(key: try Curve25519.Signing.PublicKey(rawRepresentation: raw))
        } catch {
            throw KeyError("not a 32-byte Ed25519 public key")
        }
    }

    /// Parses a SubjectPublicKeyInfo PEM document (`-----BEGIN PUBLIC KEY-----`, as
    /// `openssl pkey -pubout` writes), or its body alone on one line (the base64 of the DER).
    public init(text: String) throws(KeyError) {
        let trimmed = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        do {
            if trimmed.hasPrefix("-----BEGIN") {
                self.init(key: try Curve25519.Signing.PublicKey(pemRepresentation: trimmed))
            } else if let der = Data(base64Encoded: trimmed) {
                self.init(key: try Curve25519.Signing.PublicKey(derRepresentation: der))
            } else {
                throw KeyError("not base64")
            }
        } catch {
            throw KeyError("not an Ed25519 public key (PEM, or the base64 body of one): \(error)")
        }
    }

    /// SubjectPublicKeyInfo PEM, as `openssl pkey -pubout` writes it.
    public var pem: String { key.pemRepresentation }

    /// The PEM body on one line: how a key is written in a trust file.
    public var line: String { key.derRepresentation.base64EncodedString() }

    /// The base64 of the raw key bytes: the `signer` header.
    public var headerValue: String { raw.base64EncodedString() }

    public func isValidSignature(_ signature: some DataProtocol, for data: some DataProtocol) -> Bool {
        key.isValidSignature(signature, for: data)
    }

    public static func == (lhs: VerifyingKey, rhs: VerifyingKey) -> Bool { lhs.raw == rhs.raw }
    public func hash(into hasher: inout Hasher) { hasher.combine(raw) }
}

/// A key or trust file that cannot be used, and why.
public struct KeyError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// `path` with every symbolic link in it followed, or `path` itself if that fails.
func resolvingSymlinks(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}
