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
    /// - Parameter knownHosts: the address of every agent checked in, by instance name.
    public func prepared(_ config: Management.Configuration, knownHosts: [String: IPAddress]) -> Management.Configuration {
        var instances = config.instances.map { instance in
            var instance = instance
            if instance.host == .unspecified, let known = knownHosts[instance.name], known != .unspecified {
                instance.host = known
            }
            return instance
        }
        instances.sort()
        var nodes = config.nodes.sorted(by: Self.assignmentOrder)

        if autoAssignBrokerPorts {
            var used = Set(instances.compactMap(\.listenPort?.number)).union(nodes.compactMap(\.port?.number))
            var next = brokerPortStart
            for index in nodes.indices where nodes[index].role.listensForBroker && nodes[index].port == nil {
                while used.contains(next) { next &+= 1 }
                nodes[index].port = ZeekPort(next)
                used.insert(next)
                next &+= 1
            }
        }
        if autoAssignMetricsPorts {
            let hostOf = Dictionary(instances.map { ($0.name, $0.host) }, uniquingKeysWith: { first, _ in first })
            var usedByHost: [IPAddress: Set<UInt16>] = [:]
            var nextByHost: [IPAddress: UInt16] = [:]
            for instance in instances {
                var used: Set<UInt16> = []
                if let port = instance.listenPort?.number { used.insert(port) }
                for node in nodes where node.instance == instance.name {
                    if let port = node.port?.number { used.insert(port) }
                    if let port = node.metricsPort?.number { used.insert(port) }
                }
                usedByHost[instance.host, default: []].formUnion(used)
            }
            for index in nodes.indices where nodes[index].metricsPort == nil && nodes[index].role != .none {
                guard let host = hostOf[nodes[index].instance] else { continue }
                var next = nextByHost[host] ?? metricsPortStart
                while usedByHost[host, default: []].contains(next) { next &+= 1 }
                nodes[index].metricsPort = ZeekPort(next)
                usedByHost[host, default: []].insert(next)
                nextByHost[host] = next &+ 1
            }
        }
        return Management.Configuration(id: config.id, instances: Set(instances), nodes: Set(nodes))
    }

    /// Zeek assigns ports by instance name, then role (manager, logger, proxy, worker), then node name.
    static func assignmentOrder(_ lhs: Management.Node, _ rhs: Management.Node) -> Bool {
        (lhs.instance, lhs.role.assignmentRank, lhs.name) < (rhs.instance, rhs.role.assignmentRank, rhs.name)
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
