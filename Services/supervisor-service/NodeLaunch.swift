import Foundation
import ManagementTypes

/// Turns a `Supervisor::NodeConfig` into a process launch, checking everything that can be
/// checked before anything is created. Error texts follow Zeek's `Supervisor::create` where
/// Zeek has one.
struct NodeLaunch: Sendable {
    let config: Supervisor.NodeConfig
    /// Absolute working directory, inside the base directory.
    let directory: URL
    let stdoutFile: URL?
    let stderrFile: URL?
    let spec: LaunchSpec

    /// Environment variable carrying the node's whole configuration as JSON, as Zeek's
    /// supervisor hands it to its children.
    static let configurationVariable = "ZEEK_SUPERVISED_NODE"

    struct Context: Sendable {
        var baseDirectory: URL
        var nodeCommand: String
        /// Inherited environment plus what every node needs to reach Kafka and its agent.
        var environment: [String: String]
    }

    init(_ config: Supervisor.NodeConfig, context: Context) throws(NodeLaunchError) {
        let name = config.name
        guard !name.isEmpty else { throw NodeLaunchError("node names must not be an empty string") }
        guard !name.contains(" ") else { throw NodeLaunchError("node names must not contain spaces: '\(name)'") }
        if config.interface != nil && config.pcapFile != nil {
            throw NodeLaunchError("node with name '\(name)' has interface and pcap_file set")
        }
        let directory = try Self.contained(config.directory ?? name, in: context.baseDirectory, what: "directory", node: name)
        self.config = config
        self.directory = directory
        self.stdoutFile = if let file = config.stdoutFile { try Self.contained(file, in: directory, what: "stdout_file", node: name) } else { nil }
        self.stderrFile = if let file = config.stderrFile { try Self.contained(file, in: directory, what: "stderr_file", node: name) } else { nil }

        var environment = context.environment.merging(config.env) { $1 }
        if !config.cluster.isEmpty { environment["CLUSTER_NODE"] = name }
        environment[Self.configurationVariable] = (try? ZeekJSON.encodeString(config)) ?? "{}"

        var arguments: [String] = []
        if config.bareMode == true { arguments.append("-b") }
        if let interface = config.interface { arguments += ["-i", interface] }
        if let pcap = config.pcapFile { arguments += ["-r", pcap] }
        let scripts = config.addlBaseScripts + config.addlUserScripts
        if !scripts.isEmpty { arguments += ["--"] + scripts }
        // A CPU the machine lacks fails at spawn with the kernel's error; beyond CPU_SETSIZE
        // (1024) it cannot even be expressed.
        if let cpu = config.cpuAffinity, cpu < 0 || cpu >= 1024 {
            throw NodeLaunchError("node '\(name)' has invalid cpu_affinity \(cpu)")
        }
        spec = LaunchSpec(executable: context.nodeCommand, arguments: arguments, environment: environment,
                          directory: directory.path, cpu: config.cpuAffinity)
    }

    /// Resolves a relative path inside `base`, refusing absolute paths and `..` components.
    private static func contained(_ path: String, in base: URL, what: String, node: String) throws(NodeLaunchError) -> URL {
        let components = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !path.hasPrefix("/"), !components.isEmpty, !components.contains(".."), !path.contains("\0") else {
            throw NodeLaunchError("node '\(node)' \(what) '\(path)' must be a relative path inside \(base.path)")
        }
        return components.reduce(base) { $0.appendingPathComponent(String($1)) }
    }
}

struct NodeLaunchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
