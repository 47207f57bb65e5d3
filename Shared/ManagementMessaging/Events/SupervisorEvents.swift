import ManagementTypes

/// `SupervisorControl::` requests and responses, on `Supervisor.API` (target = the instance).
public enum SupervisorControl {
    /// Create and start a node. Answered with ``CreateResponse``: `""` on success, else the error.
    public struct CreateRequest: ManagementRequest {
        public static let eventName = "SupervisorControl::create_request"
        public typealias Response = CreateResponse
        public var reqid: String
        public var node: Supervisor.NodeConfig
        public init(reqid: String, node: Supervisor.NodeConfig) { self.reqid = reqid; self.node = node }
    }

    public struct CreateResponse: ManagementResponse {
        public static let eventName = "SupervisorControl::create_response"
        public var reqid: String
        public var result: String
        public init(reqid: String, result: String) { self.reqid = reqid; self.result = result }
        public init(reqid: String, failure error: String, instance: String?) { self.init(reqid: reqid, result: error) }
        public var succeeded: Bool { result.isEmpty }
    }

    /// Status of one node, or of all when `node` is empty.
    public struct StatusRequest: ManagementRequest {
        public static let eventName = "SupervisorControl::status_request"
        public typealias Response = StatusResponse
        public var reqid: String
        public var node: String
        public init(reqid: String, node: String = "") { self.reqid = reqid; self.node = node }
    }

    public struct StatusResponse: ManagementResponse {
        public static let eventName = "SupervisorControl::status_response"
        public var reqid: String
        public var result: Supervisor.Status
        public init(reqid: String, result: Supervisor.Status) { self.reqid = reqid; self.result = result }
        /// Zeek's supervisor has no failed status: an unservable request lists no nodes.
        public init(reqid: String, failure error: String, instance: String?) { self.init(reqid: reqid, result: Supervisor.Status()) }
        public var succeeded: Bool { true }
    }

    /// Restart one node, or all when `node` is empty.
    public struct RestartRequest: ManagementRequest {
        public static let eventName = "SupervisorControl::restart_request"
        public typealias Response = RestartResponse
        public var reqid: String
        public var node: String
        public init(reqid: String, node: String = "") { self.reqid = reqid; self.node = node }
    }

    /// `result` is false when the node is unknown.
    public struct RestartResponse: ManagementResponse {
        public static let eventName = "SupervisorControl::restart_response"
        public var reqid: String
        public var result: Bool
        public init(reqid: String, result: Bool) { self.reqid = reqid; self.result = result }
        public init(reqid: String, failure error: String, instance: String?) { self.init(reqid: reqid, result: false) }
        public var succeeded: Bool { result }
    }

    /// Stop and forget one node, or all when `node` is empty.
    public struct DestroyRequest: ManagementRequest {
        public static let eventName = "SupervisorControl::destroy_request"
        public typealias Response = DestroyResponse
        public var reqid: String
        public var node: String
        public init(reqid: String, node: String = "") { self.reqid = reqid; self.node = node }
    }

    /// `result` is false when the node is unknown.
    public struct DestroyResponse: ManagementResponse {
        public static let eventName = "SupervisorControl::destroy_response"
        public var reqid: String
        public var result: Bool
        public init(reqid: String, result: Bool) { self.reqid = reqid; self.result = result }
        public init(reqid: String, failure error: String, instance: String?) { self.init(reqid: reqid, result: false) }
        public var succeeded: Bool { result }
    }

    /// Stop every node and the supervisor itself. Has no response.
    public struct StopRequest: ManagementEvent {
        public static let eventName = "SupervisorControl::stop_request"
        public init() {}
    }
}

/// `Management::Supervisor::API` requests, beyond what Zeek's supervisor offers, on
/// `Supervisor.API` (target = the instance).
public enum SupervisorManagement {
    /// Would this node start? Asked by the agent for every node of a configuration before it
    /// stops anything: Zeek parses the scripts the node would load (`zeek --parse-only` with
    /// the node's environment and generated cluster layout). Answered with ``CheckResponse``.
    public struct CheckRequest: ManagementRequest {
        public static let eventName = "Management::Supervisor::API::check_request"
        public typealias Response = CheckResponse
        public var reqid: String
        public var node: Supervisor.NodeConfig
        public init(reqid: String, node: Supervisor.NodeConfig) { self.reqid = reqid; self.node = node }
    }

