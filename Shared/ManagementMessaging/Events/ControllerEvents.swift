import ManagementTypes

/// `Management::Controller::API`: between clients and the controller, on
/// `Management.Controller.API` (responses target the requesting client); the controller's
/// notifications on `Management.Controller.API.notify`.
public enum ControllerAPI {
    public struct GetInstancesRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::get_instances_request"
        public typealias Response = GetInstancesResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    /// `result.data` is the vector of `Management::Instance` checked in, sorted by name.
    public struct GetInstancesResponse: ResultResponse {
        public static let eventName = "Management::Controller::API::get_instances_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    public struct StageConfigurationRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::stage_configuration_request"
        public typealias Response = StageConfigurationResponse
        public var reqid: String
        public var config: Management.Configuration
        public init(reqid: String, config: Management.Configuration) { self.reqid = reqid; self.config = config }
    }

    public struct StageConfigurationResponse: ResultsResponse {
        public static let eventName = "Management::Controller::API::stage_configuration_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    public struct GetConfigurationRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::get_configuration_request"
        public typealias Response = GetConfigurationResponse
        public var reqid: String
        public var deployed: Bool
        public init(reqid: String, deployed: Bool) { self.reqid = reqid; self.deployed = deployed }
    }

    /// `result.data` is the `Management::Configuration`.
    public struct GetConfigurationResponse: ResultResponse {
        public static let eventName = "Management::Controller::API::get_configuration_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    public struct DeployRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::deploy_request"
        public typealias Response = DeployResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    public struct DeployResponse: ResultsResponse {
        public static let eventName = "Management::Controller::API::deploy_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    public struct GetNodesRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::get_nodes_request"
        public typealias Response = GetNodesResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    /// One Result per agent, each with the vector of `Management::NodeStatus` as data.
    public struct GetNodesResponse: ResultsResponse {
        public static let eventName = "Management::Controller::API::get_nodes_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    public struct GetIDValueRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::get_id_value_request"
        public typealias Response = GetIDValueResponse
        public var reqid: String
        public var id: String
        @ZeekSet public var nodes: Set<String>

        public init(reqid: String, id: String, nodes: Set<String> = []) {
            self.reqid = reqid
            self.id = id
            self.nodes = nodes
        }
    }

    /// One Result per node; `data` is a string holding the JSON of the value.
    public struct GetIDValueResponse: ResultsResponse {
        public static let eventName = "Management::Controller::API::get_id_value_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    public struct RestartRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::restart_request"
        public typealias Response = RestartResponse
        public var reqid: String
        @ZeekSet public var nodes: Set<String>

        public init(reqid: String, nodes: Set<String> = []) {
            self.reqid = reqid
            self.nodes = nodes
        }
    }

    public struct RestartResponse: ResultsResponse {
        public static let eventName = "Management::Controller::API::restart_response"
        public var reqid: String
        public var results: [Management.Result]
        public init(reqid: String, results: [Management.Result]) { self.reqid = reqid; self.results = results }
    }

    /// With `with_state` false the controller never answers (as Zeek's does): a way to test a
    /// client's own timeout.
    public struct TestTimeoutRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::test_timeout_request"
        public typealias Response = TestTimeoutResponse
        public var reqid: String
        public var with_state: Bool
        public init(reqid: String, withState: Bool) { self.reqid = reqid; self.with_state = withState }
    }

