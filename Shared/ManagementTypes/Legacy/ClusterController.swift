/// The legacy `ClusterController::` module (Zeek 4.1 - 5.0-dev), still served on the
/// `ClusterController.API` / `ClusterAgent.API` topics for older clients.
///
/// Types follow the last (5.0-dev) declarations. 4.1/4.2 spellings of ``Types/State``
/// (`Running`, ...) are accepted on decode.
public enum ClusterController {
    public enum Types {
        public enum Role: String, ZeekEnum {
            case none = "NONE"
            case agent = "AGENT"
            case controller = "CONTROLLER"
            public static let zeekModule = "ClusterController::Types::"
        }

        public enum State: String, ZeekEnum {
            case pending = "PENDING"
            case running = "RUNNING"
            case stopped = "STOPPED"
            case failed = "FAILED"
            case crashed = "CRASHED"
            case unknown = "UNKNOWN"
            public static let zeekModule = "ClusterController::Types::"

            /// Zeek 4.1/4.2 used mixed-case names and had no PENDING.
            public static let decodingAliases: [String: State] = [
                "ClusterController::Types::Running": .running,
                "ClusterController::Types::Stopped": .stopped,
                "ClusterController::Types::Failed": .failed,
                "ClusterController::Types::Crashed": .crashed,
                "ClusterController::Types::Unknown": .unknown,
            ]
        }

        /// Identical in layout to ``Management/Option``.
        public typealias Option = Management.Option
        /// Identical in layout to ``Management/Instance``.
        public typealias Instance = Management.Instance

        public struct Node: Hashable, Sendable, Codable, Comparable {
            public var name: String
            public var instance: String
            public var role: Supervisor.ClusterRole
            public var state: State
            /// Required in 4.1/4.2, optional from 5.0-dev on.
            public var port: ZeekPort?
            public var scripts: [String]?
            public var options: Set<Option>?
            public var interface: String?
            public var cpuAffinity: Int?
            public var env: [String: String]

            public init(
                name: String, instance: String, role: Supervisor.ClusterRole, state: State = .running,
                port: ZeekPort? = nil, scripts: [String]? = nil, options: Set<Option>? = nil, interface: String? = nil,
                cpuAffinity: Int? = nil, env: [String: String] = [:]
            ) {
                self.name = name
                self.instance = instance
                self.role = role
                self.state = state
                self.port = port
                self.scripts = scripts
                self.options = options
                self.interface = interface
                self.cpuAffinity = cpuAffinity
                self.env = env
            }

            enum CodingKeys: String, CodingKey {
                case name, instance, role, state
                case port = "p"
                case scripts, options, interface
                case cpuAffinity = "cpu_affinity"
                case env
            }

            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                name = try c.decode(String.self, forKey: .name)
                instance = try c.decode(String.self, forKey: .instance)
                role = try c.decode(Supervisor.ClusterRole.self, forKey: .role)
                state = try c.decode(State.self, forKey: .state)
                port = try c.decodeIfPresent(ZeekPort.self, forKey: .port)
                scripts = try c.decodeIfPresent([String].self, forKey: .scripts)
                options = try c.decodeIfPresent(Set<Option>.self, forKey: .options)
                interface = try c.decodeIfPresent(String.self, forKey: .interface)
                cpuAffinity = try c.decodeIntegerIfPresent(forKey: .cpuAffinity)
                env = try c.decode([String: String].self, forKey: .env, default: [:])
            }

            public func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(name, forKey: .name)
                try c.encode(instance, forKey: .instance)
                try c.encode(role, forKey: .role)
                try c.encode(state, forKey: .state)
                try c.encodeIfPresent(port, forKey: .port)
                try c.encodeIfPresent(scripts, forKey: .scripts)
                try c.encodeSetIfPresent(options, forKey: .options)
                try c.encodeIfPresent(interface, forKey: .interface)
                try c.encodeIfPresent(cpuAffinity, forKey: .cpuAffinity)
                try c.encode(env, forKey: .env)
            }

            public static func < (lhs: Node, rhs: Node) -> Bool {
                if lhs.name != rhs.name { return lhs.name < rhs.name }
                return canonicalJSONOrder(lhs, rhs)
            }
        }

        public struct Configuration: Hashable, Sendable, Codable {
            public var id: String
            public var instances: Set<Instance>
            public var nodes: Set<Node>

            public init(id: String = Management.Configuration.uniqueID(), instances: Set<Instance> = [], nodes: Set<Node> = []) {
                self.id = id
                self.instances = instances
                self.nodes = nodes
            }

            enum CodingKeys: String, CodingKey {
                case id, instances, nodes
            }

            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                id = try c.decode(String.self, forKey: .id, default: Management.Configuration.uniqueID())
                instances = try c.decode(Set<Instance>.self, forKey: .instances, default: [])
                nodes = try c.decode(Set<Node>.self, forKey: .nodes, default: [])
            }

            public func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(id, forKey: .id)
                try c.encodeSet(instances, forKey: .instances)
                try c.encodeSet(nodes, forKey: .nodes)
            }
        }

        public struct NodeStatus: Hashable, Sendable, Codable {
            public var node: String
            public var state: State
            public var mgmtRole: Role
            public var clusterRole: Supervisor.ClusterRole
            public var pid: Int?
            public var port: ZeekPort?

            public init(node: String, state: State, mgmtRole: Role = .none, clusterRole: Supervisor.ClusterRole = .none, pid: Int? = nil, port: ZeekPort? = nil) {
                self.node = node
                self.state = state
                self.mgmtRole = mgmtRole
                self.clusterRole = clusterRole
                self.pid = pid
                self.port = port
            }

            enum CodingKeys: String, CodingKey {
                case node, state
                case mgmtRole = "mgmt_role"
                case clusterRole = "cluster_role"
                case pid
                case port = "p"
            }

            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                node = try c.decode(String.self, forKey: .node)
                state = try c.decode(State.self, forKey: .state)
                mgmtRole = try c.decode(Role.self, forKey: .mgmtRole, default: .none)
                clusterRole = try c.decode(Supervisor.ClusterRole.self, forKey: .clusterRole, default: .none)
                pid = try c.decodeIntegerIfPresent(forKey: .pid)
                port = try c.decodeIfPresent(ZeekPort.self, forKey: .port)
            }
        }

        /// The legacy Result: `instance` and `error` are defaulted strings (never unset), and
        /// the field order differs from ``Management/Result``.
        public struct Result: Hashable, Sendable, Codable {
            public var reqid: String
            public var instance: String
            public var success: Bool
            public var data: JSONValue?
            public var error: String
            public var node: String?

            public init(reqid: String, instance: String = "", success: Bool = true, data: JSONValue? = nil, error: String = "", node: String? = nil) {
                self.reqid = reqid
                self.instance = instance
                self.success = success
                self.data = data
                self.error = error
                self.node = node
            }

            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                reqid = try c.decode(String.self, forKey: .reqid)
                instance = try c.decode(String.self, forKey: .instance, default: "")
                success = try c.decode(Bool.self, forKey: .success, default: true)
                data = try c.decodeIfPresent(JSONValue.self, forKey: .data)
                error = try c.decode(String.self, forKey: .error, default: "")
                node = try c.decodeIfPresent(String.self, forKey: .node)
            }
        }
    }
}