    /// `""` when the node would start, else what is wrong (Zeek's own error text). From
    /// contract 3.1 also which Zeek the host runs (`zeek_version`) and the cluster backend
    /// the node would use there (`cluster_backend`); both absent for the stand-in node.
    public struct CheckResponse: ManagementResponse {
        public static let eventName = "Management::Supervisor::API::check_response"
        public var reqid: String
        public var result: String
        public var zeekVersion: String?
        public var clusterBackend: ClusterBackend.Name?
        public init(reqid: String, result: String, zeekVersion: String? = nil, clusterBackend: ClusterBackend.Name? = nil) {
            self.reqid = reqid
            self.result = result
            self.zeekVersion = zeekVersion
            self.clusterBackend = clusterBackend
        }

        enum CodingKeys: String, CodingKey {
            case reqid, result
            case zeekVersion = "zeek_version"
            case clusterBackend = "cluster_backend"
        }
        public init(reqid: String, failure error: String, instance: String?) { self.init(reqid: reqid, result: error) }
        public var succeeded: Bool { result.isEmpty }
    }
}

/// What a supervisor announces on `Supervisor.API.notify`.
public enum SupervisorNotification {
    /// A supervisor started (`Management::Supervisor::API::notify_supervisor_hello`, beyond
    /// Zeek, whose supervisor is the parent of its agent): its nodes of before are gone, so its
    /// agent makes what runs match what is deployed again. `id` is new for every process.
    public struct SupervisorHello: ManagementEvent {
        public static let eventName = "Management::Supervisor::API::notify_supervisor_hello"
        public var instance: String
        public var id: String
        public init(instance: String, id: String) { self.instance = instance; self.id = id }
    }

    /// A node was (re)started with a new process (`Supervisor::node_status`).
    public struct NodeStatus: ManagementEvent {
        public static let eventName = "Supervisor::node_status"
        public var node: String
        public var pid: Int
        public init(node: String, pid: Int) { self.node = node; self.pid = pid }
    }

    /// A node's process ended (`Management::Supervisor::API::notify_node_exit`).
    ///
    /// `exit` and `pid` are arguments beyond Zeek's: how the process ended (e.g. `exited with
    /// status 3`, `killed by signal 9`) and which process it was, so a late report about an
    /// earlier process is not mistaken for one about the node's current process. `reason`
    /// (contract 3.1) says why, when the supervisor knows: `memory` for a node that reached its
    /// `memory_max`.
    public struct NodeExit: ManagementEvent {
        public static let eventName = "Management::Supervisor::API::notify_node_exit"
        public var node: String
        public var outputs: Management.NodeOutputs
        public var exit: String?
        public var pid: Int?
        public var reason: Reason?
        public init(node: String, outputs: Management.NodeOutputs, exit: String? = nil, pid: Int? = nil, reason: Reason? = nil) {
            self.node = node
            self.outputs = outputs
            self.exit = exit
            self.pid = pid
            self.reason = reason
        }

        /// Why a process ended, when the supervisor can tell. Unknown values read as nil, so a
        /// later version may add reasons.
        public enum Reason: String, Sendable, Codable {
            /// It reached its memory limit (`memory_max`).
            case memory

            public init(from decoder: any Decoder) throws {
                self = Reason(rawValue: try decoder.singleValueContainer().decode(String.self)) ?? .unknown
            }

            /// Read from a reason this version does not know.
            case unknown
        }
    }

    /// One line a node wrote to stdout (`Supervisor::stdout_hook`).
    public struct StdoutLine: ManagementEvent {
        public static let eventName = "Supervisor::stdout_hook"
        public var node: String
        public var msg: String
        public init(node: String, msg: String) { self.node = node; self.msg = msg }
    }

    /// One line a node wrote to stderr (`Supervisor::stderr_hook`).
    public struct StderrLine: ManagementEvent {
        public static let eventName = "Supervisor::stderr_hook"
        public var node: String
        public var msg: String
        public init(node: String, msg: String) { self.node = node; self.msg = msg }
    }
}
