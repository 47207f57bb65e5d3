import Foundation
import ManagementTypes

/// Answers `node_dispatch_request` actions the way a Zeek node's management script does.
struct Dispatcher: Sendable {
    let identity: NodeIdentity

    /// The Result for `action`, with `data` holding the JSON text of the value on success.
    func result(reqid: String, action: [String]) -> Management.Result {
        var result = Management.Result(reqid: reqid, node: identity.name)
        guard let command = action.first else {
            return failed(result, "no dispatch arguments provided")
        }
        switch command {
        case "get_id_value":
            guard action.count > 1 else { return failed(result, "get_id_value expects name of global identifier") }
            if Self.typeNames.contains(action[1]) { return failed(result, "no ID value") }
            guard let value = value(of: action[1]) else { return failed(result, "unknown id") }
            result.data = .string(value)
            return result
        default:
            return failed(result, "dispatch \(command) unknown")
        }
    }

    private func failed(_ result: Management.Result, _ error: String) -> Management.Result {
        var result = result
        result.success = false
        result.error = error
        return result
    }

    /// The JSON rendering (Zeek `to_json`) of a global identifier this node knows.
    func value(of identifier: String) -> String? {
        switch identifier {
        case "Cluster::node":
            return json(identifier: identity.name)
        case "Cluster::local_node_type":
            return json(identifier: "Cluster::\(identity.role.rawValue)")
        case "Cluster::nodes":
            return try? ZeekJSON.encodeString(clusterNodes)
        default:
            if let option = identity.options.last(where: { $0.name == identifier }) { return json(identifier: option.value) }
            return Self.defaults[identifier]
        }
    }

    /// Globals of every Zeek node that operators ask for, with Zeek's defaults as JSON.
    static let defaults: [String: String] = [
        "bits_per_uid": "96",
        "Log::default_rotation_interval": "0.0",
        "Broker::default_port": "\"9999/tcp\"",
        "Management::Node::node_topic": "\"zeek/management/node\"",
    ]

    /// Identifiers that name types: Zeek has them, but without a value.
    static let typeNames: Set<String> = [
        "conn_id", "connection", "count", "string", "Cluster::Node", "Management::Result", "Management::NodeStatus",
    ]

    private func json(identifier value: String) -> String {
        (try? ZeekJSON.encodeString(value)) ?? "null"
    }

    /// `Cluster::nodes` as Zeek builds it from the supervisor's layout: one `Cluster::Node`
    /// per entry, with `manager` naming the manager for every other node.
    private var clusterNodes: [String: ClusterNode] {
        let manager = identity.config.cluster.first { $0.value.role == .manager }?.key
        return identity.config.cluster.mapValues { endpoint in
            ClusterNode(
                nodeType: "Cluster::\(endpoint.role.rawValue)",
                ip: endpoint.host,
                port: endpoint.port,
                interface: endpoint.interface,
                manager: endpoint.role == .manager ? nil : manager,
                metricsPort: endpoint.metricsPort
            )
        }
    }

    /// Zeek's `Cluster::Node` record.
    struct ClusterNode: Encodable {
        var nodeType: String
        var ip: IPAddress
        var zoneID = ""
        var port: ZeekPort
        var interface: String?
        var manager: String?
        var metricsPort: ZeekPort?

        enum CodingKeys: String, CodingKey {
            case nodeType = "node_type", ip, zoneID = "zone_id", port = "p", interface, manager, metricsPort = "metrics_port"
        }
    }
}
