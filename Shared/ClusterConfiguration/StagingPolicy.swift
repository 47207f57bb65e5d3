import ManagementTypes

/// The controller's rules for accepting a configuration and completing it for deployment,
/// as Zeek's controller applies them when a configuration is staged.
public struct StagingPolicy: Sendable, Hashable {
    /// The port Zeek's controller listens on for Broker peers; nodes may not use it.
    /// `nil` disables the check.
    public var controllerPort: ZeekPort?
    /// Give managers, loggers and proxies without a port one from ``brokerPortStart`` upward.
    public var autoAssignBrokerPorts: Bool
    public var brokerPortStart: UInt16
    /// Give every node without a metrics port one from ``metricsPortStart`` upward, per host.
    public var autoAssignMetricsPorts: Bool
    public var metricsPortStart: UInt16

    /// Zeek's defaults: controller port 2150/tcp, Broker ports from 2200, metrics ports from 9000.
    public init(
        controllerPort: ZeekPort? = ZeekPort(2150), autoAssignBrokerPorts: Bool = true, brokerPortStart: UInt16 = 2200,
        autoAssignMetricsPorts: Bool = true, metricsPortStart: UInt16 = 9000
    ) {
        self.controllerPort = controllerPort
        self.autoAssignBrokerPorts = autoAssignBrokerPorts
        self.brokerPortStart = brokerPortStart
        self.autoAssignMetricsPorts = autoAssignMetricsPorts
        self.metricsPortStart = metricsPortStart
    }

    /// Node names the supervisor keeps for the host's log archive.
    public static let reservedNodeNames: Set<String> = ["zeek-archiver", "log-queue", "log-archive", "websocket-carrier"]

    /// Every problem of `config`, sorted by text; empty when it may be staged.
    public func problems(in config: Management.Configuration) -> [String] {
        var problems: Set<String> = []
        let instancesByName = Dictionary(grouping: config.instances, by: \.name)
        for (name, instances) in instancesByName where instances.count > 1 {
            problems.insert("multiple instances named '\(name)'")
        }
        let nodesByName = Dictionary(grouping: config.nodes, by: \.name)
        for (name, nodes) in nodesByName where nodes.count > 1 {
            problems.insert("multiple nodes named '\(name)'")
        }
        let collisions = Set(instancesByName.keys).intersection(nodesByName.keys)
        if !collisions.isEmpty {
            problems.insert("node and instance names collide: \(collisions.sorted().joined(separator: ", "))")
        }
        for node in config.nodes where Self.reservedNodeNames.contains(node.name) {
            problems.insert("node name '\(node.name)' is reserved: the host's log archiver runs as zeek-archiver, in log-queue and log-archive; a WebSocket carrier in websocket-carrier")
        }
        for instance in config.archivers.keys.sorted() {
            // The archiver takes what the host's logging nodes rotate: they must be one user.
            let logging = config.nodes.filter { $0.instance == instance && ($0.role == .logger || $0.role == .manager) }
            if Set(logging.map { $0.user ?? "" }).count > 1 || Set(logging.map { $0.group ?? "" }).count > 1 {
                problems.insert("the logging nodes of instance '\(instance)' run as different users or groups, but share its log archive: give them one")
            }
        }
        for instance in config.archivers.keys where instancesByName[instance] == nil {
            problems.insert("log archiver of undeclared instance '\(instance)'")
        }
        for (instance, archiver) in config.archivers {
            if let program = archiver.program, !program.hasPrefix("/") {
                problems.insert("log archiver of instance '\(instance)' names program '\(program)', not an absolute path")
            }
            if let problem = archiver.limits?.problem { problems.insert("log archiver of instance '\(instance)': \(problem)") }
        }
        var portsInUse: [String: [ZeekPort: Int]] = [:]
        for node in config.nodes {
            guard let instance = instancesByName[node.instance]?.first else {
                problems.insert("node '\(node.name)' has undeclared instance name '\(node.instance)'")
                continue
            }
            guard let port = node.port else { continue }
            if port == instance.listenPort {
                problems.insert("node '\(node.name)' port \(port) conflicts with agent port on instance '\(node.instance)'")
            }
            if port == controllerPort {
                problems.insert("node '\(node.name)' port \(port) conflicts with controller port")
            }
            portsInUse[node.instance, default: [:]][port, default: 0] += 1
        }
        for (instance, ports) in portsInUse {
            for (port, count) in ports where count > 1 {
                problems.insert("multiple nodes on instance '\(instance)' using port \(port)")
            }
        }
        // The ZeroMQ proxy listens on the manager's host: its ports are that host's too.
        if let backend = config.clusterBackend, let manager = config.nodes.filter({ $0.role == .manager }).map(\.instance).min() {
            let proxyPorts = [("xpub_port", backend.xpubPort), ("xsub_port", backend.xsubPort)].compactMap { key, port in port.map { (key, $0) } }
            for (key, port) in proxyPorts where portsInUse[manager]?[port] != nil {
                problems.insert("cluster_backend \(key) \(port) is used by a node on instance '\(manager)', the manager's")
            }
            if let xpub = backend.xpubPort, xpub == backend.xsubPort {
                problems.insert("cluster_backend xpub_port and xsub_port are both \(xpub)")
            }
        }
        if !autoAssignBrokerPorts {
            let lacking = config.nodes.filter { $0.role.listensForBroker && $0.port == nil }.map(\.name)
            if !lacking.isEmpty {
                problems.insert("Broker port auto-assignment disabled but nodes \(lacking.sorted().joined(separator: ", ")) lack ports")
            }
        }
        return problems.sorted()
    }

