import ArgumentParser
import Foundation
import Logging
import ManagementMessaging
import ManagementTypes
import ServiceRuntime
import ZeekNodes

/// One per host, beside its agent: spawns, watches and stops node processes.
@main
struct SupervisorService: AsyncParsableCommand {
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

    @Option(help: "Seconds between SIGTERMs while stopping a node.")
    var stopInterval: Double = 2

    @Option(help: "Seconds after which a node that ignores SIGTERM gets SIGKILL (Zeek: 26).")
    var killAfter: Double = 26

    @Option(help: "Seconds a node must have run for a crash to be answered by an immediate restart instead of back-off (Zeek: 30).")
    var stableAfter: Double = 30

    func validate() throws {
        guard stopInterval > 0, killAfter > 0, stableAfter >= 0 else {
            throw ValidationError("--stop-interval and --kill-after must be positive, --stable-after not negative")
        }
    }

    func run() async throws {
        let settings = try common.resolve()
        let instance = instanceOption.name
        let logger = settings.bootstrapLogging(label: "supervisor-service")
        let base = URL(fileURLWithPath: baseDir, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardizedFileURL
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        let program = try resolveProgram(base: base)

        var environment = ProcessInfo.processInfo.environment.merging(settings.childEnvironment) { $1 }
        environment["ZEEK_MGMT_INSTANCE"] = instance
        let supervisorSettings = NodeSupervisor.Settings(
            launch: NodeLaunch.Context(baseDirectory: base, program: program, environment: environment),
            stopInterval: .milliseconds(Int(stopInterval * 1000)),
            killAfter: .milliseconds(Int(killAfter * 1000)),
            stableUptime: .milliseconds(Int(stableAfter * 1000))
        )
        let runsZeek = if case .zeek = program { true } else { false }
        let endpoint = EndpointConfiguration(
            name: instance,
            kafka: settings.kafkaConfiguration(clientID: "supervisor-service.\(instance)"),
            namespace: settings.namespace,
            // Zeek nodes cannot read Kafka: their dispatches come to the host's relay.
            consumes: runsZeek ? [.supervisorAPI, .nodeAPI] : [.supervisorAPI],
            creates: [.supervisorAPI.notify],
            membership: .group(id: "supervisor.\(instance)"),
            // A supervisor acts only for its own host: untargeted messages are not for it.
            addressing: .targets([instance], orUntargeted: false)
        )
        let holder = SupervisorHolder()
        switch program {
        case .standIn(let path): logger.info("nodes run \(path) in \(base.path)")
        case .zeek(let installation, _):
            logger.info("nodes run Zeek \(installation.version) (\(installation.executable)) in \(base.path)")
            if let problem = installation.unsupportedReason { logger.warning("\(problem)") }
        }
        try await runUntilTerminated([
            EndpointService(
                role: "supervisor-service", configuration: endpoint, logger: logger,
                onReady: { endpoint in
                    let relay = runsZeek ? ZeekNodeRelay(instance: instance, endpoint: endpoint, logger: logger) : nil
                    await holder.set(NodeSupervisor(settings: supervisorSettings, endpoint: endpoint, relay: relay, logger: logger))
                },
                onShutdown: { _ in
                    logger.info("stopping all nodes")
                    await holder.supervisor?.stopAll()
                    await holder.supervisor?.relay?.stop()
                },
                handler: { endpoint, message in
                    guard let supervisor = await holder.supervisor else { return }
                    await SupervisorControlHandler(supervisor: supervisor, endpoint: endpoint, logger: logger).handle(message)
                }
            ),
        ], logger: logger)
    }

    /// Real Zeek when asked for (its node script written under the base directory), else
    /// the stand-in node program.
    private func resolveProgram(base: URL) throws -> NodeProgram {
        if let zeek {
            let installation: ZeekInstallation
            do {
                installation = try ZeekInstallation.locate(zeek, environment: ProcessInfo.processInfo.environment)
            } catch {
                throw ValidationError(error.description)
            }
            let script = try ZeekNodeScript.install(in: base.appendingPathComponent(".zeek-mgmt"))
            return .zeek(installation, nodeScript: script)
        }
        let candidate = nodeCommand ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
            .deletingLastPathComponent().appendingPathComponent("cluster-node").path
        var path = candidate
        if !candidate.contains("/") {
            let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":")
            path = directories.map { "\($0)/\(candidate)" }.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidate
        }
        path = URL(fileURLWithPath: path).standardizedFileURL.path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ValidationError("node command \(candidate) is not an executable file; pass --node-command PATH")
        }
        return .standIn(path: path)
    }
}