    public struct TestTimeoutResponse: ResultResponse {
        public static let eventName = "Management::Controller::API::test_timeout_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    /// The hosts whose check-ins the controller drops because it does not know their key, each
    /// with the key it signs with, waiting for an operator to enroll them. (Contract 3.0.)
    /// `result.data` is a vector of ``Enrollment`` records, sorted by instance.
    public struct GetEnrollmentsRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::get_enrollments_request"
        public typealias Response = GetEnrollmentsResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    public struct GetEnrollmentsResponse: ResultResponse {
        public static let eventName = "Management::Controller::API::get_enrollments_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    /// Enrolls the host `instance` with the key it checked in with: from then on the controller
    /// takes its check-ins and answers, and remembers it across restarts and failovers. `key`,
    /// if given, must be that key (the trust-file form `get-enrollments` shows), so what is
    /// approved is what was seen. Needs the `deploy` role. (Contract 3.0.)
    public struct EnrollRequest: ManagementRequest {
        public static let eventName = "Management::Controller::API::enroll_request"
        public typealias Response = EnrollResponse
        public var reqid: String
        public var instance: String
        public var key: String?
        public init(reqid: String, instance: String, key: String? = nil) { self.reqid = reqid; self.instance = instance; self.key = key }
    }

    public struct EnrollResponse: ResultResponse {
        public static let eventName = "Management::Controller::API::enroll_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    /// A host waiting to be enrolled, as `get_enrollments` lists it.
    public struct Enrollment: Codable, Sendable, Hashable {
        public var instance: String
        /// The public key it signs with, in its trust-file form.
        public var key: String
        /// When its check-ins were first and last dropped (epoch seconds).
        public var firstSeen: Double
        public var lastSeen: Double

        public init(instance: String, key: String, firstSeen: Double, lastSeen: Double) {
            self.instance = instance
            self.key = key
            self.firstSeen = firstSeen
            self.lastSeen = lastSeen
        }

        enum CodingKeys: String, CodingKey {
            case instance, key
            case firstSeen = "first_seen"
            case lastSeen = "last_seen"
        }
    }

    /// Published by the active controller when every node of the deployed configuration runs:
    /// after a deploy whose nodes all came up, and again whenever the cluster returns to that
    /// state after nodes were lost or restarted. (Beyond Zeek's API.)
    public struct NotifyClusterRunning: ManagementEvent {
        public static let eventName = "Management::Controller::API::notify_cluster_running"
        public var configID: String
        public var nodes: Int
        public init(configID: String, nodes: Int) { self.configID = configID; self.nodes = nodes }
        enum CodingKeys: String, CodingKey { case configID = "config_id", nodes }
    }

    /// Published when the instances checked in match the deployed configuration (Zeek raises it
    /// only locally; here monitoring systems can see it).
    public struct NotifyAgentsReady: ManagementEvent {
        public static let eventName = "Management::Controller::API::notify_agents_ready"
        @ZeekSet public var instances: Set<String>
        public init(instances: Set<String>) { self.instances = instances }
    }
}

/// The legacy `ClusterController::API` (Zeek 4.1 - 5.0-dev), on `ClusterController.API`.
public enum ClusterControllerAPI {
    public struct GetInstancesRequest: ManagementRequest {
        public static let eventName = "ClusterController::API::get_instances_request"
        public typealias Response = GetInstancesResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    public struct GetInstancesResponse: LegacyResultResponse {
        public static let eventName = "ClusterController::API::get_instances_response"
        public var reqid: String
        public var result: ClusterController.Types.Result
        public init(reqid: String, result: ClusterController.Types.Result) { self.reqid = reqid; self.result = result }
    }

    /// Stage and deploy in one step, without validation.
    public struct SetConfigurationRequest: ManagementRequest {
        public static let eventName = "ClusterController::API::set_configuration_request"
        public typealias Response = SetConfigurationResponse
        public var reqid: String
        public var config: ClusterController.Types.Configuration
        public init(reqid: String, config: ClusterController.Types.Configuration) { self.reqid = reqid; self.config = config }
    }

    /// One Result per agent.
    public struct SetConfigurationResponse: LegacyResultsResponse {
        public static let eventName = "ClusterController::API::set_configuration_response"
        public var reqid: String
        public var result: [ClusterController.Types.Result]
        public init(reqid: String, result: [ClusterController.Types.Result]) { self.reqid = reqid; self.result = result }
    }

    public struct GetNodesRequest: ManagementRequest {
        public static let eventName = "ClusterController::API::get_nodes_request"
        public typealias Response = GetNodesResponse
        public var reqid: String
        public init(reqid: String) { self.reqid = reqid }
    }

    public struct GetNodesResponse: LegacyResultsResponse {
        public static let eventName = "ClusterController::API::get_nodes_response"
        public var reqid: String
        public var result: [ClusterController.Types.Result]
        public init(reqid: String, result: [ClusterController.Types.Result]) { self.reqid = reqid; self.result = result }
    }

    public struct TestTimeoutRequest: ManagementRequest {
        public static let eventName = "ClusterController::API::test_timeout_request"
        public typealias Response = TestTimeoutResponse
        public var reqid: String
        public var with_state: Bool
        public init(reqid: String, withState: Bool) { self.reqid = reqid; self.with_state = withState }
    }

    public struct TestTimeoutResponse: LegacyResultResponse {
        public static let eventName = "ClusterController::API::test_timeout_response"
        public var reqid: String
        public var result: ClusterController.Types.Result
        public init(reqid: String, result: ClusterController.Types.Result) { self.reqid = reqid; self.result = result }
    }
}
