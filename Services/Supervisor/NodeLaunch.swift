import Foundation
import LocalPorts
import Logging
import MessageSigning
import ManagementTypes
import ZeekNodes

/// What the supervisor runs for each node.
public enum NodeProgram: Sendable {
    /// The stand-in `cluster-node`, which speaks Kafka itself.
    case standIn(path: String)
    /// Real Zeek, loading the project's node script (at `nodeScript`) and reached through
    /// the host's relay.
    case zeek(ZeekInstallation, nodeScript: String)

    /// Real Zeek when `zeek` names it (an executable, an install prefix, or `auto`), with the
    /// node script written under `base`; else the stand-in at `nodeCommand` (a path, or a name
    /// looked up in PATH), by default `cluster-node` beside `executable`.
    public static func resolve(zeek: String?, nodeCommand: String?, base: URL, executable: String,
                               environment: [String: String]) throws(NodeProgramError) -> NodeProgram {
        if let zeek {
            do {
                let installation = try ZeekInstallation.locate(zeek, environment: environment)
                return .zeek(installation, nodeScript: try ZeekNodeScript.install(in: base.appendingPathComponent(".zeek-mgmt")))
            } catch let error as ZeekInstallation.NotFound {
                throw NodeProgramError(description: error.description)
            } catch {
                throw NodeProgramError(description: "cannot install the node script in \(base.path): \(error)")
            }
        }
        let candidate = nodeCommand ?? URL(fileURLWithPath: executable).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("cluster-node").path
        var path = candidate
        if !candidate.contains("/") {
            let directories = (environment["PATH"] ?? "").split(separator: ":")
            path = directories.map { "\($0)/\(candidate)" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidate
        }
        path = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw NodeProgramError(description: "node command \(candidate) is not an executable file; pass --node-command PATH")
        }
        return .standIn(path: path)
    }
}

/// The node program cannot be used; says what to pass instead.
public struct NodeProgramError: Error, CustomStringConvertible {
    public var description: String
}

/// Turns a `Supervisor::NodeConfig` into a process launch, checking everything that can be
/// checked before anything is created. Error texts follow Zeek's `Supervisor::create` where
/// Zeek has one.
public struct NodeLaunch: Sendable {
    let config: Supervisor.NodeConfig
    /// Absolute working directory, inside the base directory.
    let directory: URL
    let stdoutFile: URL?
    let stderrFile: URL?
    let program: NodeProgram
    /// The environment every process of the node gets.
    private let environment: [String: String]
    /// The node's Management options, which Zeek gets as `redef`s.
    private let zeekOptions: [Management.Option]
    /// Whom a Zeek node runs as; nil for the stand-in, or where the supervisor cannot switch.
    let credentials: NodeCredentials?
    /// How the node's processes are held to its limits.
    let confinement: NodeConfinement
    private let curveKeys: CurveKeys?
    /// The host policy's script roots: scripts given by absolute path lie under them.
    private let scriptRoots: [String]
    /// For the host's log archiver: the program and arguments it runs; nil for a node.
    private let archiverCommand: (executable: String, arguments: [String])?
    /// The host's log queue, where logging nodes rotate to and the archiver takes from, and
    /// its archive, beside the node directories.
    let logQueue: URL
    let logArchive: URL

    /// The names under the base directory the supervisor keeps for the archive (no node may have them).
    static let logQueueName = "log-queue"
    static let logArchiveName = "log-archive"
    /// The directory of the host's WebSocket carrier (``carrierSpec(websocketPort:)``), beside the node directories.
    static let carrierDirectoryName = "websocket-carrier"

    /// Environment variable carrying the node's own configuration as JSON, as Zeek's
    /// supervisor hands it to its children, without the cluster layout (`cluster` is empty):
    /// the environment is limited (execve fails past 128 KiB per variable, some 850 nodes of
    /// layout), so the layout is in the node's `Supervisor.NodeConfig.fileName`.
    static let configurationVariable = "ZEEK_SUPERVISED_NODE"

