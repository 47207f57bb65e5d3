import Foundation
import MessageSigning
import Testing

/// Keys in the formats operators already have, trust files, and what a signature covers.
@Suite("Message signing")
struct MessageSigningTests {
    private func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func keysMadeByOpenSSLAreReadAndAgreeWithTheirPublicKeys() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyPath = directory.appendingPathComponent("alice.pem").path
        let pubPath = directory.appendingPathComponent("alice.pub").path
        for arguments in [["genpkey", "-algorithm", "ed25519", "-out", keyPath], ["pkey", "-in", keyPath, "-pubout", "-out", pubPath]] {
            let openssl = Process()
            openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
            openssl.arguments = arguments
            try openssl.run()
            openssl.waitUntilExit()
            #expect(openssl.terminationStatus == 0)
        }
        chmod(keyPath, 0o600)
        let key = try SigningKey(file: keyPath)
        let keyring = try Keyring(parsing: "deploy alice \(pubPath)\n", directory: directory.path)
        #expect(keyring.principal(signingWith: key.publicKey.raw)?.name == "alice")
        // The one-line form is the PEM body.
        let body = try String(contentsOfFile: pubPath, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
        #expect(key.publicKey.line == body)
    }

    @Test func aKeyFileOthersMayReadIsRefused() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("loose.pem").path
        FileManager.default.createFile(atPath: path, contents: Data(SigningKey.generate().pem.utf8), attributes: [.posixPermissions: 0o644])
        #expect(throws: KeyError.self) { try SigningKey(file: path) }
    }

    @Test func trustFilesNameEveryPrincipalOnceAndSayWhatIsWrong() throws {
        let keys = (0..<200).map { _ in SigningKey.generate() }
        // Base64 keys often hold a `/`: they are still keys, not paths.
        let text = keys.enumerated().map { "host agent-\($0.offset) \($0.element.publicKey.line)  # a comment" }.joined(separator: "\n")
        let keyring = try Keyring(parsing: "# hosts\n\n" + text)
        #expect(keyring.all(.host).count == 200)
        #expect(keyring.principal(signingWith: keys[7].publicKey.raw) == Principal(kind: .host, name: "agent-7", key: keys[7].publicKey))
        let key = SigningKey.generate().publicKey.line
        #expect(throws: KeyError.self) { try Keyring(parsing: "admin root \(key)") }
        #expect(throws: KeyError.self) { try Keyring(parsing: "deploy alice") }
        #expect(throws: KeyError.self) { try Keyring(parsing: "deploy alice \(key)\nread bob \(key)") }
        #expect(throws: KeyError.self) { try Keyring(parsing: "deploy alice MCowBQYDK2VwAyEAnotakey") }
    }

    @Test func aSignatureCoversTopicKeyAndValue() throws {
        let key = SigningKey.generate()
        let value = Data(#"{"event":"e","args":{"reqid":"1"},"sender":"s","ts":1,"api_version":1}"#.utf8)
        let record = SignedRecord(signing: value, topic: "Management.Agent.API", key: Data("agent-a".utf8), with: key)
        #expect(record.verifies(with: key.publicKey))
        var other = record
        other.topic = "Supervisor.API"
        #expect(!other.verifies(with: key.publicKey))
        other = record
        other.key = Data("agent-b".utf8)
        #expect(!other.verifies(with: key.publicKey))
        other = record
        other.value = Data(value.dropLast()) + Data("}".utf8) + Data(" ".utf8)
        #expect(!other.verifies(with: key.publicKey))
        #expect(!record.verifies(with: SigningKey.generate().publicKey))
        // Lengths keep topic and key apart: moving a byte between them breaks the signature.
        let shifted = SignedRecord(topic: "Management.Agent.APIa", key: Data("gent-a".utf8), value: value, signer: record.signer, signature: record.signature)
        #expect(!shifted.verifies(with: key.publicKey))
    }

    @Test func aTrustFileIsReadAgainWhenItChanges() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("trust").path
        let alice = SigningKey.generate(), host = SigningKey.generate()
        try "deploy alice \(alice.publicKey.line)\n".write(toFile: path, atomically: true, encoding: .utf8)
        let store = try TrustStore(file: path, recheckInterval: .zero)
        #expect(store.principal(signingWith: host.publicKey.raw) == nil)
        try "deploy alice \(alice.publicKey.line)\nhost agent-a \(host.publicKey.line)\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(store.principal(signingWith: host.publicKey.raw)?.name == "agent-a")
        // A broken edit keeps what was trusted.
        try "host agent-a not-a-key\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(store.principal(signingWith: SigningKey.generate().publicKey.raw) == nil)
        #expect(store.principal(signingWith: alice.publicKey.raw)?.name == "alice")
    }
}