    /// The configuration as it is deployed: instances that connect with an unknown address
    /// get the one their agent reported, and nodes get the ports they lack.
    ///
    /// Ports are handed out upward from the start, skipping those in use, up to 65535; a
    /// configuration that needs more than are left is refused with ``PortsExhausted``. The
    /// ports in use are sorted once, so this takes O(N log N) for N nodes, however full.
    ///
    /// - Parameter knownHosts: the address of every agent checked in, by instance name.
    public func prepared(_ config: Management.Configuration, knownHosts: [String: IPAddress]) throws(PortsExhausted) -> Management.Configuration {
        var instances = config.instances.map { instance in
            var instance = instance
            if instance.host == .unspecified, let known = knownHosts[instance.name], known != .unspecified {
                instance.host = known
            }
            return instance
        }
        instances.sort()
        var nodes = config.nodes.sorted(by: Self.assignmentOrder)

        var backend = config.clusterBackend
        if autoAssignBrokerPorts {
            let lacking = nodes.indices.filter { nodes[$0].role.listensForBroker && nodes[$0].port == nil }
            var pool = PortPool(from: brokerPortStart, skipping: instances.compactMap(\.listenPort?.number) + nodes.compactMap(\.port?.number)
                                + [backend?.xpubPort?.number, backend?.xsubPort?.number].compactMap { $0 })
            for index in lacking {
                guard let port = pool.take() else {
                    throw PortsExhausted(kind: "Broker", node: nodes[index].name, instance: nodes[index].instance, needed: lacking.count,
                                         start: brokerPortStart, free: pool.taken)
                }
                nodes[index].port = ZeekPort(port)
            }
            // The ZeroMQ proxy's ports, whichever backend the hosts choose: a host decides only
            // when it checks the configuration, and two spare ports cost nothing.
            if let manager = nodes.first(where: { $0.role == .manager }) {
                var completed = backend ?? ClusterBackend()
                for key in [\ClusterBackend.xpubPort, \ClusterBackend.xsubPort] where completed[keyPath: key] == nil {
                    guard let port = pool.take() else {
                        throw PortsExhausted(kind: "ZeroMQ proxy", node: manager.name, instance: manager.instance, needed: 2,
                                             start: brokerPortStart, free: pool.taken)
                    }
                    completed[keyPath: key] = ZeekPort(port)
                }
                backend = completed
            }
        }
        if autoAssignMetricsPorts {
            let hostOf = Dictionary(instances.map { ($0.name, $0.host) }, uniquingKeysWith: { first, _ in first })
            var usedByHost: [IPAddress: [UInt16]] = [:]
            for instance in instances {
                if let port = instance.listenPort?.number { usedByHost[instance.host, default: []].append(port) }
            }
            var lackingByHost: [IPAddress: [Int]] = [:]
            for index in nodes.indices {
                guard let host = hostOf[nodes[index].instance] else { continue }
                if let port = nodes[index].port?.number { usedByHost[host, default: []].append(port) }
                if let port = nodes[index].metricsPort?.number { usedByHost[host, default: []].append(port) }
                if nodes[index].metricsPort == nil && nodes[index].role != .none { lackingByHost[host, default: []].append(index) }
            }
            for (host, lacking) in lackingByHost.sorted(by: { $0.value[0] < $1.value[0] }) {
                var pool = PortPool(from: metricsPortStart, skipping: usedByHost[host] ?? [])
                for index in lacking {
                    guard let port = pool.take() else {
                        throw PortsExhausted(kind: "metrics", node: nodes[index].name, instance: nodes[index].instance, needed: lacking.count,
                                             start: metricsPortStart, free: pool.taken)
                    }
                    nodes[index].metricsPort = ZeekPort(port)
                }
            }
        }
        return Management.Configuration(id: config.id, instances: Set(instances), nodes: Set(nodes), clusterBackend: backend, archivers: config.archivers)
    }

