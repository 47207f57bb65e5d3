import Foundation
import ManagementTypes
import MessageSigning

/// How one Zeek cluster node is started without Zeek's own Supervisor, the way zeekctl and
/// Zeek's systemd generator do it: `CLUSTER_NODE`, a generated `cluster-layout.zeek` on
/// `ZEEKPATH` before Zeek's own path, then `local`, the node's scripts and the project's node
/// script on the command line.
public struct ZeekNodeCommand: Sendable, Hashable {
    /// Arguments after the executable.
    public var arguments: [String]
    /// Variables added to the node's environment.
    public var environment: [String: String]
    /// Files to write into the node's working directory before it starts, by file name.
    public var files: [String: String]
    /// Files that hold secrets (the CURVE keys): written readable by the node's user alone.
    public var secretFiles: [String: String] = [:]

    /// The generated layout, found by Zeek's `@load cluster-layout` through `ZEEKPATH`.
    public static let layoutFile = "cluster-layout.zeek"
    /// The node's Management options as `redef`s, loaded after the operator's scripts.
    public static let optionsFile = "zeek-mgmt-options.zeek"
    /// The cluster backend's settings, loaded before the operator's scripts.
    public static let backendFile = "zeek-mgmt-backend.zeek"
    /// The CURVE keys of an encrypted ZeroMQ cluster (a secret file), loaded after the backend.
    public static let curveFile = "zeek-mgmt-curve.zeek"
    /// Environment variable naming the port the node serves its host's relay on.
    public static let websocketPortVariable = "ZEEK_MGMT_WEBSOCKET_PORT"

    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// - Parameters:
    ///   - node: the supervisor's node configuration (scripts, capture, layout).
    ///   - options: the node's Management options, each becoming `redef name = value;`.
    ///   - installation: the Zeek to run.
    ///   - nodeScript: absolute path of the project's node script.
    ///   - directory: the node's working directory (absolute), first on `ZEEKPATH`.
    ///   - websocketPort: where the node serves the relay (127.0.0.1 only); nil for a check,
    ///     which never runs the node.
    ///   - curveKeys: this host's CURVE keys, for a ZeroMQ cluster that is encrypted.
    public init(
        node: Supervisor.NodeConfig, options: [Management.Option], installation: ZeekInstallation,
        nodeScript: String, directory: String, websocketPort: Int?, curveKeys: CurveKeys? = nil
    ) throws(Invalid) {
        for script in node.addlBaseScripts + node.addlUserScripts {
            if let problem = Self.scriptProblem(script) { throw Invalid(description: problem) }
        }
        var arguments: [String] = []
        if node.bareMode == true { arguments.append("-b") }
        if let interface = node.interface { arguments += ["-i", interface] }
        if let pcap = node.pcapFile { arguments += ["-r", pcap] }
        var files: [String: String] = [:]
        if !node.cluster.isEmpty {
            let backend = node.clusterBackend?.name ?? ClusterBackend.defaultName(forZeek: installation.version)
            if let problem = installation.problem(with: backend) { throw Invalid(description: "cluster backend \(backend.rawValue): \(problem)") }
            // First, as zeekctl puts its cluster_backend_args first: site scripts see the backend.
            if let settings = try Self.backendSettings(backend, for: node) {
                files[Self.backendFile] = settings
                arguments.append("\(directory)/\(Self.backendFile)")
            }
            if backend == .zeromq, (node.clusterBackend ?? ClusterBackend()).encrypts(node.cluster) {
                secretFiles[Self.curveFile] = try Self.curveSettings(for: node, keys: curveKeys, installation: installation)
                arguments.append("\(directory)/\(Self.curveFile)")
            }
        }
        // Scripts follow. Not after `--`: Zeek loads only the first file after it and hands the
        // rest to that script as arguments (`zeek_script_args`). No entry can be taken for a
        // flag, since ``scriptProblem(_:)`` refused every one that starts with `-`.
        arguments += node.addlBaseScripts
        // `local` (site/local.zeek) needs Zeek's base scripts, which bare mode leaves out.
        if node.bareMode != true { arguments.append("local") }
        arguments += node.addlUserScripts
        if !node.cluster.isEmpty { files[Self.layoutFile] = Self.layout(node.cluster) }
        if !options.isEmpty {
            files[Self.optionsFile] = try Self.redefs(options)
            arguments.append("\(directory)/\(Self.optionsFile)")
        }
        arguments.append(nodeScript)

        var environment = ["ZEEKPATH": "\(directory):\(installation.scriptPath)"]
        if let websocketPort { environment[Self.websocketPortVariable] = "\(websocketPort)" }
        self.arguments = arguments
        self.environment = environment
        self.files = files
    }

