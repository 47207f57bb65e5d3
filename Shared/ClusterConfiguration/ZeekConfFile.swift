import ManagementTypes

/// Zeek's `zeek.conf` as a cluster configuration: one file for one host, or a directory of
/// `<host>.zeek.conf` files for a cluster across hosts (Zeek 9's multi-host layout), each host
/// being the agent instance of that name.
///
/// Nodes get exactly the names, types, addresses, ports and metrics ports Zeek's
/// `zeek-cluster-layout-generator` gives the same files, and the limits, environment, arguments
/// and user its `zeek-systemd-generator` puts in their units, so logs, dashboards and
/// `Cluster::node` match what the operator knows. zeek-client's INI files map onto the same
/// ``Management/Configuration`` (``ClusterConfigurationFile``).
public enum ZeekConfFile {
    /// One file's text and the name it is reported under.
    public struct Source: Sendable, Hashable {
        /// The path as the operator gave it (for errors) — its last component decides the host.
        public var path: String
        public var text: String

        public init(path: String, text: String) {
            self.path = path
            self.text = text
        }

        /// The file name without directories.
        var fileName: String { path.split(separator: "/").last.map(String.init) ?? path }

        /// `<host>` of a `<host>.zeek.conf` file, as Zeek's `HasFilenameHost` takes it.
        var filenameHost: String? {
            guard fileName.hasSuffix(ZeekConfFile.hostFileSuffix) else { return nil }
            let host = String(fileName.dropLast(ZeekConfFile.hostFileSuffix.count))
            return host.isEmpty ? nil : host
        }
    }

    /// The suffix of one host's file in a cluster directory.
    public static let hostFileSuffix = ".zeek.conf"

