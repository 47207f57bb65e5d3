#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementMessaging
import ManagementTypes
import MessageSigning

/// A configuration with the operator's signed stage request it came from: what agents need
/// to run it (contract 3.0), kept with it wherever it goes.
struct SignedConfiguration: Sendable, Codable, Hashable {
    var config: Management.Configuration
    /// Nil only on an unsigned bus.
    var signature: SignedRecord?

    enum CodingKeys: String, CodingKey {
        case config
        case signature = "config_signature"
    }
}

/// The controller's configurations, kept in the compacted `Management.Controller.state`
/// topic under the keys `staged` and `deployed`, so that a restarted controller, or a standby
/// taking over, continues with them. Each record is signed by the controller that wrote it,
/// and a record that is not is ignored (the bus checks); the configuration inside carries the
/// operator's signature, so a forged or stolen-key record still runs nothing on any host.
struct ConfigurationStore: Sendable {
    enum Key: String, Sendable, CaseIterable {
        case staged, deployed
        /// Hosts enrolled through the controller: instance -> public key (trust-file form).
        case enrolled
    }

    struct Snapshot: Sendable {
        var staged: SignedConfiguration?
        var deployed: SignedConfiguration?
        var enrolled: [String: String] = [:]
    }

    let bus: any MessageBus
    let logger: Logger

    func save(_ config: SignedConfiguration, as key: Key) async throws {
        try await bus.store(config, key: key.rawValue, in: .controllerState)
    }

    func saveEnrolled(_ hosts: [String: String]) async throws {
        try await bus.store(hosts, key: Key.enrolled.rawValue, in: .controllerState)
    }

    /// The latest stored configurations; a value that does not decode is logged and skipped.
    func load() async throws -> Snapshot {
        let values = try await bus.storedValues(in: .controllerState)
        func decode(_ key: Key) -> SignedConfiguration? {
            guard let data = values[key.rawValue], !data.isEmpty else { return nil }
            do {
                return try ZeekJSON.decode(SignedConfiguration.self, from: data)
            } catch {
                logger.error("ignoring the persisted \(key.rawValue) configuration: \(error)")
                return nil
            }
        }
        var enrolled: [String: String] = [:]
        if let data = values[Key.enrolled.rawValue], !data.isEmpty {
            do {
                enrolled = try ZeekJSON.decode([String: String].self, from: data)
            } catch {
                logger.error("ignoring the persisted enrolled hosts: \(error)")
            }
        }
        return Snapshot(staged: decode(.staged), deployed: decode(.deployed), enrolled: enrolled)
    }
}