    /// Zeek assigns ports by instance name, then role (manager, logger, proxy, worker), then node name.
    static func assignmentOrder(_ lhs: Management.Node, _ rhs: Management.Node) -> Bool {
        (lhs.instance, lhs.role.assignmentRank, lhs.name) < (rhs.instance, rhs.role.assignmentRank, rhs.name)
    }
}

/// More nodes lack a port than there are free port numbers: the configuration cannot be staged.
public struct PortsExhausted: Error, Sendable, Hashable, CustomStringConvertible {
    /// `Broker` or `metrics`.
    public var kind: String
    /// The first node left without a port, and its instance.
    public var node: String
    public var instance: String
    /// How many nodes needed a port from the pool (all instances for Broker ports, the
    /// instance's host for metrics ports), and how many they got.
    public var needed: Int
    public var start: UInt16
    public var free: Int

    public init(kind: String, node: String, instance: String, needed: Int, start: UInt16, free: Int) {
        self.kind = kind
        self.node = node
        self.instance = instance
        self.needed = needed
        self.start = start
        self.free = free
    }

    public var description: String {
        "cannot assign a \(kind) port to node '\(node)' on instance '\(instance)': \(needed) nodes need one, "
            + "but only \(free) of the ports from \(max(start, 1)) to 65535 are free; give nodes ports, or start auto-assignment lower"
    }
}

/// Free port numbers from a start upward, in order, skipping those in use.
struct PortPool {
    /// The ports in use, sorted, each once.
    private let used: [Int]
    /// The first of `used` not below `next`.
    private var usedIndex = 0
    private var next: Int
    /// How many ports were handed out.
    private(set) var taken = 0

    init(from start: UInt16, skipping used: [UInt16]) {
        self.used = Set(used.map(Int.init)).sorted()
        // Port 0 is no port: it asks the kernel for any.
        next = max(Int(start), 1)
    }

    /// The next free port; nil once none is left below 65536.
    mutating func take() -> UInt16? {
        while usedIndex < used.count, used[usedIndex] < next { usedIndex += 1 }
        while usedIndex < used.count, used[usedIndex] == next {
            next += 1
            usedIndex += 1
        }
        guard next <= Int(UInt16.max) else { return nil }
        defer {
            next += 1
            taken += 1
        }
        return UInt16(next)
    }
}

extension Supervisor.ClusterRole {
    /// Managers, loggers and proxies listen for Broker peers; workers do not.
    public var listensForBroker: Bool {
        self == .manager || self == .logger || self == .proxy
    }

    var assignmentRank: Int {
        switch self {
        case .manager: 0
        case .logger: 1
        case .proxy: 2
        case .worker: 3
        case .none: 4
        }
    }
}