extension MessageSigningTests {
    /// Kubernetes mounts Secret files through symlinks (mode 777 themselves): what counts is
    /// the file they point to.
    @Test func aPrivateKeyBehindASymlinkIsRead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let target = directory.appendingPathComponent("key.pem").path, link = directory.appendingPathComponent("link.pem").path
        let key = SigningKey.generate()
        FileManager.default.createFile(atPath: target, contents: Data(key.pem.utf8), attributes: [.posixPermissions: 0o600])
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        #expect(try SigningKey(file: link).publicKey == key.publicKey)
    }
}

extension MessageSigningTests {
    /// A key taken out of the trust file is refused from then on, also while its holder keeps
    /// using it (the file is looked at on every lookup, at most once per interval).
    @Test func aKeyRemovedFromTheTrustFileIsRevokedAtOnce() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("signing-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("trust").path
        let stolen = SigningKey.generate(), kept = SigningKey.generate()
        try "host agent-a \(stolen.publicKey.line)\nhost agent-b \(kept.publicKey.line)\n".write(toFile: path, atomically: true, encoding: .utf8)
        let store = try TrustStore(file: path, recheckInterval: .zero)
        #expect(store.principal(signingWith: stolen.publicKey.raw)?.name == "agent-a")
        try "host agent-b \(kept.publicKey.line)\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(store.principal(signingWith: stolen.publicKey.raw) == nil)
        #expect(store.principal(signingWith: kept.publicKey.raw)?.name == "agent-b")
        // A broken edit is reported and changes nothing.
        try "host agent-b broken\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(store.principal(signingWith: kept.publicKey.raw)?.name == "agent-b")
        #expect(store.problem?.contains("stays in force") == true)
    }
}

/// The CURVE keys of encrypted ZeroMQ clusters, as ZeroMQ reads them.
@Suite("CURVE keys")
struct CurveKeysTests {
    @Test func z85EncodesAsTheSpecification() {
        // ZeroMQ RFC 32's test vector.
        #expect(CurveKeys.z85([0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B]) == "HelloWorld")
    }

    @Test func generatedKeysAreWrittenLoadedAndKeptSecret() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("curve-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let keys = CurveKeys.generate()
        #expect([keys.serverPublic, keys.serverSecret!, keys.clientPublic, keys.clientSecret].allSatisfy(CurveKeys.isKey))
        #expect(Set([keys.serverPublic, keys.serverSecret!, keys.clientPublic, keys.clientSecret]).count == 4)
        try keys.write(to: directory)
        #expect(try CurveKeys.load(directory: directory) == keys)
        let secret = try FileManager.default.attributesOfItem(atPath: "\(directory)/client.secret")[.posixPermissions] as? Int
        #expect(secret == 0o600)
        // A worker-only host needs no server secret; a missing client key is named.
        try FileManager.default.removeItem(atPath: "\(directory)/server.secret")
        #expect(try CurveKeys.load(directory: directory).serverSecret == nil)
        try "not a key\n".write(toFile: "\(directory)/client.public", atomically: true, encoding: .utf8)
        #expect(throws: CurveKeys.Problem.self) { try CurveKeys.load(directory: directory) }
        try FileManager.default.removeItem(atPath: "\(directory)/client.public")
        do {
            _ = try CurveKeys.load(directory: directory)
            Issue.record("loaded without client.public")
        } catch {
            #expect(error.description.contains("client.public is missing or unreadable: make the keys with `zeek-mgmt zeromq-keys DIR`"))
        }
    }
}
