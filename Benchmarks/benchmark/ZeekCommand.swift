import ArgumentParser
import BrokerJSON
import Foundation
import KafkaTransport
import LocalServers
import Logging
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import Synchronization
import WSClient
import ZeekNodes
#if canImport(Glibc)
import Glibc
#endif

/// Measures a deploy of real Zeek nodes through the services (controller-service, agent-service,
/// supervisor-service `--zeek`) until every node runs, against starting the same zeek processes
/// directly, with the same command lines, environments and generated files, in the same run.
///
/// The direct floor starts the roles one after another as the agent does (each role once the
/// previous answered), and — a second, lower floor — all nodes at once. A node counts as up
/// in both variants only when Zeek itself answers over its WebSocket API, as the supervisor's
/// relay requires before it reports the node's hello. Also times Zeek's `--parse-only` check,
/// which the services run before a deploy changes anything, and how long after the deploy
/// answered the Zeek cluster has formed (the manager connected to every other node).
struct ZeekCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zeek",
        abstract: "Deploy of a real Zeek cluster through the services vs. starting the same zeek processes directly; the check; cluster formation."
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "The zeek executable or Zeek's install prefix.")
    var zeek: String = "/opt/zeek-lts/bin/zeek"

    @Option(help: "Workers beside the logger, the manager and the proxy.")
    var workers: Int = 4

    @Option(help: "Rounds of each variant (alternating).")
    var rounds: Int = 5

    func validate() throws {
        guard workers >= 1, rounds >= 1 else { throw ValidationError("--workers and --rounds must be at least 1") }
    }

    func run() async throws {
        let logger = bootstrapBenchmark()
        let installation: ZeekInstallation
        do {
            installation = try ZeekInstallation.locate(zeek, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.description)
        }
        if ClusterBackend.defaultName(forZeek: installation.version) != .broker || installation.problem(with: .broker) != nil {
            throw ValidationError("benchmark zeek measures Broker clusters, on Zeek 8.0; Zeek \(installation.version) defaults to ZeroMQ")
        }
        try await broker.withBroker { servers in try await measure(servers: servers, installation: installation, logger: logger) }
    }

    private enum Variant {
        case roleByRole, allAtOnce, services
    }

    private func measure(servers: String, installation: ZeekInstallation, logger: Logger) async throws {
        let instance = "bench-host"
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("zeek-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let direct = try DirectZeek(installation: installation, base: base.appendingPathComponent("direct"),
                                    servers: servers, instance: instance, logger: logger)
        let services = try await ZeekServices.start(servers: servers, instance: instance, zeek: installation.executable,
                                                    base: base.appendingPathComponent("services"), logger: logger)
        defer { services.stop() }
        // Every path answers before anything is timed: the first dispatch to a node after the
        // services start takes up to a second longer than any later one, and Zeek's scripts
        // are read from the page cache afterwards in both variants.
        try await services.deployNothing()
        _ = try await services.deploy(try ZeekCluster(workers: workers, instance: instance))
        try await services.deployNothing()
        _ = try await direct.start(try ZeekCluster(workers: workers, instance: instance), roleByRole: true)

        let shape = "1 logger, 1 manager, 1 proxy, \(workers) worker\(workers == 1 ? "" : "s")"
        print("Zeek \(installation.version.isEmpty ? "?" : installation.version) (\(installation.executable)); \(shape) on \(instance); \(rounds) rounds; broker \(servers)")

        var started: [Variant: [Duration]] = [:]
        var formed: [Variant: [Duration]] = [:]
        var nodeStarts: [Variant: [Duration]] = [:]
        var checkOne: [Duration] = []
        var checkRoles: [Duration] = []
        var checkServices: [Duration] = []
        for round in 1...rounds {
            // The check on its own: through the agent and its supervisor, and as the supervisor
            // runs it, directly: one parse per role in parallel (nodes of a role parse alike, so
            // the supervisor checks each role once), and the parse of one node.
            let checked = try ZeekCluster(workers: workers, instance: instance)
            let roles = ZeekCluster.startOrder.compactMap { role in checked.nodes.first { $0.role == role } }
            for variant in round.isMultiple(of: 2) ? [Variant.services, .roleByRole] : [.roleByRole, .services] {
                if variant == .services {
                    checkServices.append(try await services.check(checked))
                } else {
                    checkRoles.append(try await direct.check(roles, of: checked))
                }
            }
            checkOne.append(try await direct.check([checked.nodes.first { $0.role == .manager }!], of: checked))

            let order: [Variant] = round.isMultiple(of: 2) ? [.services, .allAtOnce, .roleByRole] : [.roleByRole, .allAtOnce, .services]
            for variant in order {
                // Fresh Broker ports for every start: the previous nodes' sockets may linger.
                let cluster = try ZeekCluster(workers: workers, instance: instance)
                let measured: StartMeasurement
                switch variant {
                case .services:
                    measured = try await services.deploy(cluster)
                    try await services.deployNothing()
                case .roleByRole:
                    measured = try await direct.start(cluster, roleByRole: true)
                case .allAtOnce:
                    measured = try await direct.start(cluster, roleByRole: false)
                }
                started[variant, default: []].append(measured.up)
                formed[variant, default: []].append(measured.formed)
                nodeStarts[variant, default: []] += measured.nodeStarts
            }
            print("round \(round)/\(rounds): role by role \(format(started[.roleByRole]!.last!)), all at once \(format(started[.allAtOnce]!.last!)), "
                + "through the services \(format(started[.services]!.last!)); check \(format(checkRoles.last!)) directly, \(format(checkServices.last!)) through the agent")
        }
        await services.close()

        func median(_ variant: Variant, _ samples: [Variant: [Duration]]) -> Duration { percentile(samples[variant] ?? [], 0.5) }
        func line(_ label: String, _ value: Duration) {
            print("  " + label.padding(toLength: 40, withPad: " ", startingAt: 0) + pad(format(value)))
        }
        let floor = median(.roleByRole, started), deployed = median(.services, started)
        print("")
        print("deploy \(shape) until all RUNNING (median of \(rounds))")
        line("direct, role by role", floor)
        line("through the services", deployed)
        print(String(format: "  ratio %.2fx (services / direct role by role)", seconds(deployed) / seconds(floor)))
        line("direct, all at once (the lower floor)", median(.allAtOnce, started))
        print("the check before a deploy: zeek --parse-only (median of \(rounds))")
        line("one node, directly", percentile(checkOne, 0.5))
        line("one per role in parallel (\(ZeekCluster.startOrder.count)), directly", percentile(checkRoles, 0.5))
        line("through agent and supervisor", percentile(checkServices, 0.5))
        print("one node, from its process started until it answered (median of \(workers + 3) nodes x \(rounds) rounds)")
        line("direct, role by role (WebSocket)", median(.roleByRole, nodeStarts))
        line("through the supervisor (relay's hello)", median(.services, nodeStarts))
        print("Zeek cluster formed (manager connected to all \(workers + 2) others) after all answered (median of \(rounds))")
        line("through the services (get-id-value)", median(.services, formed))
        line("direct, role by role (WebSocket)", median(.roleByRole, formed))
        line("direct, all at once (WebSocket)", median(.allAtOnce, formed))
    }
}