    /// `Cluster::nodes` as Zeek's `cluster-layout.zeek` defines it: every node's type,
    /// address and port, the manager of every other node, metrics ports; the manager logs
    /// only when the cluster has no logger; metrics served on the node's own address.
    public static func layout(_ cluster: [String: Supervisor.ClusterEndpoint]) -> String {
        let manager = cluster.filter { $0.value.role == .manager }.keys.sorted().first
        let hasLogger = cluster.values.contains { $0.role == .logger }
        var text = "# Generated by supervisor-service from the deployed configuration; rewritten at every start.\n"
        text += "redef Cluster::manager_is_logger = \(hasLogger ? "F" : "T");\n\n"
        text += "redef Cluster::nodes = {\n"
        for name in cluster.keys.sorted() {
            let endpoint = cluster[name]!
            var fields = ["$node_type=Cluster::\(endpoint.role.rawValue)", "$ip=\(literal(endpoint.host))"]
            if endpoint.port != .none { fields.append("$p=\(endpoint.port)") }
            if endpoint.role != .manager, let manager { fields.append("$manager=\(quoted(manager))") }
            if let metrics = endpoint.metricsPort, metrics != .none { fields.append("$metrics_port=\(metrics)") }
            text += "\t[\(quoted(name))] = [\(fields.joined(separator: ", "))],\n"
        }
        text += "};\n"
        // Metrics on the node's own address, as Zeek's layout generator does: not on every
        // interface, and two nodes of one port on two addresses of a machine do not clash.
        text += """

            @load base/frameworks/telemetry/options
            @if ( Cluster::node in Cluster::nodes )
            redef Telemetry::metrics_address = is_v4_addr(Cluster::nodes[Cluster::node]$ip) ? cat(Cluster::nodes[Cluster::node]$ip) : cat("[", Cluster::nodes[Cluster::node]$ip, "]");
            @endif

            """
        return text
    }

    /// Whether `node` takes the cluster's log writes (a logger, or the manager of a cluster
    /// without one) on ZeroMQ. Such a node cannot serve Zeek's WebSocket API: the WebSocket
    /// server gives each client a backend of its own, which binds the node's log socket a
    /// second time and fails (Zeek 9.1). The relay reaches it through another node of its
    /// host instead: on ZeroMQ every message passes the manager's proxy, whichever node's
    /// WebSocket it entered by.
    public static func isCarried(_ node: Supervisor.NodeConfig, installation: ZeekInstallation) -> Bool {
        guard !node.cluster.isEmpty, (node.clusterBackend?.name ?? ClusterBackend.defaultName(forZeek: installation.version)) == .zeromq,
              let role = node.cluster[node.name]?.role else { return false }
        return role == .logger || (role == .manager && !node.cluster.values.contains { $0.role == .logger })
    }

    /// The backend's settings for `node`: for ZeroMQ, the manager's XPUB/XSUB proxy on its
    /// address and the deployed ports, which every node connects to (as Zeek's
    /// `zeromq-multi-host-auto-setup.zeek` sets them, without its fixed ports); nil for Broker,
    /// which is Zeek 8.0's default and listens on each node's `p`.
    static func backendSettings(_ backend: ClusterBackend.Name, for node: Supervisor.NodeConfig) throws(Invalid) -> String? {
        guard backend == .zeromq else { return nil }
        guard let (_, manager) = node.cluster.filter({ $0.value.role == .manager }).min(by: { $0.key < $1.key }) else {
            throw Invalid(description: "the ZeroMQ backend needs a manager in the cluster: it runs the proxy every node connects to")
        }
        guard let xpub = node.clusterBackend?.xpubPort, let xsub = node.clusterBackend?.xsubPort else {
            throw Invalid(description: "the ZeroMQ backend needs the manager's proxy ports (cluster_backend xpub_port and xsub_port), which the controller assigns")
        }
        let host = literal(manager.host)
        let own = node.cluster[node.name]
        let ipv6 = manager.host.text.contains(":") || (own?.host.text.contains(":") ?? false)
        let isManager = own?.role == .manager
        var text = "# Generated by supervisor-service from the deployed configuration; rewritten at every start.\n"
        text += "@load frameworks/cluster/backend/zeromq\n\n"
        text += "redef Cluster::Backend::ZeroMQ::listen_xpub_endpoint = \(quoted(isManager ? "tcp://\(host):\(xpub.number)" : ""));\n"
        text += "redef Cluster::Backend::ZeroMQ::listen_xsub_endpoint = \(quoted(isManager ? "tcp://\(host):\(xsub.number)" : ""));\n"
        text += "redef Cluster::Backend::ZeroMQ::connect_xpub_endpoint = \(quoted("tcp://\(host):\(xsub.number)"));\n"
        text += "redef Cluster::Backend::ZeroMQ::connect_xsub_endpoint = \(quoted("tcp://\(host):\(xpub.number)"));\n"
        text += "redef Cluster::Backend::ZeroMQ::ipv6 = \(ipv6 ? "T" : "F");\n"
        return text
    }

