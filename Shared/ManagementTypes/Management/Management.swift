/// Zeek's `Management::` module: the types of the cluster management framework.
public enum Management {
    /// The management-infrastructure role of a process (not its Zeek cluster role).
    public enum Role: String, ZeekEnum {
        case none = "NONE"
        case agent = "AGENT"
        case controller = "CONTROLLER"
        case node = "NODE"
        public static let zeekModule = "Management::"
    }

    /// A node's run state.
    public enum State: String, ZeekEnum {
        case pending = "PENDING"
        case running = "RUNNING"
        case stopped = "STOPPED"
        case failed = "FAILED"
        case crashed = "CRASHED"
        case unknown = "UNKNOWN"
        public static let zeekModule = "Management::"
    }

    /// An option a node applies at start (`Management::Option`).
    public struct Option: Hashable, Sendable, Codable, Comparable {
        public var name: String
        public var value: String

        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }

        /// The environment variable in which a node receives its options, as a JSON array:
        /// the agent sets it, the stand-in node reads it, and the supervisor turns it into
        /// `redef`s for Zeek.
        public static let environmentVariable = "ZEEK_MGMT_NODE_OPTIONS"

        public static func < (lhs: Option, rhs: Option) -> Bool {
            (lhs.name, lhs.value) < (rhs.name, rhs.value)
        }
    }

    /// A host running an agent (`Management::Instance`).
    public struct Instance: Hashable, Sendable, Codable, Comparable {
        /// Unique instance (= agent) name.
        public var name: String
        /// The instance's address; ``IPAddress/unspecified`` until the agent has been seen.
        public var host: IPAddress
        /// Present when the controller connects to the agent, absent when the agent connects.
        public var listenPort: ZeekPort?

        public init(name: String, host: IPAddress = .unspecified, listenPort: ZeekPort? = nil) {
            self.name = name
            self.host = host
            self.listenPort = listenPort
        }

        enum CodingKeys: String, CodingKey {
            case name, host
            case listenPort = "listen_port"
        }

        public static func < (lhs: Instance, rhs: Instance) -> Bool {
            if lhs.name != rhs.name { return lhs.name < rhs.name }
            if lhs.host != rhs.host { return lhs.host < rhs.host }
            return (lhs.listenPort?.number ?? 0, lhs.listenPort?.transport ?? .unknown) < (rhs.listenPort?.number ?? 0, rhs.listenPort?.transport ?? .unknown)
        }
    }

    /// A cluster node as configured by the operator (`Management::Node`).
    public struct Node: Hashable, Sendable, Codable, Comparable {
        /// Cluster-unique node name, e.g. `worker-01`.
        public var name: String
        /// Name of the instance that runs the node.
        public var instance: String
        public var role: Supervisor.ClusterRole
        /// Desired (controller) or current (agent) state.
        public var state: State
        /// Broker listening port (`p`); workers normally have none.
        public var port: ZeekPort?
        /// Extra scripts, loaded after user scripts.
        public var scripts: [String]?
        public var options: Set<Option>?
        /// Capture interface.
        public var interface: String?
        /// CPU to pin the node to.
        public var cpuAffinity: Int?
        /// Extra environment variables.
        public var env: [String: String]
        /// Prometheus exposition port.
        public var metricsPort: ZeekPort?
        /// What the node's process may take of its host (contract 3.1); nil: the host's defaults.
        public var limits: NodeLimits?
        /// The user the node runs as (zeek.conf's `user`, contract 3.1), which the host's policy
        /// must allow; nil: the host policy's user for the node's type.
        public var user: String?
        /// The node's group (zeek.conf's `group`): the user's own group or one it belongs to;
        /// nil: the user's primary group.
        public var group: String?

        public init(
            name: String, instance: String, role: Supervisor.ClusterRole, state: State = .running,
            port: ZeekPort? = nil, scripts: [String]? = nil, options: Set<Option>? = nil, interface: String? = nil,
            cpuAffinity: Int? = nil, env: [String: String] = [:], metricsPort: ZeekPort? = nil, limits: NodeLimits? = nil,
            user: String? = nil, group: String? = nil
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
            self.metricsPort = metricsPort
            self.limits = limits
            self.user = user
            self.group = group
        }

        enum CodingKeys: String, CodingKey {
            case name, instance, role, state
            case port = "p"
            case scripts, options, interface
            case cpuAffinity = "cpu_affinity"
            case env
            case metricsPort = "metrics_port"
            case limits, user, group
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
            metricsPort = try c.decodeIfPresent(ZeekPort.self, forKey: .metricsPort)
            limits = try c.decodeIfPresent(NodeLimits.self, forKey: .limits)
            user = try c.decodeIfPresent(String.self, forKey: .user)
            group = try c.decodeIfPresent(String.self, forKey: .group)
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
            try c.encodeIfPresent(metricsPort, forKey: .metricsPort)
            if let limits, !limits.isEmpty { try c.encode(limits, forKey: .limits) }
            try c.encodeIfPresent(user, forKey: .user)
            try c.encodeIfPresent(group, forKey: .group)
        }

        public static func < (lhs: Node, rhs: Node) -> Bool {
            if lhs.name != rhs.name { return lhs.name < rhs.name }
            return canonicalJSONOrder(lhs, rhs)
        }
    }

    /// A whole cluster configuration (`Management::Configuration`).
    public struct Configuration: Hashable, Sendable, Codable {
        /// Identity; agents compare it to tell whether they already run this configuration.
        public var id: String
        public var instances: Set<Instance>
        /// All nodes, across all instances.
        public var nodes: Set<Node>
        /// The Zeek cluster backend and its ports (contract 3.1); nil: each host's default.
        public var clusterBackend: ClusterBackend?
        /// The log archiver of each instance that runs one, by instance name (contract 3.1).
        public var archivers: [String: LogArchiver]

        /// A fresh id, as Zeek's `unique_id("")` gives a configuration that does not name one.
        public static func uniqueID() -> String {
            String(UInt64.random(in: .min ... .max), radix: 36)
        }

        public init(id: String = Configuration.uniqueID(), instances: Set<Instance> = [], nodes: Set<Node> = [],
                    clusterBackend: ClusterBackend? = nil, archivers: [String: LogArchiver] = [:]) {
            self.id = id
            self.instances = instances
            self.nodes = nodes
            self.clusterBackend = clusterBackend
            self.archivers = archivers
        }

        enum CodingKeys: String, CodingKey {
            case id, instances, nodes
            case clusterBackend = "cluster_backend"
            case archivers
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decode(String.self, forKey: .id, default: Configuration.uniqueID())
            instances = try c.decode(Set<Instance>.self, forKey: .instances, default: [])
            nodes = try c.decode(Set<Node>.self, forKey: .nodes, default: [])
            clusterBackend = try c.decodeIfPresent(ClusterBackend.self, forKey: .clusterBackend)
            archivers = try c.decode([String: LogArchiver].self, forKey: .archivers, default: [:])
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encodeSet(instances, forKey: .instances)
            try c.encodeSet(nodes, forKey: .nodes)
            if let clusterBackend, !clusterBackend.isEmpty { try c.encode(clusterBackend, forKey: .clusterBackend) }
            if !archivers.isEmpty { try c.encode(archivers, forKey: .archivers) }
        }
    }

    /// The observed status of one process (`Management::NodeStatus`).
    public struct NodeStatus: Hashable, Sendable, Codable {
        /// Cluster node, agent or controller name.
        public var node: String
        public var state: State
        public var mgmtRole: Role
        public var clusterRole: Supervisor.ClusterRole
        public var pid: Int?
        /// Broker listening port (`p`), if any.
        public var port: ZeekPort?
        public var metricsPort: ZeekPort?
        /// How the node's last process ended, e.g. that it was killed at its memory limit
        /// (contract 3.1); unset while it never ended.
        public var lastExit: String?

        public init(
            node: String, state: State, mgmtRole: Role = .none, clusterRole: Supervisor.ClusterRole = .none,
            pid: Int? = nil, port: ZeekPort? = nil, metricsPort: ZeekPort? = nil, lastExit: String? = nil
        ) {
            self.node = node
            self.state = state
            self.mgmtRole = mgmtRole
            self.clusterRole = clusterRole
            self.pid = pid
            self.port = port
            self.metricsPort = metricsPort
            self.lastExit = lastExit
        }

        enum CodingKeys: String, CodingKey {
            case node, state
            case mgmtRole = "mgmt_role"
            case clusterRole = "cluster_role"
            case pid
            case port = "p"
            case metricsPort = "metrics_port"
            case lastExit = "last_exit"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            node = try c.decode(String.self, forKey: .node)
            state = try c.decode(State.self, forKey: .state)
            mgmtRole = try c.decode(Role.self, forKey: .mgmtRole, default: .none)
            clusterRole = try c.decode(Supervisor.ClusterRole.self, forKey: .clusterRole, default: .none)
            pid = try c.decodeIntegerIfPresent(forKey: .pid)
            port = try c.decodeIfPresent(ZeekPort.self, forKey: .port)
            metricsPort = try c.decodeIfPresent(ZeekPort.self, forKey: .metricsPort)
            lastExit = try c.decodeIfPresent(String.self, forKey: .lastExit)
        }
    }

    /// The outcome of one request, or of one part of it (`Management::Result`).
    public struct Result: Hashable, Sendable, Codable {
        /// The request this result belongs to.
        public var reqid: String
        public var success: Bool
        /// Which instance produced it (set by agents; unset on controller-made results).
        public var instance: String?
        /// Payload; its type depends on the event (see ``JSONValue/decode(as:)``).
        public var data: JSONValue?
        /// Error text when `success` is false.
        public var error: String?
        /// The node the result refers to.
        public var node: String?

        public init(
            reqid: String, success: Bool = true, instance: String? = nil, data: JSONValue? = nil,
            error: String? = nil, node: String? = nil
        ) {
            self.reqid = reqid
            self.success = success
            self.instance = instance
            self.data = data
            self.error = error
            self.node = node
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            reqid = try c.decode(String.self, forKey: .reqid)
            success = try c.decode(Bool.self, forKey: .success, default: true)
            instance = try c.decodeIfPresent(String.self, forKey: .instance)
            data = try c.decodeIfPresent(JSONValue.self, forKey: .data)
            error = try c.decodeIfPresent(String.self, forKey: .error)
            node = try c.decodeIfPresent(String.self, forKey: .node)
        }
    }

    /// The last output lines of a node (`Management::NodeOutputs`), `\n`-joined.
    public struct NodeOutputs: Hashable, Sendable, Codable {
        public var stdout: String
        public var stderr: String

        public init(stdout: String, stderr: String) {
            self.stdout = stdout
            self.stderr = stderr
        }
    }
}

extension Management.Result: CustomStringConvertible {
    /// As Zeek's `Management::result_to_string`: `success` or `error (<msg>)`, then the ids.
    public var description: String {
        var text = success ? "success" : (error.map { "error (\($0))" } ?? "error")
        var parts = ["reqid \(reqid)"]
        if let instance, !instance.isEmpty { parts.append("instance \(instance)") }
        if let node, !node.isEmpty { parts.append("node \(node)") }
        text += " (\(parts.joined(separator: ", ")))"
        return text
    }
}