/// One start of a cluster.
private struct StartMeasurement {
    /// From the deploy request (or the first spawn) until every node answered.
    var up: Duration
    /// From then until the manager was connected to every other node.
    var formed: Duration
    /// For each node, from its process starting until it answered: Zeek's own start-up plus,
    /// through the services, the relay finding it and its hello reaching Kafka.
    var nodeStarts: [Duration]
}

/// The example cluster's shape on one instance: a logger, a manager, a proxy and workers, with
/// Broker ports that were free a moment ago and no metrics ports.
private struct ZeekCluster {
    /// The order in which agent-service starts a deploy's nodes, each role once the previous
    /// one checked in.
    static let startOrder: [Supervisor.ClusterRole] = [.logger, .manager, .proxy, .worker]

    let instance: Management.Instance
    /// In start order.
    let nodes: [Management.Node]

    init(workers: Int, instance: String) throws {
        var ports: Set<Int> = []
        while ports.count < 3 { ports.insert(try freeLoopbackPort()) }
        var free = ports.sorted().makeIterator()
        self.instance = Management.Instance(name: instance, host: .loopback)
        nodes = [("logger", Supervisor.ClusterRole.logger), ("manager", .manager), ("proxy", .proxy)].map { name, role in
            Management.Node(name: name, instance: instance, role: role, port: free.next().map { ZeekPort(UInt16($0)) })
        } + (1...workers).map { Management.Node(name: "worker-\($0)", instance: instance, role: .worker) }
    }