    /// The CURVE keys `node` needs, as `redef`s: the server's public key and the client pair
    /// for every node, and the server's secret key for those that serve a socket (the
    /// manager's proxy, a logger's log socket). Refuses, saying what to provision, where the
    /// host lacks keys or its Zeek cannot encrypt: an encrypted cluster never runs in the clear.
    static func curveSettings(for node: Supervisor.NodeConfig, keys: CurveKeys?, installation: ZeekInstallation) throws(Invalid) -> String {
        let addresses = Set(node.cluster.values.map(\.host)).count
        let why = node.clusterBackend?.encryption == .on ? "the configuration asks for it" : "its nodes span \(addresses) addresses"
        let parts = installation.version.split(separator: ".").compactMap { Int($0.prefix { $0.isNumber }) }
        if parts.count >= 2, (parts[0], parts[1]) < (8, 2) {
            throw Invalid(description: "the cluster's ZeroMQ traffic is encrypted (CURVE, as \(why)), which needs Zeek 8.2 or later; this host runs Zeek \(installation.version): "
                + "upgrade Zeek, or set [cluster] encryption = off")
        }
        guard let keys else {
            throw Invalid(description: "the cluster's ZeroMQ traffic is encrypted (CURVE, as \(why)) and this host has no keys: make them once with "
                + "`zeek-mgmt zeromq-keys DIR`, copy DIR to every host and start supervisor-service with --zeromq-keys DIR (ZEEK_MGMT_ZEROMQ_KEYS)")
        }
        let role = node.cluster[node.name]?.role
        let serves = role == .manager || role == .logger
        var text = "# Generated by supervisor-service: this host's CURVE keys. Secret; rewritten at every start.\n"
        text += "redef Cluster::Backend::ZeroMQ::curve_server_publickey = \(quoted(keys.serverPublic));\n"
        text += "redef Cluster::Backend::ZeroMQ::curve_client_publickey = \(quoted(keys.clientPublic));\n"
        text += "redef Cluster::Backend::ZeroMQ::curve_client_secretkey = \(quoted(keys.clientSecret));\n"
        if serves {
            guard let secret = keys.serverSecret else {
                throw Invalid(description: "node \(node.name) (\(role?.rawValue.lowercased() ?? "")) serves the cluster's encrypted ZeroMQ sockets and needs the server's secret key: "
                    + "add \(CurveKeys.files.serverSecret) to this host's key directory")
            }
            text += "redef Cluster::Backend::ZeroMQ::curve_server_secretkey = \(quoted(secret));\n"
        }
        return text
    }

    /// Why a `scripts` entry cannot be handed to Zeek, or nil if it can. Zeek reads an
    /// argument with `=` as a `redef` of script code (`Foo::x=...`), not as a script, and one
    /// starting with `-` reads as a flag to anyone not looking for `--` (`-e` runs code).
    public static func scriptProblem(_ script: String) -> String? {
        if script.isEmpty { return "a script entry is empty" }
        if script.hasPrefix("-") { return "script \"\(script)\" begins with '-': script entries are script names or paths, never flags" }
        if script.contains("=") { return "script \"\(script)\" contains '=', which Zeek reads as a redef, not as a script to load" }
        return nil
    }

    /// Each option as a `redef`; names must be Zeek identifiers and values literals on one
    /// line, so an option can neither smuggle in further statements nor run code: Zeek
    /// evaluates a `redef` while it parses, even with `--parse-only`, so a value such as
    /// `(system("...") == 0)` would run on every check.
    public static func redefs(_ options: [Management.Option]) throws(Invalid) -> String {
        var text = "# Generated by supervisor-service from the node's Management options.\n"
        for option in options {
            guard !option.name.isEmpty, option.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }) else {
                throw Invalid(description: "option name \"\(option.name)\" is not a Zeek identifier")
            }
            guard !option.value.isEmpty, !option.value.contains(where: \.isNewline), !option.value.contains(";") else {
                throw Invalid(description: "option \(option.name) value \"\(option.value)\" must be one Zeek expression on one line")
            }
            if let problem = ZeekLiteral.problem(in: option.value) {
                throw Invalid(description: "option \(option.name) value \"\(option.value)\" is not a literal: \(problem); \(ZeekLiteral.accepted)")
            }
            text += "redef \(option.name) = \(option.value);\n"
        }
        return text
    }

    private static func literal(_ address: IPAddress) -> String {
        address.text.contains(":") ? "[\(address.text)]" : address.text
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}
