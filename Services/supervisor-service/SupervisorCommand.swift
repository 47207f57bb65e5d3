import ArgumentParser
import Foundation
import Logging
import ManagementKafka
import ManagementMessaging
import NodeSupervision
import ManagementTypes
import MessageSigning
import ServiceRuntime
import ZeekNodes

/// One per host, beside its agent: spawns, watches and stops node processes.
@main
struct SupervisorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervisor-service",
        abstract: "Zeek Supervisor over Kafka: runs this host's cluster nodes on Supervisor.API requests."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var instanceOption: InstanceOption

    @Option(help: "Program launched for each node (default: cluster-node beside this executable). Ignored with --zeek.")
    var nodeCommand: String?

    @Option(help: ArgumentHelp(
        "Run real Zeek for each node: the zeek executable, Zeek's install prefix, or 'auto' ($ZEEK_HOME/bin, PATH, /usr/local/zeek, /opt/zeek). Env: ZEEK_MGMT_ZEEK.",
        valueName: "path|auto"))
    var zeek: String? = ProcessInfo.processInfo.environment["ZEEK_MGMT_ZEEK"].flatMap { $0.isEmpty ? nil : $0 }

    @Option(help: "Directory under which node working directories are created.")
    var baseDir: String = "nodes"

    @Option(help: ArgumentHelp(
        "Kafka credentials for stand-in nodes (cluster-node), narrower than this supervisor's: a file of librdkafka properties they read. Without one they get no credential. Env: ZEEK_MGMT_NODE_KAFKA_OPTIONS_FILE.",
        valueName: "file"))
    var nodeKafkaOptionsFile: String? = ProcessInfo.processInfo.environment["ZEEK_MGMT_NODE_KAFKA_OPTIONS_FILE"].flatMap { $0.isEmpty ? nil : $0 }

    @Option(help: ArgumentHelp(
        "The host policy: the users nodes run as and the environment a configuration may set (README: Security). Without one, the safe defaults. Env: ZEEK_MGMT_HOST_POLICY_FILE.",
        valueName: "file"))
    var hostPolicy: String? = ProcessInfo.processInfo.environment["ZEEK_MGMT_HOST_POLICY_FILE"].flatMap { $0.isEmpty ? nil : $0 }

    @Option(help: ArgumentHelp(
        "This host's CURVE keys for encrypted ZeroMQ clusters: the directory `zeek-mgmt zeromq-keys` writes (server.public, client.public, client.secret; server.secret where a manager or logger runs). Env: ZEEK_MGMT_ZEROMQ_KEYS.",
        valueName: "dir"))
    var zeromqKeys: String? = ProcessInfo.processInfo.environment["ZEEK_MGMT_ZEROMQ_KEYS"].flatMap { $0.isEmpty ? nil : $0 }

    @Option(help: ArgumentHelp(
        "Zeek's zeek-archiver, run as the log archiver of configurations with archiver = 1 (default: beside zeek, else in PATH). Env: ZEEK_MGMT_ZEEK_ARCHIVER.",
        valueName: "path"))
    var zeekArchiver: String? = ProcessInfo.processInfo.environment["ZEEK_MGMT_ZEEK_ARCHIVER"].flatMap { $0.isEmpty ? nil : $0 }

    @Option(help: "Seconds between SIGTERMs while stopping a node.")
    var stopInterval: Double = 2

    @Flag(help: ArgumentHelp(
        "Have Zeek parse every node's scripts at every deploy's check, also when the same check passed before and no script, plugin or Zeek has changed since (which is skipped by default). Env: ZEEK_MGMT_CHECK_EVERY_DEPLOY=1."))
    var checkEveryDeploy = ProcessInfo.processInfo.environment["ZEEK_MGMT_CHECK_EVERY_DEPLOY"] == "1"

    @Option(help: "Seconds after which a node that ignores SIGTERM gets SIGKILL (Zeek: 26).")
    var killAfter: Double = 26

    @Option(help: "Seconds a node must have run for a crash to be answered by an immediate restart instead of back-off (Zeek: 30).")
    var stableAfter: Double = 30

    func validate() throws {
        for (flag, value) in [("--stop-interval", stopInterval), ("--kill-after", killAfter)] where Seconds.duration(value) == nil {
            throw ValidationError(Seconds.problem(flag))
        }
        if Seconds.duration(stableAfter, allowingZero: true) == nil {
            throw ValidationError(Seconds.problem("--stable-after", allowingZero: true))
        }
    }

    func run() async throws {
        let settings = try common.resolve()
        let instance = instanceOption.name
        // A host's processes share its key: they believe it without the trust file listing it.
        try settings.trustingOwnKey(as: .host, name: instance)
        let logger = settings.bootstrapLogging(label: "supervisor-service")
        let base = URL(fileURLWithPath: baseDir, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let program: NodeProgram
        do {
            program = try NodeProgram.resolve(zeek: zeek, nodeCommand: nodeCommand, base: base, executable: CommandLine.arguments[0],
                                              environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.description)
        }

        let identities: NodeIdentities
        do {
            identities = try NodeIdentities(policy: try hostPolicy.map { path throws(HostPolicy.Problem) in try HostPolicy(contentsOf: path) } ?? HostPolicy())
        } catch {
            throw ValidationError(error.description)
        }
        if case .zeek(let installation, _) = program {
            if let problem = identities.reachProblem(base.path) {
                throw ValidationError("\(problem): choose a --base-dir they can reach (such as /var/lib/zeek-mgmt/nodes), or open the directory to them")
            }
            if let problem = identities.reachProblem(installation.executable, executable: true) {
                throw ValidationError("\(problem): install Zeek where they can run it")
            }
        }
        let curveKeys: CurveKeys?
        do {
            curveKeys = try zeromqKeys.map { directory throws(CurveKeys.Problem) in try CurveKeys.load(directory: directory) }
        } catch {
            throw ValidationError("--zeromq-keys: \(error.description)")
        }
        if let zeromqKeys { logger.info("ZeroMQ CURVE keys from \(zeromqKeys)\(curveKeys?.serverSecret == nil ? " (no server.secret: this host runs no manager or logger)" : "")") }
        let archiver = Self.zeekArchiver(zeekArchiver, program: program)
        if let zeekArchiver, archiver == nil { throw ValidationError("--zeek-archiver \(zeekArchiver) is not an executable file") }
        logger.info("\(archiver.map { "log archivers (archiver = 1) run \($0)" } ?? "no zeek-archiver found: configurations with archiver = 1 are refused here (--zeek-archiver)")")
        let confinement = NodeConfinement.detect()
        logger.info("\(confinement.summary)")
        // Nodes inherit none of this process's own settings (its Kafka options file above all):
        // the stand-in gets what ``ServiceSettings/nodeEnvironment(credentialsFile:)`` gives, Zeek
        // nodes not even that (NodeLaunch).
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("ZEEK_MGMT_") }
            .merging(settings.nodeEnvironment(credentialsFile: nodeKafkaOptionsFile)) { $1 }
        environment["ZEEK_MGMT_INSTANCE"] = instance
        var supervisorSettings = NodeSupervisor.Settings(
            launch: NodeLaunch.Context(baseDirectory: base, program: program, environment: environment, identities: identities,
                                       confinement: confinement, curveKeys: curveKeys, zeekArchiver: archiver),
            // All three were validated.
            stopInterval: Seconds.duration(stopInterval)!,
            killAfter: Seconds.duration(killAfter)!,
            stableUptime: Seconds.duration(stableAfter, allowingZero: true)!
        )
        supervisorSettings.reusesPassedChecks = !checkEveryDeploy
        let endpoint = EndpointConfiguration(
            name: instance,
            kafka: settings.kafkaConfiguration(clientID: "supervisor-service.\(instance)"),
            namespace: settings.namespace,
            participating: SupervisorService.participation(instance: instance, program: program),
            security: settings.security(.host(instance: instance))
        )
        switch program {
        case .standIn(let path): logger.info("nodes run \(path) in \(base.path)")
        case .zeek(let installation, _):
            logger.info("nodes run Zeek \(installation.version) (\(installation.executable)) in \(base.path)")
            logger.info("\(identities.summary)")
            logger.info("the cluster backend of nodes is \(ClusterBackend.defaultName(forZeek: installation.version).displayName) unless a configuration names one")
        }
        try await runUntilTerminated([
            EndpointService(role: "supervisor-service", configuration: endpoint, logger: logger,
                            serving: SupervisorService(instance: instance, settings: supervisorSettings, logger: logger)),
        ], logger: logger)
    }

    /// `zeek-archiver`: the one given, else the one beside the Zeek nodes run (Zeek installs
    /// it there), else the first in PATH; nil if none is executable.
    static func zeekArchiver(_ given: String?, program: NodeProgram) -> String? {
        if let given { return FileManager.default.isExecutableFile(atPath: given) ? given : nil }
        var candidates: [String] = []
        if case .zeek(let installation, _) = program {
            candidates.append(URL(fileURLWithPath: installation.executable).deletingLastPathComponent().appendingPathComponent("zeek-archiver").path)
        }
        // Absolute PATH entries only: a relative one would resolve in the node's directory.
        candidates += (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").filter { $0.hasPrefix("/") }.map { "\($0)/zeek-archiver" }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
