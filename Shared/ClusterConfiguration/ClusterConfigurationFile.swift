import ManagementTypes

/// zeek-client's cluster configuration file: an INI document with an optional `[instances]`
/// section and one section per node. Existing zeek-client files read here unchanged,
/// including its shortcuts (nodes without an instance run on `agent-<hostname>`; instances
/// are implied by the nodes when `[instances]` is absent).
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
        var nodesWithoutInstance = 0

        for section in document.sections {
            if section.name == "instances" {
                for entry in section.entries {
                    instances.append(try instance(named: entry.key, spec: entry.value))
                }
                continue
            }
            for entry in section.entries where entry.value == nil {
                throw Problem("config item \(section.name).\(entry.key) needs a value")
            }
            if !section.contains("instance") { nodesWithoutInstance += 1 }
            do {
                nodes.append(try node(from: section, defaultInstance: defaultInstance, warnings: &warnings))
            } catch {
                throw Problem("invalid node \"\(section.name)\" configuration: \(error)")
            }
        }
        let hasInstancesSection = document[section: "instances"] != nil
        if nodesWithoutInstance > 0 {
            guard nodesWithoutInstance == nodes.count else { throw Problem("either all or no nodes must state instances") }
            guard !hasInstancesSection else { throw Problem("omit instances section when skipping instances in node definitions") }
        }
        if !hasInstancesSection {
            instances = Set(nodes.map(\.instance)).sorted().map { Management.Instance(name: $0) }
        }
        return Reading(configuration: Management.Configuration(id: id, instances: Set(instances), nodes: Set(nodes)), warnings: warnings)
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

    private static let nodeKeys: Set<String> = ["instance", "role", "type", "scripts", "port", "interface", "cpu_affinity", "env", "metrics_port", "state"]

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
            cpuAffinity: try integer("cpu_affinity"), env: env, metricsPort: try port("metrics_port", "metrics port")
        )
    }

    /// The file form of a configuration, as zeek-client's get-config prints it: instances
    /// first, then nodes by name, each with only the keys that have values (no id, no state).
    public static func render(_ config: Management.Configuration) -> String {
        var document = INIDocument()
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
            document.sections.append(INIDocument.Section(name: node.name, entries: entries))
        }
        return document.text
    }

    private static func quotedIfSpaced(_ text: String) -> String {
        text.split(whereSeparator: \.isWhitespace).count > 1 ? "\"\(text)\"" : text
    }
}
