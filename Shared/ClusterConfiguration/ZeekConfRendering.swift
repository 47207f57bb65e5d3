import ManagementTypes

extension ZeekConfFile {
    /// One host's file of a rendered configuration.
    public struct RenderedFile: Sendable, Hashable {
        /// `<instance>.zeek.conf`.
        public var fileName: String
        public var text: String
    }

    /// The configuration as a cluster directory of `<instance>.zeek.conf` files, one per
    /// instance, which ``read(_:id:defaultInstance:)`` reads back to the same nodes.
    ///
    /// zeek.conf describes nodes by counts and bases (names, ports and metrics ports follow
    /// from them), so only a configuration whose nodes follow Zeek's scheme can be written as
    /// zeek.conf: one read from zeek.conf always can; one from a zeek-client INI file with its
    /// own node names usually cannot, and is refused with the first difference (render it as
    /// INI instead). Every rendering is read back and compared before it is returned.
    public static func render(_ config: Management.Configuration) throws(ZeekConfProblems) -> [RenderedFile] {
        var files: [RenderedFile] = []
        for instance in config.instances.sorted() {
            guard isHostFile(instance.name + hostFileSuffix) else {
                throw refusal("instance '\(instance.name)' is not a host name zeek.conf accepts (a-z, 0-9, - and _)")
            }
            guard instance.listenPort == nil else {
                throw refusal("instance '\(instance.name)' has a listen port (the controller connects to its agent), which zeek.conf cannot express")
            }
            let nodes = config.nodes.filter { $0.instance == instance.name }
            files.append(RenderedFile(fileName: instance.name + hostFileSuffix,
                                      text: try hostText(instance: instance, nodes: nodes, config: config)))
        }
        // Read back: what zeek.conf cannot say shows up as a difference.
        let sources = files.map { Source(path: $0.fileName, text: $0.text) }
        let reread: Management.Configuration
        do {
            reread = try read(sources, id: config.id, defaultInstance: "").configuration
        } catch {
            throw refusal("its zeek.conf form does not read back: \(error)")
        }
        if let difference = firstDifference(config, reread) { throw refusal(difference) }
        return files
    }

    private static func refusal(_ why: String) -> ZeekConfProblems {
        ZeekConfProblems([ZeekConfProblem(file: "", line: 0, "this configuration cannot be written as zeek.conf: \(why); print it as INI instead")])
    }

