import ManagementTypes

/// zeek-client's cluster configuration file: an INI document with an optional `[instances]`
/// section and one section per node. Existing zeek-client files read here unchanged,
/// including its shortcuts (nodes without an instance run on `agent-<hostname>`; instances
/// are implied by the nodes when `[instances]` is absent).
///
/// Worker sections may also carry the capture settings operators write in zeekctl's node.cfg
/// for AF_PACKET fan-out (`lb_procs`, `pin_cpus`, `af_packet_*`; see ``captureKeys``), so a
/// cluster that captures on several interfaces with several processes each is one section per
/// interface rather than one hand-written section per process.
public enum ClusterConfigurationFile {
    /// What reading a file produced: the configuration, and what was ignored in it.
    public struct Reading: Sendable, Hashable {
        public var configuration: Management.Configuration
        public var warnings: [String]
    }

    /// Why a file was rejected; nothing is sent for it.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
        init(_ description: String) { self.description = description }
    }

    /// Reads a configuration; it gets a fresh id, as zeek-client gives every file it sends.
    ///
    /// - Parameter defaultInstance: the instance of nodes that name none (`agent-<hostname>`).
    public static func read(_ text: String, id: String, defaultInstance: String) throws(Problem) -> Reading {
        let document: INIDocument
        do {
            document = try INIDocument(parsing: text)
        } catch {
            throw Problem("cannot parse configuration: \(error)")
        }
        var warnings: [String] = []
        var instances: [Management.Instance] = []
        var nodes: [Management.Node] = []
        var nodeSections = 0
        var nodesWithoutInstance = 0
        let sectionNames = Set(document.sections.map(\.name)).subtracting(["instances", clusterSection])
        var fanoutGroups = FanoutGroups()
        var backend: ClusterBackend?

        for section in document.sections {
            if section.name == "instances" {
                for entry in section.entries {
                    instances.append(try instance(named: entry.key, spec: entry.value))
                }
                continue
            }
            if section.name == clusterSection {
                backend = try clusterBackend(from: section)
                continue
            }
            for entry in section.entries where entry.value == nil {
                throw Problem("config item \(section.name).\(entry.key) needs a value")
            }
            nodeSections += 1
            if !section.contains("instance") { nodesWithoutInstance += 1 }
            do {
                let node = try node(from: section, defaultInstance: defaultInstance, warnings: &warnings)
                let capture = try CaptureSettings(from: section, for: node)
                let expanded = capture.expand(node)
                if expanded.count > 1 {
                    if let taken = expanded.first(where: { sectionNames.contains($0.name) }) {
                        throw Problem("expanded node \"\(taken.name)\" (lb_procs = \(expanded.count)) collides with section \"\(taken.name)\"")
                    }
                    if !(node.interface?.hasPrefix(afPacketPrefix) ?? false) {
                        let source = node.interface.map { "interface \"\($0)\"" } ?? "no interface"
                        warnings.append("node \"\(section.name)\" runs lb_procs = \(expanded.count) processes with \(source): "
                            + "AF_PACKET fan-out needs the \(afPacketPrefix) packet source (interface = \(afPacketPrefix)<interface>)")
                    }
                }
                try fanoutGroups.add(section: section.name, node: node, fanoutID: capture.fanoutID)
                nodes.append(contentsOf: expanded)
            } catch {
                throw Problem("invalid node \"\(section.name)\" configuration: \(error)")
            }
        }
        let hasInstancesSection = document[section: "instances"] != nil
        if nodesWithoutInstance > 0 {
            guard nodesWithoutInstance == nodeSections else { throw Problem("either all or no nodes must state instances") }
            guard !hasInstancesSection else { throw Problem("omit instances section when skipping instances in node definitions") }
        }
        if !hasInstancesSection {
            instances = Set(nodes.map(\.instance)).sorted().map { Management.Instance(name: $0) }
        }
        return Reading(configuration: Management.Configuration(id: id, instances: Set(instances), nodes: Set(nodes), clusterBackend: backend),
                       warnings: warnings)
    }

    /// The section for settings of the whole cluster rather than of one node (beyond
    /// zeek-client's format, which has no such settings): the cluster backend.
    public static let clusterSection = "cluster"

    /// `[cluster]`: `backend = zeromq | broker | auto` (auto, the default: each host's Zeek
    /// decides, ZeroMQ from 8.1 on), `encryption = auto | on | off` (CURVE on ZeroMQ; auto: on
    /// when the nodes span more than one address), and the manager's ZeroMQ proxy ports
    /// `zeromq_xpub_port` and `zeromq_xsub_port` (assigned by the controller when left out).
    static func clusterBackend(from section: INIDocument.Section) throws(Problem) -> ClusterBackend? {
        let known = ["backend", "encryption", "zeromq_xpub_port", "zeromq_xsub_port"]
        if let unknown = section.entries.map(\.key).first(where: { !known.contains($0) }) {
            throw Problem("invalid [\(clusterSection)] key \"\(unknown)\": expected one of \(known.joined(separator: ", "))")
        }
        func text(_ key: String) -> String? { section[key].flatMap { $0?.trimmingWhitespace() }.flatMap { $0.isEmpty ? nil : $0 } }
        var backend = ClusterBackend()
        if let value = text("backend"), value.lowercased() != "auto" {
            guard let name = ClusterBackend.Name(rawValue: value.lowercased()) else {
                throw Problem("invalid [\(clusterSection)] backend \"\(value)\": zeromq, broker or auto")
            }
            backend.name = name
        }
        if let value = text("encryption") {
            guard let encryption = ClusterBackend.Encryption(rawValue: value.lowercased()) else {
                throw Problem("invalid [\(clusterSection)] encryption \"\(value)\": auto, on or off")
            }
            backend.encryption = encryption == .auto ? nil : encryption
        }
        for (key, path) in [("zeromq_xpub_port", \ClusterBackend.xpubPort), ("zeromq_xsub_port", \ClusterBackend.xsubPort)] {
            guard let value = text(key) else { continue }
            guard let number = UInt16(value), number > 0 else { throw Problem("invalid [\(clusterSection)] \(key) \"\(value)\": a port from 1 to 65535") }
            backend[keyPath: path] = ZeekPort(number)
        }
        return backend.isEmpty ? nil : backend
    }

    private static func instance(named name: String, spec: String?) throws(Problem) -> Management.Instance {
        guard let spec, !spec.isEmpty else { return Management.Instance(name: name) }
        let invalid = Problem("invalid spec for instance \"\(name)\": \"\(spec)\" should be <host>:<port>")
        guard let colon = spec.lastIndex(of: ":") else { throw invalid }
        let hostText = spec[..<colon].trimming(charactersIn: "[] ")
        let portText = spec[spec.index(after: colon)...].trimmingWhitespace()
        guard !hostText.isEmpty, !portText.isEmpty else { throw invalid }
        guard let host = IPAddress(hostText) else {
            throw Problem("invalid spec for instance \"\(name)\": \"\(hostText)\" is not an IP address")
        }
        guard let number = Int(portText), (1...65535).contains(number) else {
            throw Problem("invalid spec for instance \"\(name)\": port \"\(portText)\" is not a number from 1 to 65535")
        }
        return Management.Instance(name: name, host: host, listenPort: ZeekPort(UInt16(number)))
    }

    /// The node keys of zeek-client's format, and the capture keys this reader adds to them.
    private static let nodeKeys = Set(["instance", "role", "type", "scripts", "port", "interface", "cpu_affinity", "env", "metrics_port", "state", "user", "group"])
        .union(captureKeys).union(limitKeys)

    /// A node's process limits, named and written as Zeek's `zeek.conf` writes them per node
    /// type (`worker_memory_max = 4G`, `worker_nice = 5`, `worker_cpu_set = 0-3`,
    /// `restart_interval_sec = 1`), here per node section without the type.
    public static let limitKeys = ["memory_max", "nice", "cpu_set", "restart_interval_sec"]

    /// A section's limits, checked as Zeek's generator checks them; nil when it sets none.
    static func limits(from section: INIDocument.Section) throws(Problem) -> NodeLimits? {
        func text(_ key: String) -> String? { section[key].flatMap { $0?.trimmingWhitespace() }.flatMap { $0.isEmpty ? nil : $0 } }
        var limits = NodeLimits()
        if let value = text("memory_max") {
            guard let bytes = NodeLimits.memory(value) else {
                throw Problem("invalid memory_max '\(value)': bytes, or a number with a K, M, G or T suffix")
            }
            limits.memoryMax = bytes
        }
        if let value = text("nice") {
            guard let nice = Int(value), (-20...19).contains(nice) else { throw Problem("invalid nice value '\(value)': a number from -20 to 19") }
            limits.nice = nice
        }
        if let value = text("cpu_set") {
            guard let cpus = NodeLimits.cpuList(value), !cpus.isEmpty else {
                throw Problem("invalid cpu_set '\(value)': CPU numbers and ranges, e.g. 0-3,8 or 0-8:2")
            }
            limits.cpuSet = cpus
        }
        if let value = text("restart_interval_sec") {
            guard let seconds = Int(value), (0...NodeLimits.maximumRestartInterval).contains(seconds) else {
                throw Problem("invalid restart_interval_sec '\(value)': whole seconds from 0 to \(NodeLimits.maximumRestartInterval)")
            }
            limits.restartIntervalSec = seconds
        }
        if let problem = limits.problem { throw Problem(problem) }
        return limits.isEmpty ? nil : limits
    }

    /// A node's limits as the keys ``limits(from:)`` reads.
    static func limitEntries(_ limits: NodeLimits?) -> [(key: String, value: String?)] {
        guard let limits else { return [] }
        var entries: [(key: String, value: String?)] = []
        if let bytes = limits.memoryMax { entries.append(("memory_max", NodeLimits.memoryText(bytes))) }
        if let nice = limits.nice { entries.append(("nice", "\(nice)")) }
        if let cpus = limits.cpuSet { entries.append(("cpu_set", NodeLimits.cpuListText(cpus))) }
        if let seconds = limits.restartIntervalSec { entries.append(("restart_interval_sec", "\(seconds)")) }
        return entries
    }

    /// Capture settings as zeekctl's node.cfg names them; only worker sections may use them.
    ///
    /// - `lb_procs`: how many processes capture on the section's interface; more than one
    ///   expands the section into nodes `<section>-1` … `<section>-N`, as zeekctl names them.
    /// - `pin_cpus`: comma-separated CPU numbers, one per process, in process order; each
    ///   becomes that node's `cpu_affinity`.
    /// - `af_packet_fanout_id`, `af_packet_fanout_mode`, `af_packet_buffer_size`: become the
    ///   node options (`redef`s) `AF_Packet::fanout_id`, `AF_Packet::fanout_mode`,
    ///   `AF_Packet::buffer_size`.
    public static let captureKeys: [String] = ["lb_procs", "pin_cpus"] + afPacketOptionKeys.map(\.key)

    /// The capture keys that are Zeek options, with the option each one sets, in rendering order.
    static let afPacketOptionKeys: [(key: String, option: String)] = [
        ("af_packet_fanout_id", "AF_Packet::fanout_id"),
        ("af_packet_fanout_mode", "AF_Packet::fanout_mode"),
        ("af_packet_buffer_size", "AF_Packet::buffer_size"),
    ]

    /// Zeek's packet source prefix for AF_PACKET capture (`zeek -i af_packet::eth0`); without it
    /// Zeek captures through libpcap, which cannot fan out.
    static let afPacketPrefix = "af_packet::"

    /// Zeek's `AF_Packet::fanout_id` when a node does not redefine it.
    static let defaultFanoutID = 23

    /// Zeek's `AF_Packet::FanoutMode` values, without their module prefix.
    static let fanoutModes = ["FANOUT_HASH", "FANOUT_CPU", "FANOUT_QM", "FANOUT_CBPF", "FANOUT_EBPF"]

    /// A section's capture settings, checked; a section without capture keys has the neutral
    /// settings (one process, no pinning, no options), so it reads exactly as zeek-client reads it.
    struct CaptureSettings {
        /// `lb_procs`, 1 when absent.
        var processes = 1
        /// `pin_cpus`, one CPU per process at least.
        var pinnedCPUs: [Int]?
        /// The `AF_Packet::` options every process of the section gets.
        var options: Set<Management.Option> = []
        /// `af_packet_fanout_id` when given; Zeek uses ``defaultFanoutID`` otherwise.
        var fanoutID: Int?

        init(from section: INIDocument.Section, for node: Management.Node) throws(Problem) {
            let present = captureKeys.filter(section.contains)
            guard !present.isEmpty else { return }
            guard node.role == .worker else {
                throw Problem("capture settings (\(present.joined(separator: ", "))) need role WORKER, not \(node.role.rawValue)")
            }
            func text(_ key: String) -> String? { section[key].flatMap { $0?.trimmingWhitespace() } }

            if let value = text("lb_procs") {
                guard let number = Int(value), number >= 1 else { throw Problem("lb_procs value \"\(value)\" is not a positive integer") }
                processes = number
            }
            if let value = text("pin_cpus") {
                guard node.cpuAffinity == nil else { throw Problem("pin_cpus and cpu_affinity cannot both be set") }
                var cpus: [Int] = []
                for entry in value.split(separator: ",", omittingEmptySubsequences: false).map({ $0.trimmingWhitespace() }) {
                    guard let cpu = Int(entry), cpu >= 0 else {
                        throw Problem("pin_cpus entry \"\(entry)\" in \"\(value)\" is not a non-negative integer")
                    }
                    cpus.append(cpu)
                }
                guard cpus.count >= processes else {
                    throw Problem("pin_cpus lists \(cpus.count) CPU\(cpus.count == 1 ? "" : "s") but lb_procs = \(processes) needs one per process")
                }
                pinnedCPUs = cpus
            }
            if processes > 1 {
                // Every process would get the same value, and two processes cannot listen on one port.
                if let port = node.port { throw Problem("port \(port.number) would be shared by all \(processes) lb_procs processes") }
                if let port = node.metricsPort {
                    throw Problem("metrics_port \(port.number) would be shared by all \(processes) lb_procs processes; leave it out to have one assigned to each")
                }
            }
            if let value = text("af_packet_fanout_id") {
                guard let id = Int(value), (0...65535).contains(id) else {
                    throw Problem("af_packet_fanout_id value \"\(value)\" is not a number from 0 to 65535")
                }
                fanoutID = id
                options.insert(Management.Option(name: "AF_Packet::fanout_id", value: "\(id)"))
            }
            if let value = text("af_packet_fanout_mode") {
                var mode = value.uppercased()
                if mode.hasPrefix("AF_PACKET::") { mode.removeFirst("AF_PACKET::".count) }
                guard fanoutModes.contains(mode) else {
                    throw Problem("af_packet_fanout_mode value \"\(value)\" is not one of \(fanoutModes.map { "AF_Packet::\($0)" }.joined(separator: ", "))")
                }
                options.insert(Management.Option(name: "AF_Packet::fanout_mode", value: "AF_Packet::\(mode)"))
            }
            if let value = text("af_packet_buffer_size") {
                guard let size = Int(value), size >= 1 else {
                    throw Problem("af_packet_buffer_size value \"\(value)\" is not a positive integer")
                }
                options.insert(Management.Option(name: "AF_Packet::buffer_size", value: "\(size)"))
            }
        }

        /// The nodes of the section: itself for one process, else one per process, named
        /// `<section>-<i>`, each pinned to its CPU and carrying the section's options.
        func expand(_ node: Management.Node) -> [Management.Node] {
            var template = node
            if !options.isEmpty { template.options = (node.options ?? []).union(options) }
            guard processes > 1 else {
                if let cpu = pinnedCPUs?.first { template.cpuAffinity = cpu }
                return [template]
            }
            return (1...processes).map { index in
                var process = template
                process.name = "\(node.name)-\(index)"
                if let cpus = pinnedCPUs { process.cpuAffinity = cpus[index - 1] }
                return process
            }
        }
    }

    /// The fan-out groups taken so far, per instance. The kernel joins every AF_PACKET socket
    /// with the same fan-out id in one group, and a group only spans one interface, so two
    /// interfaces on one host with the same id make the later one's workers fail to start.
    struct FanoutGroups {
        private var taken: [String: [Int: (section: String, interface: String)]] = [:]

        mutating func add(section: String, node: Management.Node, fanoutID: Int?) throws(Problem) {
            guard let interface = node.interface, interface.hasPrefix(afPacketPrefix) else { return }
            let id = fanoutID ?? defaultFanoutID
            if let other = taken[node.instance]?[id] {
                guard other.interface == interface else {
                    let which = fanoutID == nil ? "Zeek's default fan-out id \(id)" : "fan-out id \(id)"
                    throw Problem("\(interface) uses \(which) on instance \"\(node.instance)\", as section \"\(other.section)\" does for \(other.interface); "
                        + "give each interface its own af_packet_fanout_id")
                }
                return
            }
            taken[node.instance, default: [:]][id] = (section, interface)
        }
    }

    private static func node(from section: INIDocument.Section, defaultInstance: String, warnings: inout [String]) throws(Problem) -> Management.Node {
        func value(_ keys: String...) -> String? {
            for key in keys { if let value = section[key] { return value } }
            return nil
        }
        func integer(_ key: String) throws(Problem) -> Int? {
            guard let text = value(key) else { return nil }
            guard let number = Int(text.trimmingWhitespace()) else {
                throw Problem("cannot convert \"\(section.name).\(key)\" value \"\(text)\" to int")
            }
            return number
        }
        func port(_ key: String, _ label: String) throws(Problem) -> ZeekPort? {
            guard let number = try integer(key) else { return nil }
            guard (1...65535).contains(number) else { throw Problem("\(label) \(number) outside valid range") }
            return ZeekPort(UInt16(number))
        }

        if let state = value("state") {
            warnings.append("ignoring node \"\(section.name)\" state \"\(state)\" in configuration")
        }
        let instance = value("instance").flatMap { $0.isEmpty ? nil : $0 } ?? defaultInstance
        guard let roleText = value("role", "type"), !roleText.isEmpty else { throw Problem("node requires a role") }
        let roleName = roleText.split(separator: ":").last.map { $0.split(separator: ".").last.map(String.init) ?? "" }?.uppercased() ?? ""
        guard let role = Supervisor.ClusterRole(rawValue: roleName), role != .none else {
            throw Problem("role \"\(roleText)\" is invalid")
        }
        var scripts: [String]?
        if let text = value("scripts"), !text.isEmpty {
            do { scripts = try shellWords(text).sorted() } catch { throw Problem("scripts value \"\(text)\" is invalid") }
        }
        var env: [String: String] = [:]
        if let text = value("env"), !text.isEmpty {
            do {
                for item in try shellWords(text) {
                    guard let equals = item.firstIndex(of: "=") else { throw Problem("env value \"\(text)\" is invalid") }
                    env[String(item[..<equals])] = String(item[item.index(after: equals)...])
                }
            } catch {
                throw Problem("env value \"\(text)\" is invalid")
            }
        }
        let unexpected = section.entries.map(\.key).filter { !nodeKeys.contains($0) }
        if !unexpected.isEmpty {
            warnings.append("ignoring unexpected keys: \(Set(unexpected).sorted().joined(separator: ", "))")
        }
        return Management.Node(
            name: section.name, instance: instance, role: role, state: .running,
            port: try port("port", "port"), scripts: scripts, interface: value("interface"),
            cpuAffinity: try integer("cpu_affinity"), env: env, metricsPort: try port("metrics_port", "metrics port"),
            limits: try limits(from: section),
            user: value("user").flatMap { $0.isEmpty ? nil : $0 }, group: value("group").flatMap { $0.isEmpty ? nil : $0 }
        )
    }

    /// The file form of a configuration, as zeek-client's get-config prints it: instances
    /// first, then nodes by name, each with only the keys that have values (no id, no state).
    /// Nodes appear as they are, so an `lb_procs` section shows as its expanded nodes; their
    /// `AF_Packet::` options follow as `af_packet_*` keys, other options are left out as
    /// zeek-client leaves them out.
    public static func render(_ config: Management.Configuration) -> String {
        var document = INIDocument()
        // Only where the operator chose a backend or encryption: a configuration read from a
        // zeek-client file prints as zeek-client prints it, without the proxy ports the
        // controller assigned (they are assigned alike again).
        if let backend = config.clusterBackend, backend.name != nil || backend.encryption != nil {
            var entries: [(key: String, value: String?)] = [("backend", backend.name?.rawValue ?? "auto")]
            if let encryption = backend.encryption { entries.append(("encryption", encryption.rawValue)) }
            if let port = backend.xpubPort { entries.append(("zeromq_xpub_port", "\(port.number)")) }
            if let port = backend.xsubPort { entries.append(("zeromq_xsub_port", "\(port.number)")) }
            document.sections.append(INIDocument.Section(name: clusterSection, entries: entries))
        }
        if !config.instances.isEmpty {
            document.sections.append(INIDocument.Section(name: "instances", entries: config.instances.sorted().map { instance in
                (instance.name, instance.listenPort.map { "\(instance.host):\($0.number)" })
            }))
        }
        for node in config.nodes.sorted(by: { $0.name < $1.name }) {
            var entries: [(key: String, value: String?)] = [("instance", node.instance), ("role", node.role.rawValue)]
            if let port = node.port { entries.append(("port", "\(port.number)")) }
            if let scripts = node.scripts, !scripts.isEmpty {
                entries.append(("scripts", scripts.sorted().map(quotedIfSpaced).joined(separator: " ")))
            }
            if let interface = node.interface { entries.append(("interface", interface)) }
            if let cpu = node.cpuAffinity { entries.append(("cpu_affinity", "\(cpu)")) }
            if !node.env.isEmpty {
                entries.append(("env", node.env.sorted { $0.key < $1.key }.map { "\($0.key)=\(quotedIfSpaced($0.value))" }.joined(separator: " ")))
            }
            if let metrics = node.metricsPort { entries.append(("metrics_port", "\(metrics.number)")) }
            entries += limitEntries(node.limits)
            if let user = node.user { entries.append(("user", user)) }
            if let group = node.group { entries.append(("group", group)) }
            // zeek-client's format has no key for options; the capture ones go back as the keys
            // they were read from, so the file reads back to the same nodes.
            for (key, option) in afPacketOptionKeys {
                if let value = node.options?.first(where: { $0.name == option })?.value { entries.append((key, value)) }
            }
            document.sections.append(INIDocument.Section(name: node.name, entries: entries))
        }
        return document.text
    }

    private static func quotedIfSpaced(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace).count > 1 ? "\"\(text)\"" : text
    }
}
