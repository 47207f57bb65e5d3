#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementMessaging
import ManagementTypes

/// The controller's configurations, kept in the compacted `Management.Controller.state`
/// topic under the keys `staged` and `deployed`, so that a restarted controller, or a standby
/// taking over, continues with them.
struct ConfigurationStore: Sendable {
    enum Key: String, Sendable, CaseIterable {
        case staged, deployed
    }

    struct Snapshot: Sendable {
        var staged: Management.Configuration?
        var deployed: Management.Configuration?
    }

    let bus: any MessageBus
    let logger: Logger

    func save(_ config: Management.Configuration, as key: Key) async throws {
        try await bus.store(config, key: key.rawValue, in: .controllerState)
    }

    /// The latest stored configurations; a value that does not decode is logged and skipped.
    func load() async throws -> Snapshot {
        let values = try await bus.storedValues(in: .controllerState)
        func decode(_ key: Key) -> Management.Configuration? {
            guard let data = values[key.rawValue], !data.isEmpty else { return nil }
            do {
                return try ZeekJSON.decode(Management.Configuration.self, from: data)
            } catch {
                logger.error("ignoring the persisted \(key.rawValue) configuration: \(error)")
                return nil
            }
        }
        return Snapshot(staged: decode(.staged), deployed: decode(.deployed))
    }
}