    /// What differs between a configuration and its zeek.conf form read back, or nil.
    private static func firstDifference(_ config: Management.Configuration, _ reread: Management.Configuration) -> String? {
        let theirs = Dictionary(reread.nodes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for node in config.nodes.sorted() {
            guard let other = theirs[node.name] else { return "node '\(node.name)' does not follow zeek.conf's node names (manager, <host>-logger-N, <host>-worker-<interface>-N, ...)" }
            var expected = node
            expected.state = other.state
            if expected != other { return "node '\(node.name)' would read back as \(other), not \(node)" }
        }
        if let extra = reread.nodes.map(\.name).filter({ name in !config.nodes.contains { $0.name == name } }).sorted().first {
            return "it would gain node '\(extra)'"
        }
        if config.archivers != reread.archivers { return "its log archivers would read back differently" }
        if config.clusterBackend?.name != reread.clusterBackend?.name { return "its cluster backend would read back differently" }
        return nil
    }

    private static func hostText(instance: Management.Instance, nodes: Set<Management.Node>, config: Management.Configuration) throws(ZeekConfProblems) -> String {
        let ordered = nodes.sorted()
        let manager = ordered.first { $0.role == .manager }
        let loggers = ordered.filter { $0.role == .logger }.sorted(by: numbered)
        let proxies = ordered.filter { $0.role == .proxy }.sorted(by: numbered)
        let workers = ordered.filter { $0.role == .worker }
        if let other = ordered.first(where: { $0.role == .none }) { throw refusal("node '\(other.name)' has no cluster role") }

        var zeek: [(String, [String])] = []
        func set(_ key: String, _ value: String) { zeek.append((key, [value])) }
        func set(_ key: String, values: [String]) { if !values.isEmpty { zeek.append((key, values)) } }

        if manager != nil { set("manager", "1") }
        set("loggers", "\(loggers.count)")
        set("proxies", "\(proxies.count)")
        // Names tell the prefix: `<prefix>-logger-1`; none on a host with only a manager.
        let named: (name: String, marker: String)? = (loggers + proxies).first.map { ($0.name, $0.role == .logger ? "logger-" : "proxy-") }
            ?? workers.first.map { ($0.name, "worker-") }
        if let named, case .some(let prefix) = prefix(of: named.name, before: named.marker) { set("cluster_node_prefix", prefix ?? "") }
        if instance.host != .unspecified {
            set("address", instance.host.text.contains(":") ? "[\(instance.host.text)]" : instance.host.text)
        }
        if let first = ([manager].compactMap { $0 } + loggers + proxies).first, let port = first.port { set("port", "\(port.number)") }
        let inOrder = [manager].compactMap { $0 } + loggers + proxies + workers
        if let metrics = inOrder.first?.metricsPort { set("metrics_port", "\(metrics.number)") }
        if let seconds = inOrder.compactMap({ $0.limits?.restartIntervalSec }).first { set("restart_interval_sec", "\(seconds)") }
        if let user = inOrder.compactMap(\.user).first { set("user", user) }
        if let group = inOrder.compactMap(\.group).first { set("group", group) }
        if let backend = config.clusterBackend?.name { set("cluster_backend_args", "frameworks/cluster/backend/\(backend.rawValue)") }

        for (type, node) in [("manager", manager), ("logger", loggers.first), ("proxy", proxies.first)] {
            guard let node else { continue }
            zeek += typeOptions(type, limits: node.limits, env: node.env, args: arguments(of: node), cpuSet: true)
        }
        if let archiver = config.archivers[instance.name] {
            set("archiver", archiver.program ?? "1")
            zeek += typeOptions("archiver", limits: archiver.limits, env: archiver.env, args: archiver.args, cpuSet: true)
        } else if manager != nil || !loggers.isEmpty {
            set("archiver", "0")
        }

        // Workers: one [interface NAME] section per name in `worker-NAME-N`; a host whose
        // workers are `worker-N` is written section-less, as Zeek names those.
        var groups: [(name: String, workers: [(index: Int, node: Management.Node)])] = []
        for node in workers {
            guard let (section, index) = workerPlace(node.name) else { throw refusal("worker '\(node.name)' is not named <prefix>-worker-[<interface>-]N") }
            if let position = groups.firstIndex(where: { $0.name == section }) {
                groups[position].workers.append((index, node))
            } else {
                groups.append((section, [(index, node)]))
            }
        }
        let sectionless = groups.count == 1 && groups[0].name.isEmpty
        if groups.contains(where: { $0.name.isEmpty }), !sectionless {
            throw refusal("instance '\(instance.name)' has workers named worker-N beside workers of named interfaces")
        }
        var text = "# Rendered by zeek-mgmt from the deployed configuration \(config.id).\n"
        var interfaceText = ""
        var hostWorkerIndex = 0
        for (name, members) in groups.sorted(by: { $0.name < $1.name }) {
            let members = members.sorted { $0.index < $1.index }
            let first = members[0].node
            let variables = members.enumerated().map { position, member in
                var variables = [
                    "worker_index": "\(position + 1)", "worker_index0": "\(position)",
                    "host_worker_index": "\(hostWorkerIndex + position + 1)", "host_worker_index0": "\(hostWorkerIndex + position)",
                ]
                if let cpu = member.node.cpuAffinity { variables["worker_cpu"] = "\(cpu)" }
                if !name.isEmpty { variables["interface_section_name"] = name }
                return variables
            }
            let interfaces = members.map { $0.node.interface ?? "" }
            var options: [(String, [String])] = [
                ("interface", [template(for: interfaces, variables: variables) ?? interfaces[0]]),
                ("workers", ["\(members.count)"]),
            ]
            let cpus = members.compactMap(\.node.cpuAffinity)
            if cpus.count == members.count, !cpus.isEmpty {
                // Zeek takes entry (host worker index - 1) mod count: rotate so each worker finds its own.
                let start = (cpus.count - hostWorkerIndex % cpus.count) % cpus.count
                let rotated: [Int] = Array(cpus[start...]) + Array(cpus[..<start])
                options.append(("workers_cpu_list", [rotated.map(String.init).joined(separator: ",")]))
            }
            if let nice = first.limits?.nice { options.append(("worker_nice", ["\(nice)"])) }
            if let memory = first.limits?.memoryMax { options.append(("worker_memory_max", [NodeLimits.memoryText(memory)])) }
            if !first.env.isEmpty {
                let env = first.env.keys.sorted().map { key in
                    let values = members.map { $0.node.env[key] ?? "" }
                    return "\(key)=\(template(for: values, variables: variables) ?? values[0])"
                }
                options.append(("worker_env", env))
            }
            let args = arguments(of: first)
            if !args.isEmpty { options.append(("worker_args", args)) }
            hostWorkerIndex += members.count
            if sectionless {
                zeek += options
            } else {
                interfaceText += "\n[interface \(name)]\n" + lines(options)
            }
        }
        text += sectionless ? lines(zeek) : "[zeek]\n" + lines(zeek) + interfaceText
        return text
    }

    /// Options as zeek.conf lines: several values as indented continuation lines.
    private static func lines(_ options: [(String, [String])]) -> String {
        options.map { key, values in
            values.count == 1 ? "\(key) = \(values[0])\n" : "\(key) =\n" + values.map { "  \($0)\n" }.joined()
        }.joined()
    }

    private static func typeOptions(_ type: String, limits: NodeLimits?, env: [String: String], args: [String], cpuSet: Bool) -> [(String, [String])] {
        var options: [(String, [String])] = []
        if let memory = limits?.memoryMax { options.append(("\(type)_memory_max", [NodeLimits.memoryText(memory)])) }
        if let nice = limits?.nice { options.append(("\(type)_nice", ["\(nice)"])) }
        if cpuSet, let cpus = limits?.cpuSet { options.append(("\(type)_cpu_set", [NodeLimits.cpuListText(cpus)])) }
        if !env.isEmpty { options.append(("\(type)_env", env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })) }
        if !args.isEmpty { options.append(("\(type)_args", args.map(quotedIfNeeded))) }
        return options
    }