    var configuration: Management.Configuration {
        Management.Configuration(instances: [instance], nodes: Set(nodes))
    }

    /// Every node's place in the cluster, as agent-service tells each node.
    var layout: [String: Supervisor.ClusterEndpoint] {
        Dictionary(uniqueKeysWithValues: nodes.map { node in
            (node.name, Supervisor.ClusterEndpoint(role: node.role, host: instance.host, port: node.port ?? .none,
                                                   interface: node.interface, metricsPort: node.metricsPort))
        })
    }

    /// The supervisor's configuration of `node`, as agent-service makes it.
    func nodeConfig(_ node: Management.Node) -> Supervisor.NodeConfig {
        Supervisor.NodeConfig(name: node.name, interface: node.interface, directory: node.name,
                              addlUserScripts: node.scripts ?? [], env: node.env, cpuAffinity: node.cpuAffinity, cluster: layout)
    }

    /// The node whose `ZeekMgmt::connected_nodes` tells whether the cluster has formed, and
    /// the nodes it must list then.
    var manager: String { "manager" }
    var others: Set<String> { Set(nodes.map(\.name)).subtracting([manager]) }
}

// MARK: Through the services

/// controller-service, agent-service and supervisor-service `--zeek` as processes, and a
/// client asking the controller as zeek-mgmt does.
private struct ZeekServices {
    let processes: [Process]
    let client: ManagementClient
    let watcher: NodeStartWatcher
    let instance: String

    /// Deploys are answered when every node checked in, seconds with real Zeek.
    static let requestTimeout: Duration = .seconds(180)

    static func start(servers: String, instance: String, zeek: String, base: URL, logger: Logger) async throws -> ZeekServices {
        var processes: [Process] = []
        func launch(_ name: String, _ arguments: [String]) throws {
            processes.append(try launchService(name, arguments, servers: servers))
        }
        do {
            // No metrics ports: the layout leaves Zeek's metrics endpoint off, as the direct start does.
            try launch("controller-service", ["--request-timeout", "120", "--disable-auto-assign-metrics-ports"])
            try launch("supervisor-service", ["--instance", instance, "--zeek", zeek, "--base-dir", base.path])
            try launch("agent-service", ["--instance", instance, "--advertised-host", "127.0.0.1", "--request-timeout", "60"])
            let kafka = KafkaConfiguration(bootstrapServers: servers.split(separator: ",").map(String.init), clientID: "benchmark", overrides: LocalBroker.clientOptions)
            let client = try await ManagementClient.connect(name: "bench-zeek-client", kafka: kafka, namespace: TopicNamespace(),
                                                            topics: [.controllerAPI, .agentAPI, .supervisorAPI],
                                                            security: try BenchmarkSigning.security(.observer, keyPath: LocalKeys.shared.deployer), logger: logger)
            let watcher = try await NodeStartWatcher(kafka: kafka, logger: logger)
            let services = ZeekServices(processes: processes, client: client, watcher: watcher, instance: instance)
            try await services.waitUntilReady()
            return services
        } catch {
            ZeekServices.stop(processes)
            throw error
        }
    }