    public struct Context: Sendable {
        public var baseDirectory: URL
        public var program: NodeProgram
        /// The supervisor's environment plus what the stand-in needs to reach Kafka and its
        /// agent. Zeek nodes get only ``zeekEnvironment(from:)`` of it: no Kafka settings.
        public var environment: [String: String]
        /// Whom nodes run as, and what the host lets a configuration set.
        public var identities: NodeIdentities
        /// How nodes are held to their limits.
        public var confinement: NodeConfinement
        /// This host's CURVE keys for encrypted ZeroMQ clusters, if provisioned.
        public var curveKeys: CurveKeys?
        /// Zeek's `zeek-archiver`, which runs as the log archiver of `archiver = 1`; nil where the host has none.
        public var zeekArchiver: String?

        public init(baseDirectory: URL, program: NodeProgram, environment: [String: String], identities: NodeIdentities,
                    confinement: NodeConfinement = .resourceLimits(), curveKeys: CurveKeys? = nil, zeekArchiver: String? = nil) {
            self.zeekArchiver = zeekArchiver
            self.baseDirectory = baseDirectory
            self.program = program
            self.environment = environment
            self.identities = identities
            self.confinement = confinement
            self.curveKeys = curveKeys
        }
    }

    /// What a Zeek node inherits of the supervisor's environment: where programs are, and
    /// language and time zone. Nothing else: above all no Kafka address, option or key file,
    /// which a process that parses hostile traffic must never hold.
    static func zeekEnvironment(from environment: [String: String]) -> [String: String] {
        var inherited = environment.filter { ["PATH", "LANG", "TZ"].contains($0.key) || $0.key.hasPrefix("LC_") }
        if inherited["PATH"] == nil { inherited["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        return inherited
    }

    /// A process ready to start: how to launch it, and for Zeek the port of its relay endpoint.
    struct Prepared: Sendable {
        var spec: LaunchSpec
        /// Where the node serves the relay; nil for a carried node or the stand-in.
        var websocketPort: Int?
        /// Whether the relay reaches the node through another node's WebSocket (see
        /// ``ZeekNodeCommand/isCarried(_:installation:)``).
        var carried = false
        /// The node's `stdout_file` / `stderr_file`, opened while the supervisor held the directory.
        var outputs: OutputFiles?
    }

    init(_ config: Supervisor.NodeConfig, context: Context) throws(NodeLaunchError) {
        let name = config.name
        guard !name.isEmpty else { throw NodeLaunchError("node names must not be an empty string") }
        guard !name.contains(" ") else { throw NodeLaunchError("node names must not contain spaces: '\(name)'") }
        if config.interface != nil && config.pcapFile != nil {
            throw NodeLaunchError("node with name '\(name)' has interface and pcap_file set")
        }
        // A CPU the machine lacks fails at spawn with the kernel's error; beyond CPU_SETSIZE
        // (1024) it cannot even be expressed.
        if let cpu = config.cpuAffinity, cpu < 0 || cpu >= 1024 {
            throw NodeLaunchError("node '\(name)' has invalid cpu_affinity \(cpu)")
        }
        for script in config.addlBaseScripts + config.addlUserScripts {
            if let problem = ZeekNodeCommand.scriptProblem(script) { throw NodeLaunchError("node '\(name)': \(problem)") }
        }
        let directory = try Self.contained(config.directory ?? name, in: context.baseDirectory, what: "directory", node: name)
        if [Self.logQueueName, Self.logArchiveName, Self.carrierDirectoryName].contains(config.directory ?? name) {
            throw NodeLaunchError("node '\(name)' directory '\(config.directory ?? name)' is kept by the supervisor (log archive, WebSocket carrier): choose another name")
        }
        logQueue = context.baseDirectory.appendingPathComponent(Self.logQueueName)
        logArchive = context.baseDirectory.appendingPathComponent(Self.logArchiveName)
        // One plain name each: the node's user owns its directory, and the supervisor (root)
        // must never walk a path through it that the node could have linked elsewhere.
        try Self.singleName(config.directory ?? name, what: "directory", node: name)
        self.config = config
        self.directory = directory
        self.stdoutFile = if let file = config.stdoutFile { try Self.contained(file, in: directory, what: "stdout_file", node: name) } else { nil }
        self.stderrFile = if let file = config.stderrFile { try Self.contained(file, in: directory, what: "stderr_file", node: name) } else { nil }
        for file in [config.stdoutFile, config.stderrFile].compactMap({ $0 }) { try Self.singleName(file, what: "output file", node: name) }
        self.program = context.program

        // The host decides what a configuration may do to it, before anything is created.
        let policy = context.identities.policy
        let zeekRoots: [String] = if case .zeek(let installation, _) = context.program { installation.scriptPath.split(separator: ":").map(String.init) } else { [] }
        let problems = [policy.environmentProblem(config.env), config.interface.flatMap(policy.interfaceProblem), config.pcapFile.flatMap(policy.pcapProblem)]
            + (config.addlBaseScripts + config.addlUserScripts).map { policy.scriptProblem($0, zeekRoots: zeekRoots) }
        if let problem = problems.compactMap({ $0 }).first {
            throw NodeLaunchError("node '\(name)': \(problem)")
        }
        if let problem = context.confinement.problem(config.limits, cpuAffinity: config.cpuAffinity) {
            throw NodeLaunchError("node '\(name)': \(problem)")
        }
        confinement = context.confinement
        curveKeys = context.curveKeys
        scriptRoots = policy.scriptRoots.filter { $0.hasPrefix("/") }
        let isZeek = if case .zeek = context.program { true } else { false }
        if let archiver = config.archiver {
            // Like a Zeek node's: nothing of the supervisor's own settings.
            environment = Self.zeekEnvironment(from: context.environment).merging(config.env) { $1 }
            zeekOptions = []
            archiverCommand = try Self.archiverCommand(archiver, node: name, context: context, logQueue: logQueue, logArchive: logArchive)
            do {
                // As the nodes run whose rotated logs it takes: loggers, or the manager of a cluster without them.
                let type = config.cluster.values.contains { $0.role == .logger } ? "logger" : "manager"
                credentials = try context.identities.credentials(forType: type, capture: false, user: config.user, group: config.group)
            } catch {
                throw NodeLaunchError("node '\(name)': \(error.description)")
            }
            return
        }
        var environment = (isZeek ? Self.zeekEnvironment(from: context.environment) : context.environment).merging(config.env) { $1 }
        if !config.cluster.isEmpty { environment["CLUSTER_NODE"] = name }
        var ownConfig = config
        ownConfig.cluster = [:]
        environment[Self.configurationVariable] = (try? ZeekJSON.encodeString(ownConfig)) ?? "{}"
        self.environment = environment
        archiverCommand = nil
        var options: [Management.Option] = []
        if case .zeek = context.program, let json = config.env[Management.Option.environmentVariable] {
            do {
                options = try ZeekJSON.decode([Management.Option].self, from: Data(json.utf8))
            } catch {
                throw NodeLaunchError("node '\(name)' has unreadable options in \(Management.Option.environmentVariable): \(error)")
            }
        }
        zeekOptions = options
        let role = config.cluster[name]?.role
        if !isZeek, config.user != nil || config.group != nil {
            throw NodeLaunchError("node '\(name)': asks for user or group, which the stand-in cluster-node cannot honour: it runs as the supervisor's user")
        }
        do {
            credentials = isZeek
                ? try context.identities.credentials(forType: role.map { $0.rawValue.lowercased() }, capture: role == .worker && config.interface != nil,
                                                     user: config.user, group: config.group)
                : nil
        } catch {
            throw NodeLaunchError("node '\(name)': \(error.description)")
        }
        // Closed, not open: a node whose user cannot be had does not run as root instead.
        if isZeek, context.identities.switchesUsers, credentials == nil {
            throw NodeLaunchError("node '\(name)': no user to run it as on this host (\(context.identities.policy.source))")
        }
        // Refuses what Zeek could not or must not be started with (options that are not
        // literals) before anything is created.
        if case .zeek = context.program { _ = try zeekCommand(in: directory, websocketPort: nil) }
    }

    /// Everything for the next process of the node: its configuration file, and for Zeek a
    /// fresh relay port and the generated files, rewritten at every start.
    ///
    /// The supervisor writes into the node's directory only while it holds the directory (its
    /// files, the output files it opens), and gives it to the node's user last: so as root it
    /// needs CAP_CHOWN, never CAP_DAC_OVERRIDE, to write where the node's user owns.
    func prepare(logger: Logger) throws -> Prepared {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try credentials?.reclaim(directory)
        try ZeekJSON.encode(config).write(to: directory.appendingPathComponent(Supervisor.NodeConfig.fileName), options: .atomic)
        var prepared = try launch()
        prepared.spec.confinement = try processConfinement()
        prepared.outputs = OutputFiles(stdout: stdoutFile, stderr: stderrFile, logger: logger)
        do {
            try credentials?.own(directory)
        } catch {
            prepared.outputs?.close()
            throw error
        }
        return prepared
    }

    /// Removes the node's cgroup, if it has one, once its processes have ended.
    func removeCgroup() {
        confinement.removeCgroup(for: directory.lastPathComponent)
    }

    /// The limits the node's next process starts with; creates its cgroup where nodes get one.
    private func processConfinement() throws -> ProcessConfinement {
        guard let limits = config.limits else { return ProcessConfinement() }
        let cgroup = try confinement.cgroup(for: directory.lastPathComponent, limits: limits)
        let cpuSetByCgroup = cgroup != nil && confinement.cgroupCPUSets
        return ProcessConfinement(nice: limits.nice.map(Int32.init), dataLimit: cgroup == nil ? limits.memoryMax.map(UInt64.init) : nil,
                                  cpus: cpuSetByCgroup ? nil : limits.cpuSet, cgroup: cgroup)
    }

    private func launch() throws -> Prepared {
        if let archiverCommand {
            try Self.makeShared(logQueue, owner: credentials)
            try Self.makeShared(logArchive, owner: credentials)
            return Prepared(spec: LaunchSpec(executable: archiverCommand.executable, arguments: archiverCommand.arguments, environment: environment,
                                             directory: directory.path, cpu: nil, credentials: credentials, umask: NodeIdentities.umask))
        }
        if config.archived == true { try Self.makeShared(logQueue, owner: credentials) }
        switch program {
        case .standIn(let path):
            var arguments: [String] = []
            if config.bareMode == true { arguments.append("-b") }
            if let interface = config.interface { arguments += ["-i", interface] }
            if let pcap = config.pcapFile { arguments += ["-r", pcap] }
            let scripts = config.addlBaseScripts + config.addlUserScripts
            if !scripts.isEmpty { arguments += ["--"] + scripts }
            return Prepared(spec: LaunchSpec(executable: path, arguments: arguments, environment: environment,
                                             directory: directory.path, cpu: config.cpuAffinity, umask: NodeIdentities.umask))
        case .zeek(let installation, _):
            if ZeekNodeCommand.isCarried(config, installation: installation) {
                return Prepared(spec: try zeekSpec(in: directory, websocketPort: nil), carried: true)
            }
            let port = try freeLoopbackPort()
            return Prepared(spec: try zeekSpec(in: directory, websocketPort: port), websocketPort: port)
        }
    }

    /// The host's WebSocket carrier for this carried node (``ZeekNodeCommand/carrier(for:installation:directory:websocketPort:curveKeys:)``):
    /// run as the node's user, in a directory of the supervisor's base directory that it
    /// gives that user as it gives a node its own.
    func carrierSpec(websocketPort: Int) throws -> LaunchSpec {
        guard case let .zeek(installation, _) = program else { throw NodeLaunchError("node '\(config.name)' is not a Zeek node") }
        let directory = logQueue.deletingLastPathComponent().appendingPathComponent(Self.carrierDirectoryName)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try credentials?.reclaim(directory)
        let command: ZeekNodeCommand
        do {
            command = try ZeekNodeCommand.carrier(for: config, installation: installation, directory: directory.path,
                                                  websocketPort: websocketPort, curveKeys: curveKeys)
        } catch {
            throw NodeLaunchError("the WebSocket carrier of node '\(config.name)': \(error.description)")
        }
        for (file, text) in command.files {
            try Data(text.utf8).write(to: directory.appendingPathComponent(file), options: .atomic)
        }
        for (file, text) in command.secretFiles {
            try Self.writeSecret(text, to: directory.appendingPathComponent(file), owner: credentials)
        }
        try credentials?.own(directory)
        var spec = LaunchSpec(executable: installation.executable, arguments: command.arguments,
                              environment: Self.zeekEnvironment(from: environment).merging(command.environment) { $1 },
                              directory: directory.path, cpu: nil, credentials: credentials, umask: NodeIdentities.umask)
        spec.credentials?.capabilities = 0
        return spec
    }

    /// How Zeek parses this node's scripts without running it (`--parse-only`), in `directory`
    /// instead of the node's own; nil for the stand-in, which has nothing to check.
    func checkSpec(in directory: URL) throws -> LaunchSpec? {
        guard case .zeek = program, archiverCommand == nil else { return nil }
        // Parsing starts no Broker listener, but Zeek opens its metrics port: the node's
        // running process may hold it.
        var config = config
        config.cluster = config.cluster.mapValues { endpoint in
            var endpoint = endpoint
            endpoint.metricsPort = nil
            return endpoint
        }
        var spec = try zeekSpec(in: directory, websocketPort: nil, config: config)
        spec.arguments.insert("--parse-only", at: 0)
        // As the node itself runs, without capabilities: parsing captures nothing. The scratch
        // directory stays the supervisor's (Zeek only reads it), so removing it afterwards
        // walks nothing a node's user could have changed.
        if var credentials {
            credentials.capabilities = 0
            spec.credentials = credentials
        }
        // Zeekygen only collects script documentation while parsing: a quarter of the parse.
        spec.environment["ZEEK_DISABLE_ZEEKYGEN"] = "1"
        spec.cpu = nil
        return spec
    }

    /// What decides the outcome of a check: the node's name (`CLUSTER_NODE`, which a site
    /// script's `@if ( Cluster::node == "worker-2" )` may ask), its role, whom it runs as, its
    /// command line, generated files and environment.
    ///
    /// Port numbers are left out (whether a node has a port is not): Zeek's scripts decide
    /// what to load by whether a node listens, never on which port, so a cluster deployed
    /// again on other ports is not checked again when nothing else changed
    /// (``NodeSupervisor/check(_:)``). A site script that chose its `@load`s by a port number
    /// would be checked only once for all of them.
    var checkKey: String {
        guard case .zeek = program, let command = try? zeekCommand(in: URL(fileURLWithPath: "/"), websocketPort: nil, config: Self.withoutPortNumbers(config)) else { return "" }
        let role = config.cluster[config.name]?.role.rawValue ?? "NONE"
        let env = config.env.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        // Whom it runs as decides what it may read.
        let identity = credentials.map { "\($0.uid):\($0.gid)" } ?? ""
        return ([config.name, role, identity] + command.arguments + command.files.keys.sorted().map { command.files[$0]! } + env).joined(separator: "\u{0}")
    }

    /// `config` as its check parses it (no metrics ports: ``checkSpec(in:)``), with every
    /// port it has given one number.
    private static func withoutPortNumbers(_ config: Supervisor.NodeConfig) -> Supervisor.NodeConfig {
        let placeholder = ZeekPort(1)
        var config = config
        config.cluster = config.cluster.mapValues { endpoint in
            var endpoint = endpoint
            if endpoint.port != .none { endpoint.port = placeholder }
            endpoint.metricsPort = nil
            return endpoint
        }
        if var backend = config.clusterBackend {
            backend.xpubPort = backend.xpubPort.map { _ in placeholder }
            backend.xsubPort = backend.xsubPort.map { _ in placeholder }
            config.clusterBackend = backend
        }
        return config
    }

    /// What a check's parse reads of the host besides what ``checkKey`` holds; nil for what
    /// is not checked by parsing (the stand-in, the archiver).
    var parseInputs: ParseInputs? {
        guard case let .zeek(installation, nodeScript) = program, archiverCommand == nil else { return nil }
        let zeekDirectories = installation.scriptPath.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
        // Scripts given by path lie under those directories (the host policy sees to it);
        // named here too, so they are read whatever their names.
        let named = (config.addlBaseScripts + config.addlUserScripts).filter { $0.hasPrefix("/") }.flatMap { [$0, $0 + ".zeek"] }
        // Plugins a host policy lets a configuration point Zeek at (`env-keys`).
        let plugins = (config.env["ZEEK_PLUGIN_PATH"] ?? "").split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
        let prefix = URL(fileURLWithPath: installation.executable).deletingLastPathComponent().deletingLastPathComponent().path
        return ParseInputs(directories: zeekDirectories + scriptRoots + installation.pluginDirectories + plugins,
                           scripts: [nodeScript] + named,
                           // Whom a node runs as, and the groups that user is in.
                           files: [installation.executable, "/etc/passwd", "/etc/group"],
                           listed: ["\(prefix)/lib", "\(prefix)/lib64"])
    }

    private func zeekCommand(in directory: URL, websocketPort: Int?, config: Supervisor.NodeConfig? = nil) throws(NodeLaunchError) -> ZeekNodeCommand {
        guard case let .zeek(installation, nodeScript) = program else { throw NodeLaunchError("node '\(self.config.name)' is not a Zeek node") }
        do {
            return try ZeekNodeCommand(node: config ?? self.config, options: zeekOptions, installation: installation, nodeScript: nodeScript,
                                       directory: directory.path, websocketPort: websocketPort, curveKeys: curveKeys,
                                       logQueue: self.config.archived == true ? logQueue.path : nil)
        } catch {
            throw NodeLaunchError("node '\(self.config.name)': \(error.description)")
        }
    }

    /// Zeek's launch in `directory`, with the generated files written there.
    private func zeekSpec(in directory: URL, websocketPort: Int?, config: Supervisor.NodeConfig? = nil) throws -> LaunchSpec {
        guard case let .zeek(installation, _) = program else { throw NodeLaunchError("node '\(self.config.name)' is not a Zeek node") }
        let command = try zeekCommand(in: directory, websocketPort: websocketPort, config: config)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (file, text) in command.files {
            try Data(text.utf8).write(to: directory.appendingPathComponent(file), options: .atomic)
        }
        for (file, text) in command.secretFiles {
            try Self.writeSecret(text, to: directory.appendingPathComponent(file), owner: credentials)
        }
        return LaunchSpec(executable: installation.executable, arguments: command.arguments,
                          environment: environment.merging(command.environment) { $1 },
                          directory: directory.path, cpu: self.config.cpuAffinity, credentials: credentials, umask: NodeIdentities.umask)
    }

    /// Writes a file only its owner reads (mode 0600), given to the node's user: made anew
    /// (never through a link or into a file someone else holds open) and written before anyone
    /// else can open it.
    private static func writeSecret(_ text: String, to file: URL, owner: NodeCredentials?) throws {
        if unlink(file.path) != 0 && errno != ENOENT {
            throw NodeLaunchError("cannot replace \(file.path): \(String(cString: strerror(errno)))")
        }
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NodeLaunchError("cannot create \(file.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 {
            throw NodeLaunchError("cannot give \(file.path) to uid \(owner.uid): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        guard Foundation.write(fd, bytes, bytes.count) == bytes.count else {
            throw NodeLaunchError("cannot write \(file.path): \(String(cString: strerror(errno)))")
        }
    }

    /// What the host's log archiver runs: Zeek's `zeek-archiver` with the configuration's
    /// arguments, then the log queue and the archive (as Zeek's systemd generator runs it), or
    /// a program of the configuration's that the host policy allows, with its arguments.
    private static func archiverCommand(_ archiver: LogArchiver, node: String, context: Context, logQueue: URL, logArchive: URL) throws(NodeLaunchError) -> (executable: String, arguments: [String]) {
        if let problem = context.identities.policy.environmentProblem(archiver.env) { throw NodeLaunchError("node '\(node)': \(problem)") }
        if let problem = context.confinement.problem(archiver.limits, cpuAffinity: nil) { throw NodeLaunchError("node '\(node)': \(problem)") }
        guard let program = archiver.program else {
            guard let zeekArchiver = context.zeekArchiver else {
                throw NodeLaunchError("node '\(node)': archiver = 1 runs Zeek's zeek-archiver, which this host lacks: install it beside zeek "
                    + "(it is part of Zeek), or start supervisor-service with --zeek-archiver PATH; or set archiver = 0")
            }
            if let problem = zeekArchiverArgumentsProblem(archiver.args) { throw NodeLaunchError("node '\(node)': \(problem)") }
            return (zeekArchiver, archiver.args + [logQueue.path, logArchive.path])
        }
        if let problem = context.identities.policy.archiverProblem(program) { throw NodeLaunchError("node '\(node)': \(problem)") }
        guard FileManager.default.isExecutableFile(atPath: program) else {
            throw NodeLaunchError("node '\(node)': archiver program \(program) is not an executable file on this host")
        }
        return (program, archiver.args)
    }

    /// Why `zeek-archiver` must not be run with `arguments`; nil if it may. Only its options
    /// that change how it archives are allowed: `--compress` only with the compressors below,
    /// since it runs that command through the shell (the configuration would run any command),
    /// and not `-1`, which ends it after one pass (it would be restarted again and again).
    static func zeekArchiverArgumentsProblem(_ arguments: [String]) -> String? {
        let flags: Set<String> = ["-v", "--verbose"]
        let valued: Set<String> = ["-i", "--interval", "-d", "--delimiter", "-t", "--time-fmt", "-z", "--zip-extensions"]
        let compress: Set<String> = ["-c", "--compress"]
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if flags.contains(argument) {
                index += 1
                continue
            }
            guard valued.contains(argument) || compress.contains(argument) else {
                return "archiver_args '\(argument)' is not allowed for zeek-archiver: only -v, -i SECONDS, -d DELIMITER, -t FORMAT, -z EXTENSIONS and -c with "
                    + Self.compressors.sorted().map { "'\($0)'" }.joined(separator: ", ")
            }
            guard index + 1 < arguments.count else { return "archiver_args '\(argument)' needs a value" }
            let value = arguments[index + 1]
            if compress.contains(argument), !Self.compressors.contains(value) {
                return "archiver_args \(argument) '\(value)' is not allowed: zeek-archiver runs it through the shell; use one of "
                    + Self.compressors.sorted().map { "'\($0)'" }.joined(separator: ", ")
            }
            if argument == "-i" || argument == "--interval", Int(value).map({ $0 >= 1 }) != true {
                return "archiver_args \(argument) '\(value)' is not a number of seconds"
            }
            index += 2
        }
        return nil
    }

    /// The compressions `zeek-archiver -c` may be given (extension, command): nothing else runs.
    static let compressors: Set<String> = ["gz,gzip", "bz2,bzip2", "xz,xz", "zst,zstd", "lz4,lz4", ""]

    /// Makes a directory the archiver and the logging nodes share (the queue, the archive),
    /// given to their user: the directory alone, as a node's own.
    private static func makeShared(_ directory: URL, owner: NodeCredentials?) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try owner?.own(directory)
    }

    /// Refuses all but one name of letters, digits, `_`, `-` and `.` (not first): no `/`, no `.`
    /// or `..`, nothing hidden.
    private static func singleName(_ text: String, what: String, node: String) throws(NodeLaunchError) {
        let allowed = text.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0)) }
        guard allowed, let first = text.first, first != ".", !text.isEmpty else {
            throw NodeLaunchError("node '\(node)' \(what) '\(text)' must be one name of letters, digits, '_', '-' and '.' (not first)")
        }
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