    /// Whether `fileName` is a host's file as Zeek's layout generator selects them from a
    /// directory (`[a-z0-9][-a-z0-9_]*.zeek.conf`).
    public static func isHostFile(_ fileName: String) -> Bool {
        guard fileName.hasSuffix(hostFileSuffix) else { return false }
        let host = fileName.dropLast(hostFileSuffix.count)
        guard let first = host.first, first.isASCII, first.isLowercase || first.isNumber else { return false }
        return host.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    /// Reads one `zeek.conf` (`sources` has one file not named `<host>.zeek.conf`: its nodes
    /// run on `defaultInstance` at 127.0.0.1 unless it sets `address`) or a cluster directory's
    /// host files (each host's nodes run on the instance named after its file).
    ///
    /// Every problem is reported, each at its file and line; nothing is read when any is.
    public static func read(_ sources: [Source], id: String, defaultInstance: String) throws(ZeekConfProblems) -> ClusterConfigurationFile.Reading {
        guard !sources.isEmpty else { throw ZeekConfProblems([ZeekConfProblem(file: "", line: 0, "no <hostname>.zeek.conf files found")]) }
        let multiHost = sources.count > 1 || sources[0].filenameHost != nil
        var problems: [ZeekConfProblem] = []
        var hosts: [(source: Source, host: ZeekConfHost)] = []
        for source in sources.sorted(by: { $0.fileName < $1.fileName }) {
            if multiHost, !isHostFile(source.fileName) {
                problems.append(ZeekConfProblem(file: source.path, line: 0, "a cluster's files are named <hostname>.zeek.conf, with a host name of a-z, 0-9, - and _"))
                continue
            }
            do {
                let document = try ZeekConfDocument(parsing: source.text)
                hosts.append((source, try ZeekConfHost(document, filenameHost: multiHost ? source.filenameHost : nil)))
            } catch {
                problems += error.inFile(source.path).problems
            }
        }
        guard problems.isEmpty else { throw ZeekConfProblems(problems) }

        var builder = Builder()
        for (source, host) in hosts {
            let instance = multiHost ? source.filenameHost! : defaultInstance
            builder.add(host, instance: instance, file: source.path)
        }
        let managers = hosts.filter { $0.host.manager }
        if managers.count > 1 {
            builder.problems.append(ZeekConfProblem(file: "", line: 0,
                "too many manager nodes (\(managers.count)) from \(managers.map(\.source.path).joined(separator: ", ")): a cluster has one manager"))
        }
        guard builder.problems.isEmpty else { throw ZeekConfProblems(builder.problems) }
        let backend = try builder.backend(of: hosts)
        let configuration = Management.Configuration(
            id: id, instances: Set(builder.instances), nodes: Set(builder.nodes), clusterBackend: backend, archivers: builder.archivers)
        return ClusterConfigurationFile.Reading(configuration: configuration, warnings: builder.warnings)
    }

    /// Turns hosts into nodes, in the generator's order and with its counters.
    struct Builder {
        var instances: [Management.Instance] = []
        var nodes: [Management.Node] = []
        var archivers: [String: LogArchiver] = [:]
        var warnings: [String] = []
        var problems: [ZeekConfProblem] = []

        mutating func add(_ host: ZeekConfHost, instance: String, file: String) {
            instances.append(Management.Instance(name: instance, host: host.address ?? .unspecified))
            warnings += host.notCarried.map { var problem = $0; problem.file = file; return problem.description }
            if let args = host.args, !args.contains("local") {
                warnings.append(ZeekConfProblem(file: file, line: host.argsLine,
                    "args leaves out local, which the supervisor loads on every node (site/local.zeek) all the same").description)
            }
            var port = host.port
            var metricsPort = host.metricsPort
            func nextPort() -> ZeekPort { defer { port += 1 }; return ZeekPort(UInt16(clamping: port)) }
            func nextMetricsPort() -> ZeekPort {
                defer { if metricsPort != 0 { metricsPort += 1 } }
                return ZeekPort(UInt16(clamping: metricsPort))
            }
            func prefixed(_ name: String) -> String {
                guard let prefix = host.clusterNodePrefix, !prefix.isEmpty else { return name }
                return "\(prefix)-\(name)"
            }
            if port + host.nodesWithPorts - 1 > 65535 {
                problems.append(ZeekConfProblem(file: file, line: 0, "port \(host.port) leaves too few ports below 65536 for this host's \(host.nodesWithPorts) nodes"))
                return
            }
            let nodeCount = host.nodesWithPorts + host.interfaces.reduce(0) { $0 + max($1.workers, 0) }
            if metricsPort != 0, metricsPort + nodeCount - 1 > 65535 {
                problems.append(ZeekConfProblem(file: file, line: 0, "metrics_port \(metricsPort) leaves too few ports below 65536 for this host's \(nodeCount) nodes"))
                return
            }

            func node(_ name: String, _ role: Supervisor.ClusterRole, type: String, withPort: Bool) -> Management.Node? {
                let options = host.types[type] ?? ZeekConfHost.TypeOptions()
                var node = Management.Node(name: name, instance: instance, role: role, port: withPort ? nextPort() : nil,
                                           metricsPort: nextMetricsPort(), user: host.user, group: host.group)
                node.limits = Self.limits(nice: options.nice, memoryMax: options.memoryMax, cpuSet: options.cpuSet, restart: host.restartIntervalSec)
                do {
                    node.env = try Self.environment(host.env + options.env, variables: [:], file: file, node: name)
                    try Self.apply(arguments: options.args, line: options.argsLine, host: host, to: &node, file: file)
                } catch {
                    problems.append(error)
                    return nil
                }
                return node
            }

            if host.manager, let manager = node("manager", .manager, type: "manager", withPort: true) { nodes.append(manager) }
            for index in stride(from: 1, through: host.loggers, by: 1) {
                if let logger = node(prefixed("logger-\(index)"), .logger, type: "logger", withPort: true) { nodes.append(logger) }
            }
            for index in stride(from: 1, through: host.proxies, by: 1) {
                if let proxy = node(prefixed("proxy-\(index)"), .proxy, type: "proxy", withPort: true) { nodes.append(proxy) }
            }
            var hostWorkerIndex = 0
            for interface in host.interfaces {
                for index in stride(from: 1, through: interface.workers, by: 1) {
                    hostWorkerIndex += 1
                    let base = interface.name.isEmpty ? "worker-\(index)" : "worker-\(interface.name)-\(index)"
                    let name = prefixed(base)
                    var worker = Management.Node(name: name, instance: instance, role: .worker, metricsPort: nextMetricsPort(),
                                                 user: host.user, group: host.group)
                    // Zeek's generator indexes the interface's CPU list by the worker's index
                    // on the host, not within the interface.
                    let cpu = interface.cpuList.isEmpty ? nil : interface.cpuList[(hostWorkerIndex - 1) % interface.cpuList.count]
                    var variables = [
                        "worker_index": "\(index)", "worker_index0": "\(index - 1)",
                        "host_worker_index": "\(hostWorkerIndex)", "host_worker_index0": "\(hostWorkerIndex - 1)",
                    ]
                    if let cpu { variables["worker_cpu"] = "\(cpu)" }
                    if !interface.name.isEmpty { variables["interface_section_name"] = interface.name }
                    worker.cpuAffinity = cpu
                    worker.limits = Self.limits(nice: interface.nice, memoryMax: interface.memoryMax, cpuSet: nil, restart: host.restartIntervalSec)
                    do {
                        worker.interface = try Self.substitute(interface.interface, variables: variables, file: file, line: interface.interfaceLine, what: "interface")
                        worker.env = try Self.environment(host.env + interface.env, variables: variables, file: file, node: name)
                        try Self.apply(arguments: interface.args, line: interface.argsLine, host: host, to: &worker, file: file)
                    } catch {
                        problems.append(error)
                        continue
                    }
                    nodes.append(worker)
                }
            }
            if let archiver = host.archiver, archiver != "0" {
                let options = host.types["archiver"] ?? ZeekConfHost.TypeOptions()
                do {
                    let env = try Self.environment(host.env + options.env, variables: [:], file: file, node: "archiver")
                    archivers[instance] = LogArchiver(
                        program: archiver == "1" ? nil : archiver, args: options.args, env: env,
                        limits: Self.limits(nice: options.nice, memoryMax: options.memoryMax, cpuSet: options.cpuSet, restart: host.restartIntervalSec))
                } catch {
                    problems.append(error)
                }
            }
        }

        /// The cluster backend every file names (`cluster_backend_args`); they must agree.
        func backend(of hosts: [(source: Source, host: ZeekConfHost)]) throws(ZeekConfProblems) -> ClusterBackend? {
            var chosen: (name: ClusterBackend.Name, file: String)?
            for (source, host) in hosts {
                guard let words = host.backendArgs else { continue }
                guard let name = words.lazy.compactMap(ZeekConfFile.backendName).first else {
                    throw ZeekConfProblems([ZeekConfProblem(file: source.path, line: host.backendLine,
                        "cluster_backend_args loads no cluster backend: name frameworks/cluster/backend/zeromq or frameworks/cluster/backend/broker")])
                }
                if let chosen, chosen.name != name {
                    throw ZeekConfProblems([ZeekConfProblem(file: source.path, line: host.backendLine,
                        "cluster_backend_args loads the \(name.rawValue) backend, \(chosen.file) the \(chosen.name.rawValue) backend: a cluster has one backend")])
                }
                chosen = (name, source.path)
            }
            return chosen.map { ClusterBackend(name: $0.name) }
        }

        static func limits(nice: Int?, memoryMax: Int?, cpuSet: [Int]?, restart: Int?) -> NodeLimits? {
            let limits = NodeLimits(memoryMax: memoryMax, nice: nice, cpuSet: cpuSet, restartIntervalSec: restart)
            return limits.isEmpty ? nil : limits
        }

        /// The environment of one node (global `env`, then its type's, which wins), templated
        /// as Zeek's generator templates it: only workers have variables.
        static func environment(_ entries: [(key: String, value: String, line: Int)], variables: [String: String],
                                file: String, node: String) throws(ZeekConfProblem) -> [String: String] {
            var env: [String: String] = [:]
            for entry in entries {
                env[entry.key] = try substitute(entry.value, variables: variables, file: file, line: entry.line, what: "env \(entry.key) of \(node)")
            }
            return env
        }

        /// `${name}` replaced by its variable, `\${` kept as `${`, as Zeek's `substitute_vars`.
        static func substitute(_ text: String, variables: [String: String], file: String, line: Int, what: String) throws(ZeekConfProblem) -> String {
            var result = ""
            var rest = Substring(text)
            while let dollar = rest.indices.first(where: { rest[$0] == "$" && rest.index(after: $0) < rest.endIndex && rest[rest.index(after: $0)] == "{" }) {
                let opened = rest.index(dollar, offsetBy: 2)
                if dollar > rest.startIndex, rest[rest.index(before: dollar)] == "\\" {
                    result += rest[..<rest.index(before: dollar)] + "${"
                    rest = rest[opened...]
                    continue
                }
                result += rest[..<dollar]
                guard let close = rest[opened...].firstIndex(of: "}") else {
                    throw ZeekConfProblem(file: file, line: line, "\(what): '${' without a closing '}' in '\(text)'")
                }
                let name = String(rest[opened..<close])
                guard let value = variables[name] else {
                    let known = variables.keys.sorted()
                    throw ZeekConfProblem(file: file, line: line, "\(what): invalid substitution var '\(name)' in '\(text)'"
                        + (known.isEmpty ? " (only workers' interface and env have variables)" : " (known: \(known.joined(separator: ", ")))"))
                }
                result += value
                rest = rest[rest.index(after: close)...]
            }
            return result + rest
        }

        /// A node's Zeek arguments — its type's `_args`, then `args` (by default `local`), as
        /// Zeek's units order them — as the node's scripts and options: a word with `=` is a
        /// `redef` (an option), any other a script. `local` is loaded on every node anyway, and
        /// a flag cannot be carried: the supervisor builds Zeek's command line.
        static func apply(arguments: [String], line: Int, host: ZeekConfHost, to node: inout Management.Node, file: String) throws(ZeekConfProblem) {
            var scripts: [String] = []
            var options: Set<Management.Option> = []
            let backendOptions = (host.backendArgs ?? []).filter { ZeekConfFile.backendName($0) == nil }
            for (words, line) in [(arguments, line), (host.args ?? [], host.argsLine), (backendOptions, host.backendLine)] {
                for word in words where word != "local" {
                    if word.hasPrefix("-") {
                        throw ZeekConfProblem(file: file, line: line, "'\(word)' is a flag to Zeek, which cannot be given: the supervisor builds each node's command line; "
                            + "load scripts and redefine options (NAME=VALUE) instead")
                    }
                    guard let equals = word.firstIndex(of: "=") else {
                        scripts.append(word)
                        continue
                    }
                    let name = String(word[..<equals])
                    let value = String(word[word.index(after: equals)...])
                    guard !name.isEmpty, !value.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else {
                        throw ZeekConfProblem(file: file, line: line, "'\(word)' is not NAME=VALUE with a Zeek identifier for NAME (+= and -= cannot be carried)")
                    }
                    options.insert(Management.Option(name: name, value: value))
                }
            }
            node.scripts = scripts.isEmpty ? nil : scripts
            node.options = options.isEmpty ? nil : options
        }
    }

    /// The backend a `cluster_backend_args` word loads, if it loads one.
    static func backendName(_ word: String) -> ClusterBackend.Name? {
        var script = word
        if script.hasPrefix("policy/") { script.removeFirst("policy/".count) }
        if script.hasSuffix(".zeek") { script.removeLast(".zeek".count) }
        switch script {
        case "frameworks/cluster/backend/zeromq": return .zeromq
        case "frameworks/cluster/backend/broker": return .broker
        default: return nil
        }
    }
}

extension ZeekConfHost {
    /// How many of the host's nodes take a port (manager, loggers, proxies).
    var nodesWithPorts: Int { (manager ? 1 : 0) + max(loggers, 0) + max(proxies, 0) }
}
