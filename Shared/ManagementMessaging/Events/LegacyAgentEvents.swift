import ManagementTypes
import MessageSigning

/// The legacy `ClusterAgent::API` (Zeek 4.1 - 5.0-dev), on `ClusterAgent.API`: requests are
/// answered with the legacy `ClusterController::Types` records.
public enum ClusterAgentAPI {
    /// Stage and deploy in one step.
    public struct SetConfigurationRequest: ManagementRequest {
        public static let eventName = "ClusterAgent::API::set_configuration_request"
        public typealias Response = SetConfigurationResponse
        public var reqid: String
        public var config: ClusterController.Types.Configuration
        /// As ``AgentAPI/DeployRequest/configSignature``: required by agents since contract 3.0.
        public var configSignature: SignedRecord?

        public init(reqid: String, config: ClusterController.Types.Configuration, configSignature: SignedRecord? = nil) {
            self.reqid = reqid
            self.config = config
            self.configSignature = configSignature
        }

        enum CodingKeys: String, CodingKey { case reqid, config, configSignature = "config_signature" }
    }

    public struct SetConfigurationResponse: LegacyResultResponse {
        public static let eventName = "ClusterAgent::API::set_configuration_response"
        public var reqid: String
        public var result: ClusterController.Types.Result
        public init(reqid: String, result: ClusterController.Types.Result) { self.reqid = reqid; self.result = result }
    }

    public struct GetNodesRequest: ManagementRequest {
        public static let eventName = "ClusterAgent::API::get_nodes_request"
        public typealias Response = GetNodesResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    /// `result.data` is the vector of legacy `NodeStatus`.
    public struct GetNodesResponse: LegacyResultResponse {
        public static let eventName = "ClusterAgent::API::get_nodes_response"
        public var reqid: String
        public var result: ClusterController.Types.Result
        public init(reqid: String, result: ClusterController.Types.Result) { self.reqid = reqid; self.result = result }
    }

    public struct AgentWelcomeRequest: ManagementRequest {
        public static let eventName = "ClusterAgent::API::agent_welcome_request"
        public typealias Response = AgentWelcomeResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    public struct AgentWelcomeResponse: LegacyResultResponse {
        public static let eventName = "ClusterAgent::API::agent_welcome_response"
        public var reqid: String
        public var result: ClusterController.Types.Result
        public init(reqid: String, result: ClusterController.Types.Result) { self.reqid = reqid; self.result = result }
    }

    public struct AgentStandbyRequest: ManagementRequest {
        public static let eventName = "ClusterAgent::API::agent_standby_request"
        public typealias Response = AgentStandbyResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    public struct AgentStandbyResponse: LegacyResultResponse {
        public static let eventName = "ClusterAgent::API::agent_standby_response"
        public var reqid: String
        public var result: ClusterController.Types.Result
        public init(reqid: String, result: ClusterController.Types.Result) { self.reqid = reqid; self.result = result }
    }

    /// Legacy check-in: the agent's address instead of an endpoint id, no `connecting` flag.
    public struct NotifyAgentHello: ManagementEvent {
        public static let eventName = "ClusterAgent::API::notify_agent_hello"
        public var instance: String
        public var host: IPAddress
        public var api_version: Int
        public init(instance: String, host: IPAddress, api_version: Int = 1) { self.instance = instance; self.host = host; self.api_version = api_version }
    }
}

extension Management.Configuration {
    /// The modern form of a legacy configuration (node states are desired states; the modern
    /// framework always asks for RUNNING).
    public init(legacy: ClusterController.Types.Configuration) {
        self.init(id: legacy.id, instances: legacy.instances, nodes: Set(legacy.nodes.map { node in
            Management.Node(name: node.name, instance: node.instance, role: node.role, state: .running, port: node.port,
                            scripts: node.scripts, options: node.options, interface: node.interface,
                            cpuAffinity: node.cpuAffinity, env: node.env)
        }))
    }
}

extension ClusterController.Types.NodeStatus {
    /// The legacy form of a node status (no NODE role, no metrics port).
    public init(_ status: Management.NodeStatus) {
        let role: ClusterController.Types.Role = switch status.mgmtRole {
        case .agent: .agent
        case .controller: .controller
        case .none, .node: .none
        }
        self.init(node: status.node, state: ClusterController.Types.State(rawValue: status.state.rawValue) ?? .unknown,
                  mgmtRole: role, clusterRole: status.clusterRole, pid: status.pid, port: status.port)
    }
}

extension ClusterController.Types.Result {
    /// The legacy form of a Result: unset instance and error become empty strings.
    public init(_ result: Management.Result) {
        self.init(reqid: result.reqid, instance: result.instance ?? "", success: result.success,
                  data: result.data, error: result.error ?? "", node: result.node)
    }

    /// The legacy form of a get_nodes Result, its node statuses in their legacy form.
    public init(nodes result: Management.Result) {
        self.init(result)
        if let statuses = try? result.data?.decode(as: [Management.NodeStatus].self) {
            data = try? JSONValue(encoding: statuses.map(ClusterController.Types.NodeStatus.init))
        }
    }

    /// One legacy Result for an instance's deploy Results, which the legacy API reports as one:
    /// successful if all were, else naming every failure (`node: error`, separated by `; `).
    public init(reqid: String, instance: String, summarizing results: [Management.Result]) {
        let failures = results.filter { !$0.success }
        self.init(reqid: reqid, instance: instance, success: failures.isEmpty, error: failures.map { failure in
            [failure.node, failure.error].compactMap { $0 }.joined(separator: ": ")
        }.joined(separator: "; "))
    }
}
