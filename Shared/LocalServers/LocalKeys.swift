import Foundation
import MessageSigning
import Synchronization

/// Keys and a trust file for the services a test or benchmark starts: a `deploy` operator
/// (`alice`), a `read` operator (`bob`), the controller, the zeek-client gateway's operator
/// key, and one key per host, made when a host is first named and added to the trust file at
/// once (services read it again when it changes).
///
/// One set per process, in a private temporary directory.
public final class LocalKeys: Sendable {
    public static let shared: LocalKeys = {
        do {
            return try LocalKeys()
        } catch {
            fatalError("cannot make test keys: \(error)")
        }
    }()

    public let directory: String
    public var trustFile: String { directory + "/trust" }
    public let deployer: String
    public let reader: String
    public let controller: String
    public let gateway: String
    private let hosts = Mutex<[String: String]>([:])

    private init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("zeek-mgmt-keys-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        deployer = directory + "/alice.pem"
        reader = directory + "/bob.pem"
        controller = directory + "/controller.pem"
        gateway = directory + "/zeek-client-gateway.pem"
        var lines = ["# made by LocalKeys for a test run"]
        for (path, kind, name) in [(deployer, "deploy", "alice"), (reader, "read", "bob"), (controller, "controller", "controller"),
                                   (gateway, "deploy", "zeek-client-gateway")] {
            lines.append("\(kind) \(name) \(try Self.write(path))")
        }
        try (lines.joined(separator: "\n") + "\n").write(toFile: directory + "/trust", atomically: true, encoding: .utf8)
    }

    /// The key file of host `instance`, enrolled in the trust file the first time.
    public func host(_ instance: String) -> String {
        hosts.withLock { hosts in
            if let path = hosts[instance] { return path }
            let path = directory + "/host-\(instance.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }.map(String.init).joined()).pem"
            if let line = try? Self.write(path), let handle = FileHandle(forWritingAtPath: trustFile) {
                handle.seekToEndOfFile()
                handle.write(Data("host \(instance) \(line)\n".utf8))
                try? handle.close()
            }
            hosts[instance] = path
            return path
        }
    }

    /// The environment that gives a service process the key at `key` and this trust file.
    public func environment(key: String) -> [String: String] {
        ["ZEEK_MGMT_KEY_FILE": key, "ZEEK_MGMT_TRUST_FILE": trustFile]
    }

    /// The key and trust file each of the project's executables runs with, as a deployment
    /// gives them: the controller its own (and the gateway's operator key), each host's
    /// processes their host's, zeek-mgmt the deploy operator's; nothing for other programs.
    public func environment(forExecutable name: String, arguments: [String], environment: [String: String] = [:]) -> [String: String] {
        func instance() -> String {
            if let index = arguments.firstIndex(of: "--instance"), index + 1 < arguments.count { return arguments[index + 1] }
            if let name = environment["ZEEK_MGMT_INSTANCE"] ?? ProcessInfo.processInfo.environment["ZEEK_MGMT_INSTANCE"] { return name }
            return "agent-" + (ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost")
        }
        // A test that gives a process its own key (an unenrolled host's) gets only the trust file.
        if environment["ZEEK_MGMT_KEY_FILE"] != nil { return ["ZEEK_MGMT_TRUST_FILE": trustFile] }
        switch name {
        case "controller-service":
            return self.environment(key: controller).merging(["ZEEK_MGMT_GATEWAY_KEY_FILE": gateway]) { $1 }
        case "agent-service", "supervisor-service", "cluster-node":
            return self.environment(key: host(instance()))
        case "zeek-mgmt":
            return self.environment(key: deployer)
        default:
            return [:]
        }
    }

    /// The trust store of this set, as a service reads it.
    public func trustStore() throws -> TrustStore { try TrustStore(file: trustFile) }

    /// Reads the private key at `path` (one of this set's).
    public func signingKey(_ path: String) throws -> SigningKey { try SigningKey(file: path) }

    /// Writes a new private key (mode 600) and returns its public key's trust-file form.
    private static func write(_ path: String) throws -> String {
        let key = SigningKey.generate()
        guard FileManager.default.createFile(atPath: path, contents: Data(key.pem.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw KeyError("cannot write \(path)")
        }
        return key.publicKey.line
    }
}