    /// Until the supervisor answers on its topic and the agent has checked in with the controller.
    private func waitUntilReady() async throws {
        let deadline = ContinuousClock.now + .seconds(90)
        while (try? await client.request(SupervisorControl.DestroyRequest(reqid: UUID().uuidString, node: "no-such-node"), on: .supervisorAPI,
                                         target: instance, timeout: .seconds(1))) == nil {
            guard ContinuousClock.now < deadline else { throw BenchmarkError("supervisor-service did not answer within 90 s") }
            try await Task.sleep(for: .milliseconds(200))
        }
        while true {
            let response = try? await client.request(ControllerAPI.GetInstancesRequest(reqid: UUID().uuidString), on: .controllerAPI, target: "controller",
                                                     timeout: .seconds(2))
            if let listed = try? response?.result.data?.decode(as: [Management.Instance].self), listed.contains(where: { $0.name == instance }) { return }
            guard ContinuousClock.now < deadline else { throw BenchmarkError("the controller did not see agent \(instance) within 90 s") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    private func ask<Request: ManagementRequest>(_ request: Request, _ type: Request.Response.Type) async throws -> Request.Response {
        try await client.request(request, on: .controllerAPI, target: "controller", timeout: Self.requestTimeout)
    }

    /// Stages `cluster` and times its deploy (check, stop of nothing, the roles in order) until
    /// the response says every node runs; then polls the manager until it is connected to
    /// every other node, timed from the response.
    func deploy(_ cluster: ZeekCluster) async throws -> StartMeasurement {
        watcher.reset()
        let staged = try await ask(ControllerAPI.StageConfigurationRequest(reqid: UUID().uuidString, config: cluster.configuration),
                                   ControllerAPI.StageConfigurationResponse.self)
        guard staged.results.allSatisfy(\.success) else { throw BenchmarkError("staging failed: \(staged.results)") }
        let start = ContinuousClock.now
        let response = try await ask(ControllerAPI.DeployRequest(reqid: UUID().uuidString), ControllerAPI.DeployResponse.self)
        let answered = ContinuousClock.now
        let failed = response.results.filter { !$0.success }
        let running = Set(response.results.compactMap(\.node))
        guard failed.isEmpty, running == Set(cluster.nodes.map(\.name)) else {
            throw BenchmarkError("deploy failed: \(failed.isEmpty ? response.results : failed)")
        }
        let deadline = answered + .seconds(60)
        while true {
            let values = try await ask(ControllerAPI.GetIDValueRequest(reqid: UUID().uuidString, id: "ZeekMgmt::connected_nodes", nodes: [cluster.manager]),
                                       ControllerAPI.GetIDValueResponse.self)
            if let result = values.results.first(where: { $0.node == cluster.manager }), cluster.others.isSubset(of: connectedNodes(in: result)) {
                let formed = ContinuousClock.now - answered
                return StartMeasurement(up: answered - start, formed: formed, nodeStarts: try await watcher.startToAnswer(cluster.nodes.map(\.name)))
            }
            guard ContinuousClock.now < deadline else { throw BenchmarkError("the Zeek cluster did not form within 60 s: \(values.results)") }
        }
    }

    /// Times the agent's check of `cluster` (agent → supervisor → Zeek's `--parse-only` of
    /// each role → back), the phase a deploy through the controller starts with.
    func check(_ cluster: ZeekCluster) async throws -> Duration {
        let start = ContinuousClock.now
        let response = try await client.request(AgentAPI.CheckRequest(reqid: UUID().uuidString, config: cluster.configuration, configSignature: try operatorSignature(cluster.configuration)), on: .agentAPI,
                                                target: instance, timeout: Self.requestTimeout)
        let elapsed = ContinuousClock.now - start
        guard response.results.allSatisfy(\.success) else { throw BenchmarkError("check failed: \(response.results)") }
        return elapsed
    }

    /// Back to no nodes, so that the next deploy starts from nothing as the direct start does;
    /// answered once the supervisor has stopped every zeek.
    func deployNothing() async throws {
        let empty = Management.Configuration(instances: [Management.Instance(name: instance, host: .loopback)])
        _ = try await ask(ControllerAPI.StageConfigurationRequest(reqid: UUID().uuidString, config: empty), ControllerAPI.StageConfigurationResponse.self)
        let response = try await ask(ControllerAPI.DeployRequest(reqid: UUID().uuidString), ControllerAPI.DeployResponse.self)
        guard response.results.allSatisfy(\.success) else { throw BenchmarkError("deploying no nodes failed: \(response.results)") }
    }

    func close() async {
        await watcher.shutdown()
        await client.close()
    }

    /// SIGTERM: the supervisor stops its nodes before it exits (and they die with it anyway).
    func stop() {
        Self.stop(processes)
    }

    private static func stop(_ processes: [Process]) {
        processes.forEach { $0.terminate() }
        processes.forEach { $0.waitForExit() }
    }
}

/// When each node's process started (the supervisor's `node_status`) and when it answered
/// (the hello the relay publishes once Zeek answered), as both arrive from Kafka: one hop
/// each, so the difference is the node's start-up as the supervisor sees it.
private final class NodeStartWatcher: Sendable {
    private let endpoint: ManagementEndpoint
    private let reader: Task<Void, Never>
    private final class Seen: Sendable {
        let state = Mutex<(started: [String: ContinuousClock.Instant], answered: [String: ContinuousClock.Instant])>(([:], [:]))
    }

    private let seen = Seen()

    init(kafka: KafkaConfiguration, logger: Logger) async throws {
        let endpoint = try await ManagementEndpoint.connect(EndpointConfiguration(
            name: "bench-zeek-watcher", kafka: kafka, namespace: TopicNamespace(),
            consumes: [Topic.supervisorAPI.notify.whole, Topic.nodeAPI.notify.whole], membership: .fromEnd, addressing: .everything,
            security: try BenchmarkSigning.security(.observer, keyPath: LocalKeys.shared.deployer)
        ), logger: logger)
        self.endpoint = endpoint
        let seen = self.seen
        reader = Task {
            for await message in endpoint.inbound {
                let now = ContinuousClock.now
                if let status = try? message.decode(SupervisorNotification.NodeStatus.self) {
                    seen.state.withLock { if $0.started[status.event.node] == nil { $0.started[status.event.node] = now } }
                } else if let hello = try? message.decode(NodeAPI.NodeHello.self) {
                    seen.state.withLock { if $0.answered[hello.event.node] == nil { $0.answered[hello.event.node] = now } }
                }
            }
        }
    }

    /// Forgets what was seen, before a deploy.
    func reset() {
        seen.state.withLock { $0 = ([:], [:]) }
    }

    /// Each node's start until its hello; waits a moment for reports still on their way.
    func startToAnswer(_ nodes: [String]) async throws -> [Duration] {
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            let durations = seen.state.withLock { seen in
                nodes.compactMap { node in seen.started[node].flatMap { started in seen.answered[node].map { $0 - started } } }
            }
            if durations.count == nodes.count { return durations }
            guard ContinuousClock.now < deadline else { throw BenchmarkError("no start report or hello seen for some of \(nodes)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    func shutdown() async {
        await endpoint.shutdown()
        await reader.value
    }
}

/// The node names in a `get_id_value ZeekMgmt::connected_nodes` result: Zeek's `to_json` of a set.
private func connectedNodes(in result: Management.Result) -> Set<String> {
    guard result.success, case .string(let json)? = result.data,
          let names = try? ZeekJSON.decode([String].self, from: Data(json.utf8)) else { return [] }
    return Set(names)
}

// MARK: Directly

/// Starts Zeek nodes as supervisor-service does, without it: the same `ZeekNodeCommand`
/// (arguments, `ZEEKPATH`, generated `cluster-layout.zeek`), the same node script, a working
/// directory per node under one base directory, `CLUSTER_NODE` and a free port for the
/// WebSocket API.
private struct DirectZeek {
    let installation: ZeekInstallation
    let base: URL
    let nodeScript: String
    let servers: String
    let instance: String
    let logger: Logger

    init(installation: ZeekInstallation, base: URL, servers: String, instance: String, logger: Logger) throws {
        self.installation = installation
        self.base = base
        // Written once, as the supervisor writes it at its start.
        nodeScript = try ZeekNodeScript.install(in: base.appendingPathComponent(".zeek-mgmt"))
        self.servers = servers
        self.instance = instance
        self.logger = logger
    }

    /// Starts every node of `cluster`, role by role (each role once every node of the previous
    /// one answered) or all at once, and times until every node answered; then, from there,
    /// until the manager is connected to every other node. Stops the nodes before returning.
    func start(_ cluster: ZeekCluster, roleByRole: Bool) async throws -> StartMeasurement {
        var running: [(node: String, process: Process, socket: ZeekNodeSocket)] = []
        defer { stop(running) }
        let groups = roleByRole ? ZeekCluster.startOrder.map { role in cluster.nodes.filter { $0.role == role } } : [cluster.nodes]
        let start = ContinuousClock.now
        var lastAnswer = start
        var nodeStarts: [Duration] = []
        for group in groups where !group.isEmpty {
            var started: [(ZeekNodeSocket, Process, URL, ContinuousClock.Instant)] = []
            for node in group {
                let port = try freeLoopbackPort()
                let directory = base.appendingPathComponent(node.name)
                let process = try launch(cluster.nodeConfig(node), in: directory, websocketPort: port)
                let spawned = ContinuousClock.now
                let socket = ZeekNodeSocket(node: node.name, port: port, logger: logger)
                running.append((node.name, process, socket))
                started.append((socket, process, directory, spawned))
            }
            // The sockets connect concurrently; waiting for each in turn waits for the last.
            for (socket, process, directory, spawned) in started {
                let answered = try await socket.waitUntilAnswered(pid: process.processIdentifier, output: directory)
                nodeStarts.append(answered - spawned)
                lastAnswer = max(lastAnswer, answered)
            }
        }
        let up = lastAnswer - start
        guard let manager = running.first(where: { $0.node == cluster.manager })?.socket else { throw BenchmarkError("no manager") }
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            let result = try await manager.ask(["get_id_value", "ZeekMgmt::connected_nodes"])
            if cluster.others.isSubset(of: connectedNodes(in: result)) {
                return StartMeasurement(up: up, formed: ContinuousClock.now - lastAnswer, nodeStarts: nodeStarts)
            }
            guard ContinuousClock.now < deadline else { throw BenchmarkError("the Zeek cluster did not form within 60 s: \(result)") }
        }
    }

    /// Times Zeek's parse of `nodes` in parallel, as the supervisor checks a deploy:
    /// `--parse-only`, the node's environment, its generated files in a scratch directory.
    func check(_ nodes: [Management.Node], of cluster: ZeekCluster) async throws -> Duration {
        let scratch = base.appendingPathComponent("check-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let start = ContinuousClock.now
        var processes: [(String, Process, URL)] = []
        defer { processes.forEach { if $0.1.isRunning { $0.1.terminate(); $0.1.waitForExit() } } }
        for node in nodes {
            let directory = scratch.appendingPathComponent(node.name)
            processes.append((node.name, try launch(cluster.nodeConfig(node), in: directory, websocketPort: nil, parseOnly: true), directory))
        }
        for (name, process, directory) in processes {
            let status = await exitCode(of: process)
            guard status == 0 else { throw BenchmarkError("zeek --parse-only of \(name) failed (\(status)): \(lastLines(of: directory))") }
        }
        return ContinuousClock.now - start
    }

    /// One zeek process for `config`, with the command line and environment the supervisor
    /// gives it; its output goes to `stdout` and `stderr` in its directory.
    private func launch(_ config: Supervisor.NodeConfig, in directory: URL, websocketPort: Int?, parseOnly: Bool = false) throws -> Process {
        let command = try ZeekNodeCommand(node: config, options: [], installation: installation, nodeScript: nodeScript,
                                          directory: directory.path, websocketPort: websocketPort)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (file, text) in command.files {
            try Data(text.utf8).write(to: directory.appendingPathComponent(file), options: .atomic)
        }
        var environment = ProcessInfo.processInfo.environment
        environment["ZEEK_MGMT_BROKERS"] = servers
        environment["ZEEK_MGMT_INSTANCE"] = instance
        environment["CLUSTER_NODE"] = config.name
        environment["ZEEK_SUPERVISED_NODE"] = (try? ZeekJSON.encodeString(config)) ?? "{}"
        if parseOnly { environment["ZEEK_DISABLE_ZEEKYGEN"] = "1" } // as the supervisor checks
        let process = Process()
        process.executableURL = URL(fileURLWithPath: installation.executable)
        process.arguments = (parseOnly ? ["--parse-only"] : []) + command.arguments
        process.environment = environment.merging(command.environment) { $1 }
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try outputFile(directory.appendingPathComponent("stdout"))
        process.standardError = try outputFile(directory.appendingPathComponent("stderr"))
        try process.run()
        return process
    }

    /// The sockets first, so that nothing reconnects to a node that is going; then SIGTERM
    /// to every node, and wait until all have exited.
    private func stop(_ running: [(node: String, process: Process, socket: ZeekNodeSocket)]) {
        running.forEach { $0.socket.close() }
        running.forEach { $0.process.terminate() }
        running.forEach { $0.process.waitForExit() }
    }

    private func outputFile(_ url: URL) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw BenchmarkError("cannot create \(url.path)") }
        return try FileHandle(forWritingTo: url)
    }
}

/// The last lines Zeek wrote to stderr in `directory`, for an error.
private func lastLines(of directory: URL) -> String {
    let text = (try? String(contentsOf: directory.appendingPathComponent("stderr"), encoding: .utf8)) ?? ""
    return text.split(separator: "\n").suffix(10).joined(separator: "\n")
}

/// Waits for `process` to end without holding a thread of the cooperative pool (two on this
/// machine) and returns its exit code as a shell reports it. Reaps the child itself, since
/// Foundation's SIGCHLD handling can miss one of several children ending at once.
private func exitCode(of process: Process) async -> Int32 {
    while process.isRunning {
        var raw: Int32 = 0
        let result = waitpid(process.processIdentifier, &raw, WNOHANG)
        if result == process.processIdentifier { return Process.exitCode(waitStatus: raw) }
        if result < 0 && errno == ECHILD { break } // Foundation reaped it; isRunning follows
        try? await Task.sleep(for: .milliseconds(1))
    }
    return process.waitForExit()
}

/// A WebSocket client of one Zeek node, connected as supervisor-service's relay connects:
/// it tries until Zeek accepts (every 20 ms: the floor, where the relay backs off from 50 ms
/// to 1 s), subscribes to the node's relay topic and stays connected. Zeek's node script
/// answers the subscription with the node's hello, which is when the node counts as up.
private final class ZeekNodeSocket: Sendable {
    let node: String
    let port: Int

    private struct State {
        var answered: ContinuousClock.Instant?
        var outgoing: AsyncStream<String>.Continuation?
        var responses: [String: Management.Result] = [:]
    }

    private let state = Mutex(State())
    private let connection = Mutex<Task<Void, Never>?>(nil)
    static let retryInterval: Duration = .milliseconds(20)

    init(node: String, port: Int, logger: Logger) {
        self.node = node
        self.port = port
        let task = Task { await self.serve(logger: logger) }
        connection.withLock { $0 = task }
    }

    func close() {
        connection.withLock { $0?.cancel() }
        state.withLock { $0.outgoing?.finish() }
    }

    /// When the node's hello arrived; throws if its process ended first or 60 s passed.
    func waitUntilAnswered(pid: Int32, output: URL) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if let answered = state.withLock({ $0.answered }) { return answered }
            guard kill(pid, 0) == 0 else { throw BenchmarkError("zeek for \(node) ended before it answered: \(lastLines(of: output))") }
            guard ContinuousClock.now < deadline else { throw BenchmarkError("zeek for \(node) did not answer within 60 s") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Sends a `node_dispatch_request` as the relay does and returns Zeek's result.
    func ask(_ action: [String]) async throws -> Management.Result {
        let reqid = UUID().uuidString
        let event = BrokerEvent(name: NodeAPI.DispatchRequest.eventName, arguments: [
            .string(reqid), .vector(action.map(BrokerValue.string)), .set([]),
        ])
        let frame = String(decoding: try BrokerMessage.data(topic: ZeekNodeScript.requestTopic(node: node), value: event.value).encoded(), as: UTF8.self)
        guard let outgoing = state.withLock({ $0.outgoing }) else { throw BenchmarkError("not connected to \(node)") }
        outgoing.yield(frame)
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if let result = state.withLock({ $0.responses.removeValue(forKey: reqid) }) { return result }
            guard ContinuousClock.now < deadline else { throw BenchmarkError("\(node) did not answer \(action) within 10 s") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    private func serve(logger: Logger) async {
        let url = "ws://127.0.0.1:\(port)/v1/messages/json"
        let subscription = String(decoding: (try? BrokerMessage.subscription([ZeekNodeScript.relayTopic(node: node)]).encoded()) ?? Data("[]".utf8), as: UTF8.self)
        while !Task.isCancelled {
            _ = try? await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: BrokerMessage.maximumSize), logger: logger
            ) { inbound, outbound, _ in
                try await outbound.write(.text(subscription))
                let (frames, continuation) = AsyncStream<String>.makeStream()
                self.state.withLock { $0.outgoing = continuation }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await frame in frames { try await outbound.write(.text(frame)) }
                    }
                    for try await message in inbound.messages(maxSize: BrokerMessage.maximumSize) {
                        guard case .text(let text) = message else { continue }
                        self.received(text)
                    }
                    continuation.finish()
                    group.cancelAll()
                }
            }
            state.withLock { $0.outgoing = nil }
            try? await Task.sleep(for: Self.retryInterval)
        }
    }

    private func received(_ text: String) {
        guard case .data(_, let value)? = try? BrokerMessage(frame: Data(text.utf8)), let event = try? BrokerEvent(value) else { return }
        switch event.name {
        case NodeAPI.NodeHello.eventName:
            state.withLock { if $0.answered == nil { $0.answered = .now } }
        case NodeAPI.DispatchResponse.eventName:
            guard event.arguments.count == 2, case .string(let reqid) = event.arguments[0],
                  let json = try? ZeekType.result.json(event.arguments[1], path: "result"),
                  let result = try? json.decode(as: Management.Result.self) else { return }
            state.withLock { $0.responses[reqid] = result }
        default:
            break
        }
    }
}
