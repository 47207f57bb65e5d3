import ManagementTypes
import MessageSigning

/// `Management::Agent::API`: between the controller and one agent, on `Management.Agent.API`
/// (target = the agent's instance); notifications on `Management.Agent.API.notify`.
public enum AgentAPI {
    public struct DeployRequest: ManagementRequest {
        public static let eventName = "Management::Agent::API::deploy_request"
        public typealias Response = DeployResponse
        public var reqid: String
        public var config: Management.Configuration
        public var force: Bool
        /// The operator's signed stage request that `config` completes (contract 3.0): an
        /// agent runs only a configuration a `deploy` operator signed.
        public var configSignature: SignedRecord?

        public init(reqid: String, config: Management.Configuration, force: Bool = false, configSignature: SignedRecord? = nil) {
            self.reqid = reqid
            self.config = config
            self.force = force
            self.configSignature = configSignature
        }

        enum CodingKeys: String, CodingKey { case reqid, config, force, configSignature = "config_signature" }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            reqid = try c.decode(String.self, forKey: .reqid)
            config = try c.decode(Management.Configuration.self, forKey: .config)
            force = try c.decodeIfPresent(Bool.self, forKey: .force) ?? false
            configSignature = try c.decodeIfPresent(SignedRecord.self, forKey: .configSignature)
        }
    }

    public struct DeployResponse: ResultsResponse {
        public static let eventName = "Management::Agent::API::deploy_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    /// Would this agent's nodes of `config` start? Sent by the controller to every agent
    /// before a deploy, so that a configuration Zeek rejects on any host changes nothing on
    /// any host. Each failing node gets a failed Result with Zeek's error text; an agent
    /// whose nodes all pass answers one successful Result. (Beyond Zeek's API.)
    public struct CheckRequest: ManagementRequest {
        public static let eventName = "Management::Agent::API::check_request"
        public typealias Response = CheckResponse
        public var reqid: String
        public var config: Management.Configuration
        /// As ``DeployRequest/configSignature``.
        public var configSignature: SignedRecord?

        public init(reqid: String, config: Management.Configuration, configSignature: SignedRecord? = nil) {
            self.reqid = reqid
            self.config = config
            self.configSignature = configSignature
        }

        enum CodingKeys: String, CodingKey { case reqid, config, configSignature = "config_signature" }
    }

    /// Deploy the configuration this agent passed a check of (``CheckRequest``) under
    /// `config_id`. The controller sends it after every agent passed the check, so that a deploy
    /// carries the configuration through the broker once, with the check, rather than twice.
    /// Answered with a ``DeployResponse``; an agent that holds no checked configuration of that
    /// id (it restarted since) answers one failed Result with ``notChecked(_:)``'s text, and
    /// is then sent the whole configuration. (Contract 2.0, beyond Zeek's API.)
    public struct DeployCheckedRequest: ManagementRequest {
        public static let eventName = "Management::Agent::API::deploy_checked_request"
        public typealias Response = DeployResponse
        public var reqid: String
        public var config_id: String
        public var force: Bool

        public init(reqid: String, configID: String, force: Bool = false) {
            self.reqid = reqid
            self.config_id = configID
            self.force = force
        }

        enum CodingKeys: String, CodingKey { case reqid, config_id, force }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            reqid = try c.decode(String.self, forKey: .reqid)
            config_id = try c.decode(String.self, forKey: .config_id)
            force = try c.decodeIfPresent(Bool.self, forKey: .force) ?? false
        }

        /// The error of an agent that did not check configuration `id`.
        public static func notChecked(_ id: String) -> String {
            "configuration \(id) was not checked on this agent"
        }
    }

    public struct CheckResponse: ResultsResponse {
        public static let eventName = "Management::Agent::API::check_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    public struct GetNodesRequest: ManagementRequest {
        public static let eventName = "Management::Agent::API::get_nodes_request"
        public typealias Response = GetNodesResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    /// `result.data` is the vector of `Management::NodeStatus`.
    public struct GetNodesResponse: ResultResponse {
        public static let eventName = "Management::Agent::API::get_nodes_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    public struct NodeDispatchRequest: ManagementRequest {
        public static let eventName = "Management::Agent::API::node_dispatch_request"
        public typealias Response = NodeDispatchResponse
        public var reqid: String
        public var action: [String]
        @ZeekSet public var nodes: Set<String>

        public init(reqid: String, action: [String], nodes: Set<String> = []) {
            self.reqid = reqid
            self.action = action
            self.nodes = nodes
        }
    }

    public struct NodeDispatchResponse: ResultsResponse {
        public static let eventName = "Management::Agent::API::node_dispatch_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    public struct AgentWelcomeRequest: ManagementRequest {
        public static let eventName = "Management::Agent::API::agent_welcome_request"
        public typealias Response = AgentWelcomeResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    public struct AgentWelcomeResponse: ResultResponse {
        public static let eventName = "Management::Agent::API::agent_welcome_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    public struct AgentStandbyRequest: ManagementRequest {
        public static let eventName = "Management::Agent::API::agent_standby_request"
        public typealias Response = AgentStandbyResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    public struct AgentStandbyResponse: ResultResponse {
        public static let eventName = "Management::Agent::API::agent_standby_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    public struct RestartRequest: ManagementRequest {
        public static let eventName = "Management::Agent::API::restart_request"
        public typealias Response = RestartResponse
        public var reqid: String
        @ZeekSet public var nodes: Set<String>

        public init(reqid: String, nodes: Set<String> = []) {
            self.reqid = reqid
            self.nodes = nodes
        }
    }

    public struct RestartResponse: ResultsResponse {
        public static let eventName = "Management::Agent::API::restart_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    /// Check-in and heartbeat. `host` is beyond Zeek: the agent's address as peers would see it.
    public struct NotifyAgentHello: ManagementEvent {
        public static let eventName = "Management::Agent::API::notify_agent_hello"
        public var instance: String
        public var id: String
        public var connecting: Bool
        public var api_version: Int
        public var host: IPAddress?

        public init(instance: String, id: String, connecting: Bool = true, api_version: Int = 1, host: IPAddress? = nil) {
            self.instance = instance
            self.id = id
            self.connecting = connecting
            self.api_version = api_version
            self.host = host
        }
    }

    public struct NotifyChange: ManagementEvent {
        public static let eventName = "Management::Agent::API::notify_change"
        public var instance: String
        public var n: Management.Node
        public var old: Management.State
        public var new: Management.State

        public init(instance: String, n: Management.Node, old: Management.State, new: Management.State) {
            self.instance = instance
            self.n = n
            self.old = old
            self.new = new
        }
    }

    public struct NotifyError: ManagementEvent {
        public static let eventName = "Management::Agent::API::notify_error"
        public var instance: String
        public var msg: String
        public var node: String
        public init(instance: String, msg: String, node: String = "") { self.instance = instance; self.msg = msg; self.node = node }
    }

    public struct NotifyLog: ManagementEvent {
        public static let eventName = "Management::Agent::API::notify_log"
        public var instance: String
        public var msg: String
        public var node: String
        public init(instance: String, msg: String, node: String = "") { self.instance = instance; self.msg = msg; self.node = node }
    }
}