    /// A node's scripts, then its options as `NAME=VALUE` words.
    private static func arguments(of node: Management.Node) -> [String] {
        (node.scripts ?? []) + (node.options ?? []).sorted { $0.name < $1.name }.map { "\($0.name)=\($0.value)" }
    }

    private static func quotedIfNeeded(_ word: String) -> String {
        word.contains(where: { $0.isWhitespace || $0 == "\"" || $0 == "'" || $0 == "\\" })
            ? "'" + word.replacing("'", with: "'\\''") + "'" : word
    }

    /// The prefix before `<role>-N` in a node name: nil for none, as in `logger-1`.
    private static func prefix(of name: String, before marker: String) -> String?? {
        if name.hasPrefix(marker) { return .some(nil) }
        guard let range = name.firstRange(of: "-" + marker) else { return nil }
        return .some(String(name[..<range.lowerBound]))
    }

    /// `(interface section, N)` of `[<prefix>-]worker-[<section>-]N`.
    private static func workerPlace(_ name: String) -> (String, Int)? {
        let tail: Substring
        if name.hasPrefix("worker-") {
            tail = name.dropFirst("worker-".count)
        } else if let range = name.firstRange(of: "-worker-") {
            tail = name[range.upperBound...]
        } else {
            return nil
        }
        guard let dash = tail.lastIndex(of: "-") else { return Int(tail).map { ("", $0) } }
        guard let index = Int(tail[tail.index(after: dash)...]) else { return nil }
        return (String(tail[..<dash]), index)
    }

    /// The template of a worker option (`interface`, a `worker_env` value) that gives each
    /// worker its own value with the variables Zeek's generator gives it: the common value when
    /// they share one, else a search over which occurrences of the first worker's variable
    /// values are variables, checked against every worker. Nil when none fits.
    private static func template(for values: [String], variables: [[String: String]]) -> String? {
        guard let first = values.first else { return nil }
        if Set(values).count == 1, !first.contains("${") { return first }
        // Longest values first, so `host_worker_index` = 12 is tried before a literal 1.
        let choices = variables[0].filter { !$0.value.isEmpty }.sorted { ($0.value.count, $1.key) > ($1.value.count, $0.key) }
        var budget = 4096
        func fits(_ template: String) -> Bool {
            values.indices.allSatisfy { (try? Builder.substitute(template, variables: variables[$0], file: "", line: 0, what: "")) == values[$0] }
        }
        func search(_ rest: Substring, _ built: String) -> String? {
            budget -= 1
            guard budget > 0 else { return nil }
            guard let character = rest.first else { return fits(built) ? built : nil }
            for (name, value) in choices where rest.hasPrefix(value) {
                if let found = search(rest.dropFirst(value.count), built + "${\(name)}") { return found }
            }
            let literal = character == "$" && rest.dropFirst().first == "{" ? "\\$" : String(character)
            return search(rest.dropFirst(), built + literal)
        }
        return search(Substring(first), "")
    }

    /// Loggers and proxies in the order of their number (`logger-2` before `logger-10`).
    private static func numbered(_ lhs: Management.Node, _ rhs: Management.Node) -> Bool {
        let left = Int(lhs.name.split(separator: "-").last ?? "") ?? 0
        let right = Int(rhs.name.split(separator: "-").last ?? "") ?? 0
        return (left, lhs.name) < (right, rhs.name)
    }
}