/// The supervisor exists once the endpoint does; this hands it from start-up to the handler.
actor SupervisorHolder {
    private(set) var supervisor: NodeSupervisor?
    func set(_ supervisor: NodeSupervisor) { self.supervisor = supervisor }
}

/// Answers `SupervisorControl` requests. State changes happen in arrival order; stopping
/// processes runs in the background and answers when done.
struct SupervisorControlHandler {
    let supervisor: NodeSupervisor
    let endpoint: ManagementEndpoint
    let logger: Logger

    /// Requests older than this are skipped: replaying stale commands after a restart would
    /// resurrect nodes nobody wants any more.
    static let requestLifetime: Duration = .seconds(30)

    func handle(_ message: InboundMessage) async {
        typealias Control = SupervisorControl
        guard message.event.hasSuffix("_request") else { return } // our own responses, status events
        if message.topic == .nodeAPI {
            await relay(message)
            return
        }
        if message.isExpired(timeout: Self.requestLifetime) {
            logger.info("skipping expired \(message.event) from \(message.head.sender)")
            return
        }
        let requester = message.head.sender
        switch message.event {
        case Control.CreateRequest.eventName:
            guard let request = decode(Control.CreateRequest.self, message) else { return }
            answer(await supervisor.create(request.node), to: requester, refusal: "create \(request.node.name) refused") {
                Control.CreateResponse(reqid: request.reqid, result: $0)
            }
        case Control.StatusRequest.eventName:
            guard let request = decode(Control.StatusRequest.self, message) else { return }
            respond(Control.StatusResponse(reqid: request.reqid, result: await supervisor.status(request.node)), to: requester)
        case Control.RestartRequest.eventName:
            guard let request = decode(Control.RestartRequest.self, message) else { return }
            answer(after: await supervisor.restart(request.node), to: requester) { Control.RestartResponse(reqid: request.reqid, result: $0) }
        case Control.DestroyRequest.eventName:
            guard let request = decode(Control.DestroyRequest.self, message) else { return }
            answer(after: await supervisor.destroy(request.node), to: requester) { Control.DestroyResponse(reqid: request.reqid, result: $0) }
        case SupervisorManagement.CheckRequest.eventName:
            guard let request = decode(SupervisorManagement.CheckRequest.self, message) else { return }
            answer(await supervisor.check(request.node), to: requester, refusal: "node \(request.node.name) fails its check") {
                SupervisorManagement.CheckResponse(reqid: request.reqid, result: $0)
            }
        case Control.StopRequest.eventName:
            logger.notice("stop requested by \(requester): stopping all nodes and exiting")
            kill(getpid(), SIGTERM)
        default:
            logger.info("ignoring unknown event \(message.event) from \(requester)")
        }
    }

    /// Hands a dispatch for this host's Zeek nodes to the relay; stale ones are dropped, as
    /// a node would never have seen them.
    private func relay(_ message: InboundMessage) async {
        guard message.event == NodeAPI.DispatchRequest.eventName, let relay = supervisor.relay else { return }
        guard !message.isExpired(timeout: Self.requestLifetime) else { return }
        do {
            await relay.dispatch(try message.decode(NodeAPI.DispatchRequest.self).event)
        } catch {
            logger.warning("malformed \(message.event) from \(message.head.sender): \(error)")
        }
    }

    /// The request, or nil after answering one whose arguments do not decode with its failure
    /// (every request with a reqid gets an answer).
    private func decode<Request: ManagementRequest>(_: Request.Type, _ message: InboundMessage) -> Request? {
        do throws(WireDecodingError) {
            return try message.decode(Request.self).event
        } catch {
            logger.warning("malformed \(message.event) from \(message.head.sender): \(error)")
            if let failure = Request.Response(rejecting: message, error, instance: nil) { respond(failure, to: message.head.sender) }
            return nil
        }
    }

    /// Answers once `work` ends with `""` (done) or the reason it was refused, which is logged.
    private func answer<Response: ManagementEvent>(_ work: Task<String, Never>, to requester: String, refusal: String,
                                                   _ response: @escaping @Sendable (String) -> Response) {
        Task {
            let result = await work.value
            if !result.isEmpty { logger.notice("\(refusal): \(result)") }
            respond(response(result), to: requester)
        }
    }

    private func answer<Response: ManagementEvent>(after work: Task<Void, Never>?, to requester: String, _ response: @escaping @Sendable (Bool) -> Response) {
        guard let work else {
            respond(response(false), to: requester)
            return
        }
        Task {
            await work.value
            respond(response(true), to: requester)
        }
    }

    private func respond<Response: ManagementEvent>(_ response: Response, to requester: String) {
        endpoint.enqueue(response, to: .supervisorAPI, target: requester)
    }
}
