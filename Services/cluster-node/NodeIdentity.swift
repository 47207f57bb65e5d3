import Foundation
import ManagementTypes

/// Who this node is and what it knows about its cluster, from what the supervisor handed it:
/// `CLUSTER_NODE`; the whole node configuration, cluster layout included, in
/// `supervised-node.json` in its working directory (else the node's own configuration in
/// `ZEEK_SUPERVISED_NODE`, which has no layout); and the Management options in
/// `ZEEK_MGMT_NODE_OPTIONS`.
struct NodeIdentity: Sendable {
    var name: String
    var instance: String
    var config: Supervisor.NodeConfig
    var options: [Management.Option]

    init(name explicitName: String?, instance: String, environment: [String: String],
         directory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) throws {
        var config = Supervisor.NodeConfig(name: "")
        let file = directory.appendingPathComponent(Supervisor.NodeConfig.fileName)
        let source: (data: Data, name: String)? =
            if let data = FileManager.default.contents(atPath: file.path) { (data, file.path) }
            else if let json = environment["ZEEK_SUPERVISED_NODE"] { (Data(json.utf8), "ZEEK_SUPERVISED_NODE") }
            else { nil }
        if let source {
            do {
                config = try ZeekJSON.decode(Supervisor.NodeConfig.self, from: source.data)
            } catch {
                throw NodeIdentityError("\(source.name) is not a valid node configuration: \(error)")
            }
        }
        guard let name = explicitName ?? environment["CLUSTER_NODE"] ?? (config.name.isEmpty ? nil : config.name), !name.isEmpty else {
            throw NodeIdentityError("no node name: pass --node NAME or set CLUSTER_NODE")
        }
        var options: [Management.Option] = []
        if let json = environment[Management.Option.environmentVariable] {
            do {
                options = try ZeekJSON.decode([Management.Option].self, from: Data(json.utf8))
            } catch {
                throw NodeIdentityError("\(Management.Option.environmentVariable) is not a JSON array of options: \(error)")
            }
        }
        self.name = name
        self.instance = instance
        self.config = config
        self.options = options
    }

    /// This node's role in the layout; NONE outside a cluster.
    var role: Supervisor.ClusterRole { config.cluster[name]?.role ?? .none }
}

struct NodeIdentityError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
