/// Zeek's `Supervisor::` module: the process supervisor's API types.
public enum Supervisor {
    /// A node's role in the Zeek cluster.
    public enum ClusterRole: String, ZeekEnum {
        case none = "NONE"
        case logger = "LOGGER"
        case manager = "MANAGER"
        case proxy = "PROXY"
        case worker = "WORKER"
        public static let zeekModule = "Supervisor::"
    }

    /// One node's entry in the cluster layout handed to every node (`Supervisor::ClusterEndpoint`).
    public struct ClusterEndpoint: Hashable, Sendable, Codable {
        public var role: ClusterRole
        public var host: IPAddress
        /// Broker listening port (`p`); ``ZeekPort/none`` (`0/unknown`) when the node does not listen.
        public var port: ZeekPort
        public var interface: String?
        public var pcapFile: String?
        public var metricsPort: ZeekPort?

        public init(role: ClusterRole, host: IPAddress, port: ZeekPort = .none, interface: String? = nil, pcapFile: String? = nil, metricsPort: ZeekPort? = nil) {
            self.role = role
            self.host = host
            self.port = port
            self.interface = interface
            self.pcapFile = pcapFile
            self.metricsPort = metricsPort
        }

        enum CodingKeys: String, CodingKey {
            case role, host
            case port = "p"
            case interface
            case pcapFile = "pcap_file"
            case metricsPort = "metrics_port"
        }
    }

    /// Everything the supervisor needs to run one node (`Supervisor::NodeConfig`).
    public struct NodeConfig: Hashable, Sendable, Codable {
        /// Unique within the supervisor; non-empty, without spaces.
        public var name: String
        /// Live capture interface; exclusive with ``pcapFile``.
        public var interface: String?
        /// Offline capture file.
        public var pcapFile: String?
        /// Working directory, created with parents.
        public var directory: String?
        /// File receiving stdout, relative to the directory.
        public var stdoutFile: String?
        public var stderrFile: String?
        /// Run without Zeek's base scripts; unset inherits the supervisor's mode.
        public var bareMode: Bool?
        public var addlBaseScripts: [String]
        public var addlUserScripts: [String]
        public var env: [String: String]
        public var cpuAffinity: Int?
        /// The full cluster layout keyed by node name; non-empty makes the node a cluster member.
        public var cluster: [String: ClusterEndpoint]
        /// What the node may take of the host (contract 3.1), enforced by the supervisor.
        public var limits: NodeLimits?
        /// The cluster's backend (contract 3.1); nil: the host's default.
        public var clusterBackend: ClusterBackend?
        /// The user and group the node runs as (contract 3.1), which the host's policy must
        /// allow; nil: the host policy's user for the node's type, and that user's group.
        public var user: String?
        public var group: String?
        /// Set: this is no Zeek node but the host's log archiver (contract 3.1), run with these
        /// arguments on the host's log queue.
        public var archiver: LogArchiver?
        /// Whether the node rotates its logs into the host's log queue, for the archiver, rather
        /// than into its own directory (contract 3.1).
        public var archived: Bool?

        public init(
            name: String, interface: String? = nil, pcapFile: String? = nil, directory: String? = nil,
            stdoutFile: String? = nil, stderrFile: String? = nil, bareMode: Bool? = nil,
            addlBaseScripts: [String] = [], addlUserScripts: [String] = [], env: [String: String] = [:],
            cpuAffinity: Int? = nil, cluster: [String: ClusterEndpoint] = [:], limits: NodeLimits? = nil,
            clusterBackend: ClusterBackend? = nil, user: String? = nil, group: String? = nil, archiver: LogArchiver? = nil,
            archived: Bool? = nil
        ) {
            self.user = user
            self.group = group
            self.archiver = archiver
            self.archived = archived
            self.name = name
            self.interface = interface
            self.pcapFile = pcapFile
            self.directory = directory
            self.stdoutFile = stdoutFile
            self.stderrFile = stderrFile
            self.bareMode = bareMode
            self.addlBaseScripts = addlBaseScripts
            self.addlUserScripts = addlUserScripts
            self.env = env
            self.cpuAffinity = cpuAffinity
            self.cluster = cluster
            self.limits = limits
            self.clusterBackend = clusterBackend
        }

        enum CodingKeys: String, CodingKey {
            case name, interface
            case pcapFile = "pcap_file"
            case directory
            case stdoutFile = "stdout_file"
            case stderrFile = "stderr_file"
            case bareMode = "bare_mode"
            case addlBaseScripts = "addl_base_scripts"
            case addlUserScripts = "addl_user_scripts"
            case env
            case cpuAffinity = "cpu_affinity"
            case cluster
            case limits
            case clusterBackend = "cluster_backend"
            case user, group, archiver, archived
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decode(String.self, forKey: .name)
            interface = try c.decodeIfPresent(String.self, forKey: .interface)
            pcapFile = try c.decodeIfPresent(String.self, forKey: .pcapFile)
            directory = try c.decodeIfPresent(String.self, forKey: .directory)
            stdoutFile = try c.decodeIfPresent(String.self, forKey: .stdoutFile)
            stderrFile = try c.decodeIfPresent(String.self, forKey: .stderrFile)
            bareMode = try c.decodeIfPresent(Bool.self, forKey: .bareMode)
            addlBaseScripts = try c.decode([String].self, forKey: .addlBaseScripts, default: [])
            addlUserScripts = try c.decode([String].self, forKey: .addlUserScripts, default: [])
            env = try c.decode([String: String].self, forKey: .env, default: [:])
            cpuAffinity = try c.decodeIntegerIfPresent(forKey: .cpuAffinity)
            cluster = try c.decode([String: ClusterEndpoint].self, forKey: .cluster, default: [:])
            limits = try c.decodeIfPresent(NodeLimits.self, forKey: .limits)
            clusterBackend = try c.decodeIfPresent(ClusterBackend.self, forKey: .clusterBackend)
            user = try c.decodeIfPresent(String.self, forKey: .user)
            group = try c.decodeIfPresent(String.self, forKey: .group)
            archiver = try c.decodeIfPresent(LogArchiver.self, forKey: .archiver)
            archived = try c.decodeIfPresent(Bool.self, forKey: .archived)
        }
    }

    /// A supervised node and its last known PID (`Supervisor::NodeStatus`).
    public struct NodeStatus: Hashable, Sendable, Codable {
        public var node: NodeConfig
        /// Current or last known PID; unset before the first spawn.
        public var pid: Int?

        public init(node: NodeConfig, pid: Int? = nil) {
            self.node = node
            self.pid = pid
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            node = try c.decode(NodeConfig.self, forKey: .node)
            pid = try c.decodeIntegerIfPresent(forKey: .pid)
        }
    }

    /// Every supervised node, keyed by name (`Supervisor::Status`).
    public struct Status: Hashable, Sendable, Codable {
        public var nodes: [String: NodeStatus]

        public init(nodes: [String: NodeStatus] = [:]) {
            self.nodes = nodes
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            nodes = try c.decode([String: NodeStatus].self, forKey: .nodes, default: [:])
        }
    }
}

extension Supervisor.NodeConfig {
    /// The file in a node's working directory that holds its whole configuration as JSON,
    /// cluster layout included, written by the supervisor before every start. The layout is
    /// too large for the environment in big clusters, where Zeek's supervisor passes it.
    public static let fileName = "supervised-node.json"
}
