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
/// directly, with the same command lines, environments and generated files, in the same run;
/// once per Zeek given, each on its default cluster backend (Broker on 8.0, ZeroMQ from 8.1).
///
/// The direct floor starts the roles one after another as the agent does (each role once the
/// previous answered), and — a second, lower floor — all nodes at once. A node counts as up
/// in both variants only when Zeek itself answers over its WebSocket API, as the supervisor's
/// relay requires before it reports the node's hello. Through the services it deploys twice
/// per round: the cluster deployed before (other ports), whose check the supervisor reuses,
/// and the same with an environment variable of a new value, which Zeek parses first. Also
/// times Zeek's `--parse-only` check, which the services run before a deploy changes anything, how long after the deploy
/// answered the Zeek cluster has formed (the manager connected to every other node), and how
/// long after a kill -9 of the manager (on ZeroMQ it runs the proxy every node talks through)
/// it answers again, the cluster has formed again and its logs reach the logger again.
struct ZeekCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zeek",
        abstract: "Deploy of a real Zeek cluster through the services vs. starting the same zeek processes directly; the check; cluster formation; recovery from a manager kill -9. Per Zeek, on its default backend."
    )

    @OptionGroup var broker: BrokerOption

    @Option(name: .customLong("zeek"), help: ArgumentHelp(
        "A zeek executable or Zeek's install prefix; repeat for several. Default: every test Zeek installed (\(testZeeks.joined(separator: ", "))).",
        valueName: "path"))
    var zeeks: [String] = []

    /// The test Zeeks `scripts/setup` installs: 8.0 LTS (Broker) and 9.1.0-dev (ZeroMQ).
    static let testZeeks = ["/opt/zeek-lts/bin/zeek", "/opt/zeek-private/bin/zeek"]

    @Option(help: "Workers beside the logger, the manager and the proxy.")
    var workers: Int = 4

    @Option(help: "Rounds of each variant (alternating).")
    var rounds: Int = 5

    @Option(help: "Kills (kill -9) of the manager in each variant, each timed until the cluster has recovered.")
    var kills: Int = 3

    func validate() throws {
        guard workers >= 1, rounds >= 1, kills >= 0 else { throw ValidationError("--workers and --rounds must be at least 1, --kills at least 0") }
    }

    func run() async throws {
        let logger = bootstrapBenchmark()
        let chosen = zeeks.isEmpty ? Self.testZeeks.filter { FileManager.default.isExecutableFile(atPath: $0) } : zeeks
        guard !chosen.isEmpty else {
            throw ValidationError("no Zeek at \(Self.testZeeks.joined(separator: " or ")): run scripts/setup, which installs both, or name one with --zeek")
        }
        var installations: [ZeekInstallation] = []
        for location in chosen {
            let installation: ZeekInstallation
            do {
                installation = try ZeekInstallation.locate(location, environment: ProcessInfo.processInfo.environment)
            } catch {
                throw ValidationError(error.description)
            }
            if let problem = installation.problem(with: ClusterBackend.defaultName(forZeek: installation.version)) { throw ValidationError(problem) }
            installations.append(installation)
        }
        // Each Zeek on a broker of its own, one after the other: two clusters at once would
        // share the machine's two cores.
        for installation in installations {
            try await broker.withBroker { servers in try await measure(servers: servers, installation: installation, logger: logger) }
        }
    }

    private enum Variant {
        case roleByRole, allAtOnce
        /// A deploy of the cluster deployed before (on other ports): the supervisor skips the
        /// check, which passed then, as nothing Zeek would read has changed.
        case services
        /// A deploy whose nodes have an environment not checked before, so Zeek parses every role.
        case servicesChecked
    }

    private func measure(servers: String, installation: ZeekInstallation, logger: Logger) async throws {
        let instance = "bench-host"
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("zeek-bench-\(UUID().uuidString)")
        // ZEEK_MGMT_KEEP_TEST_DIRECTORIES=1 keeps every node's directory (output, logs) to look into.
        defer { if ProcessInfo.processInfo.environment["ZEEK_MGMT_KEEP_TEST_DIRECTORIES"] != "1" { try? FileManager.default.removeItem(at: base) } }
        let backend = ClusterBackend.defaultName(forZeek: installation.version)
        func newCluster(checkedBefore: Bool = true) throws -> ZeekCluster {
            try ZeekCluster(workers: workers, instance: instance, backend: backend, newInputs: !checkedBefore)
        }
        let direct = try DirectZeek(installation: installation, base: base.appendingPathComponent("direct"),
                                    servers: servers, instance: instance, logger: logger)
        let services = try await ZeekServices.start(servers: servers, instance: instance, zeek: installation.executable,
                                                    base: base.appendingPathComponent("services"), logger: logger)
        defer { services.stop() }
        // Every path answers before anything is timed: the first dispatch to a node after the
        // services start takes up to a second longer than any later one, and Zeek's scripts
        // are read from the page cache afterwards in both variants.
        try await services.deployNothing()
        _ = try await services.deploy(try newCluster())
        try await services.deployNothing()
        try await direct.start(try newCluster(), roleByRole: true).running.stop()

        let shape = "1 logger, 1 manager, 1 proxy, \(workers) worker\(workers == 1 ? "" : "s")"
        let zeekName = "Zeek \(installation.version.isEmpty ? "?" : installation.version) on \(backend.displayName)"
        print("\(zeekName) (\(installation.executable)); \(shape) on \(instance); \(rounds) rounds; broker \(servers)")

        var started: [Variant: [Duration]] = [:]
        var formed: [Variant: [Duration]] = [:]
        var nodeStarts: [Variant: [Duration]] = [:]
        var checkOne: [Duration] = []
        var checkRoles: [Duration] = []
        var checkServices: [Duration] = []
        var checkServicesReused: [Duration] = []
        for round in 1...rounds {
            // The check on its own: through the agent and its supervisor (new inputs, then the
            // same again, which it reuses), and directly: a parse of every node in parallel
            // (the supervisor checks each node, two at a time), and the parse of one node.
            let checked = try newCluster(checkedBefore: false)
            for variant in round.isMultiple(of: 2) ? [Variant.services, .roleByRole] : [.roleByRole, .services] {
                if variant == .services {
                    checkServices.append(try await services.check(checked))
                    // The same again: it passed a moment ago.
                    checkServicesReused.append(try await services.check(checked))
                } else {
                    checkRoles.append(try await direct.check(checked.nodes, of: checked))
                }
            }
            checkOne.append(try await direct.check([checked.nodes.first { $0.role == .manager }!], of: checked))

            let order: [Variant] = round.isMultiple(of: 2) ? [.services, .servicesChecked, .allAtOnce, .roleByRole] : [.roleByRole, .allAtOnce, .servicesChecked, .services]
            for variant in order {
                // Fresh ports for every start: the previous nodes' sockets may linger.
                let cluster = try newCluster(checkedBefore: variant != .servicesChecked)
                let measured: StartMeasurement
                switch variant {
                case .services, .servicesChecked:
                    measured = try await services.deploy(cluster)
                    try await services.deployNothing()
                case .roleByRole, .allAtOnce:
                    let started = try await direct.start(cluster, roleByRole: variant == .roleByRole)
                    started.running.stop()
                    measured = started.measurement
                }
                started[variant, default: []].append(measured.up)
                formed[variant, default: []].append(measured.formed)
                nodeStarts[variant, default: []] += measured.nodeStarts
            }
            print("round \(round)/\(rounds): role by role \(format(started[.roleByRole]!.last!)), all at once \(format(started[.allAtOnce]!.last!)), "
                + "through the services \(format(started[.services]!.last!)) (\(format(started[.servicesChecked]!.last!)) with new inputs to check); "
                + "check \(format(checkRoles.last!)) directly, \(format(checkServices.last!)) through the agent")
        }

        // kill -9 of the manager: through the services the supervisor starts it again; directly,
        // the same zeek is started again at once (the floor).
        var recovered: [Variant: [Milestone: [Duration]]] = [:]
        for kill in stride(from: 1, through: kills, by: 1) {
            for variant in kill.isMultiple(of: 2) ? [Variant.services, .roleByRole] : [.roleByRole, .services] {
                let cluster = try newCluster()
                let times: [Milestone: Duration]
                if variant == .services {
                    _ = try await services.deploy(cluster)
                    times = try await services.killManager(of: cluster)
                    try await services.deployNothing()
                } else {
                    let started = try await direct.start(cluster, roleByRole: true)
                    defer { started.running.stop() }
                    times = try await direct.killManager(of: cluster, in: started.running)
                }
                for (milestone, time) in times { recovered[variant, default: [:]][milestone, default: []].append(time) }
            }
            print("manager kill \(kill)/\(kills): logs at the logger again after \(format(recovered[.roleByRole]![.logged]!.last!)) directly, "
                + "\(format(recovered[.services]![.logged]!.last!)) through the services")
        }
        await services.close()

        func median(_ variant: Variant, _ samples: [Variant: [Duration]]) -> Duration { percentile(samples[variant] ?? [], 0.5) }
        func line(_ label: String, _ value: Duration) {
            print("  " + label.padding(toLength: max(44, label.count + 1), withPad: " ", startingAt: 0) + pad(format(value)))
        }
        let floor = median(.roleByRole, started), deployed = median(.services, started), checkedDeploy = median(.servicesChecked, started)
        print("")
        print("\(zeekName): deploy \(shape) until all RUNNING (median of \(rounds))")
        line("direct, role by role", floor)
        line("through the services", deployed)
        print(String(format: "  ratio %.2fx (services / direct role by role; the check passed before and its inputs are unchanged)", seconds(deployed) / seconds(floor)))
        line("through the services, new inputs to check", checkedDeploy)
        print(String(format: "  ratio %.2fx (services / direct role by role; Zeek parses every node first)", seconds(checkedDeploy) / seconds(floor)))
        line("direct, all at once (the lower floor)", median(.allAtOnce, started))
        print("the check before a deploy: zeek --parse-only (median of \(rounds))")
        line("one node, directly", percentile(checkOne, 0.5))
        line("every node (\(workers + 3)) in parallel, directly", percentile(checkRoles, 0.5))
        line("through agent and supervisor", percentile(checkServices, 0.5))
        line("the same again, reused (inputs unchanged)", percentile(checkServicesReused, 0.5))
        print("one node, from its process started until it answered (median of \(workers + 3) nodes x \(rounds) rounds)")
        line("direct, role by role (WebSocket)", median(.roleByRole, nodeStarts))
        line("through the supervisor (relay's hello)", median(.services, nodeStarts))
        print("Zeek cluster formed (manager connected to all \(workers + 2) others) after all answered (median of \(rounds))")
        line("through the services (get-id-value)", median(.services, formed))
        line("direct, role by role (WebSocket)", median(.roleByRole, formed))
        line("direct, all at once (WebSocket)", median(.allAtOnce, formed))
        guard kills > 0 else { return }
        print("manager kill -9 until ... (median of \(kills))")
        for (milestone, label) in [(Milestone.answered, "it answers"), (.formed, "connected to all others"), (.logged, "its logs at the logger")] {
            line("\(label), directly", percentile(recovered[.roleByRole]?[milestone] ?? [], 0.5))
            line("\(label), through the services", percentile(recovered[.services]?[milestone] ?? [], 0.5))
        }
    }
}

/// How far a cluster has recovered from a kill -9 of its manager.
private enum Milestone: CaseIterable {
    /// The new manager answers over Zeek's WebSocket API (through the services: the relay's hello).
    case answered
    /// The new manager is connected to every other node.
    case formed
    /// A line the new manager logged reached the logger's `cluster.log`: logs flow again.
    case logged
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
/// ports that were free a moment ago (the nodes' Broker ports, the logger's log socket and the
/// manager's XPUB/XSUB proxy on ZeroMQ) and no metrics ports.
private struct ZeekCluster {
    let instance: Management.Instance
    let nodes: [Management.Node]
    let backend: ClusterBackend

    /// - newInputs: gives every node an environment variable of its own value, so its check
    ///   has inputs the supervisor has not seen pass.
    init(workers: Int, instance: String, backend: ClusterBackend.Name, newInputs: Bool = false) throws {
        var ports: Set<Int> = []
        while ports.count < 5 { ports.insert(try freeLoopbackPort()) }
        var free = ports.sorted().makeIterator()
        func next() -> ZeekPort? { free.next().map { ZeekPort(UInt16($0)) } }
        self.instance = Management.Instance(name: instance, host: .loopback)
        let inputs = UUID().uuidString
        nodes = ([("logger", Supervisor.ClusterRole.logger), ("manager", .manager), ("proxy", .proxy)].map { name, role in
            Management.Node(name: name, instance: instance, role: role, port: next())
        } + (1...workers).map { Management.Node(name: "worker-\($0)", instance: instance, role: .worker) }).map { node in
            var node = node
            if newInputs { node.env = ["BENCHMARK_INPUTS": inputs] }
            return node
        }
        self.backend = backend == .zeromq ? ClusterBackend(name: .zeromq, xpubPort: next(), xsubPort: next()) : ClusterBackend(name: .broker)
    }

    /// The order in which agent-service starts a deploy's nodes, each role once the previous
    /// one checked in: on ZeroMQ the manager first, as it runs the proxy.
    var startOrder: [Supervisor.ClusterRole] {
        backend.name == .zeromq ? [.manager, .logger, .proxy, .worker] : [.logger, .manager, .proxy, .worker]
    }

    var configuration: Management.Configuration {
        var configuration = Management.Configuration(instances: [instance], nodes: Set(nodes))
        configuration.clusterBackend = backend
        return configuration
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
                              addlUserScripts: node.scripts ?? [], env: node.env, cpuAffinity: node.cpuAffinity, cluster: layout,
                              clusterBackend: backend)
    }

    /// The node whose `ZeekMgmt::connected_nodes` tells whether the cluster has formed, and
    /// the nodes it must list then.
    var manager: String { "manager" }
    var others: Set<String> { Set(nodes.map(\.name)).subtracting([manager]) }
    /// The node whose working directory receives the cluster's logs.
    var logger: String { "logger" }
}

// MARK: Through the services

/// controller-service, agent-service and supervisor-service `--zeek` as processes, and a
/// client asking the controller as zeek-mgmt does.
private struct ZeekServices {
    let processes: [Process]
    /// Asks the controller, as an operator does.
    let client: ManagementClient
    /// Asks the supervisor directly, signed as its host (only the host's own services may
    /// write its topic), and the agent as a controller does (only controllers make requests
    /// of an agent).
    let hostClient: ManagementClient
    let controllerClient: ManagementClient
    let watcher: NodeStartWatcher
    let instance: String
    /// The supervisor's base directory: every node's working directory is in it.
    let base: URL

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
                                                            topics: [.controllerAPI],
                                                            security: try BenchmarkSigning.security(.observer, keyPath: LocalKeys.shared.deployer), logger: logger)
            let hostClient = try await ManagementClient.connect(name: "bench-zeek-host", kafka: kafka, namespace: TopicNamespace(),
                                                                topics: [.supervisorAPI],
                                                                security: try BenchmarkSigning.security(.observer, keyPath: LocalKeys.shared.host(instance)), logger: logger)
            let controllerClient = try await ManagementClient.connect(name: "bench-zeek-controller", kafka: kafka, namespace: TopicNamespace(),
                                                                      topics: [.agentAPI],
                                                                      security: try BenchmarkSigning.security(.observer, keyPath: LocalKeys.shared.controller), logger: logger)
            let watcher = try await NodeStartWatcher(kafka: kafka, logger: logger)
            let services = ZeekServices(processes: processes, client: client, hostClient: hostClient, controllerClient: controllerClient, watcher: watcher, instance: instance, base: base)
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
        while (try? await hostClient.request(SupervisorControl.DestroyRequest(reqid: UUID().uuidString, node: "no-such-node"), on: .supervisorAPI,
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
        try await waitUntilFormed(cluster)
        return StartMeasurement(up: answered - start, formed: ContinuousClock.now - answered, nodeStarts: try await watcher.startToAnswer(cluster.nodes.map(\.name)))
    }

    /// Asks the manager (get-id-value through the controller) until it is connected to every
    /// other node of `cluster`.
    private func waitUntilFormed(_ cluster: ZeekCluster) async throws {
        try await waitUntilConnected(cluster) {
            let values = try await ask(ControllerAPI.GetIDValueRequest(reqid: UUID().uuidString, id: "ZeekMgmt::connected_nodes", nodes: [cluster.manager]),
                                       ControllerAPI.GetIDValueResponse.self)
            return values.results.first { $0.node == cluster.manager } ?? Management.Result(reqid: "", success: false, error: "no answer of the manager: \(values.results)")
        }
    }

    /// kill -9 of the deployed manager's process; times until the process the supervisor
    /// started again answered (the relay's hello), is connected to every other node, and a
    /// line it logged reached the logger.
    func killManager(of cluster: ZeekCluster) async throws -> [Milestone: Duration] {
        guard let pid = watcher.pid(of: cluster.manager) else { throw BenchmarkError("no process of \(cluster.manager) reported") }
        let killed = ContinuousClock.now, wallClock = Date()
        kill(pid_t(pid), SIGKILL)
        var times: [Milestone: Duration] = [:]
        times[.answered] = try await watcher.hello(of: cluster.manager, otherThan: pid) - killed
        try await waitUntilFormed(cluster)
        times[.formed] = ContinuousClock.now - killed
        try await waitForLog(of: cluster.manager, in: base.appendingPathComponent(cluster.logger), since: wallClock)
        times[.logged] = ContinuousClock.now - killed
        return times
    }

    /// Times the agent's check of `cluster` (agent → supervisor → Zeek's `--parse-only` of
    /// each role → back), the phase a deploy through the controller starts with.
    func check(_ cluster: ZeekCluster) async throws -> Duration {
        let config = cluster.configuration, signature = try operatorSignature(config)
        let start = ContinuousClock.now
        let response = try await controllerClient.request(AgentAPI.CheckRequest(reqid: UUID().uuidString, config: config, configSignature: signature), on: .agentAPI,
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
        await hostClient.close()
        await controllerClient.close()
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
    private struct Reports {
        var started: [String: ContinuousClock.Instant] = [:]
        var answered: [String: ContinuousClock.Instant] = [:]
        /// Each node's latest process, and when each of its processes said hello.
        var pids: [String: Int] = [:]
        var hellos: [String: [Int: ContinuousClock.Instant]] = [:]
    }

    private final class Seen: Sendable {
        let state = Mutex(Reports())
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
                    seen.state.withLock {
                        if $0.started[status.event.node] == nil { $0.started[status.event.node] = now }
                        $0.pids[status.event.node] = status.event.pid
                    }
                } else if let hello = try? message.decode(NodeAPI.NodeHello.self) {
                    seen.state.withLock {
                        if $0.answered[hello.event.node] == nil { $0.answered[hello.event.node] = now }
                        let pid = hello.event.pid ?? 0
                        if $0.hellos[hello.event.node, default: [:]][pid] == nil { $0.hellos[hello.event.node, default: [:]][pid] = now }
                    }
                }
            }
        }
    }

    /// Forgets what was seen, before a deploy.
    func reset() {
        seen.state.withLock { $0 = Reports() }
    }

    /// The process the supervisor last reported for `node`.
    func pid(of node: String) -> Int? {
        seen.state.withLock { $0.pids[node] }
    }

    /// When a process of `node` other than `pid` said hello; waits up to 60 s for one.
    func hello(of node: String, otherThan pid: Int) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            if let seen = seen.state.withLock({ $0.hellos[node]?.filter { $0.key != pid }.values.min() }) { return seen }
            guard ContinuousClock.now < deadline else { throw BenchmarkError("no new process of \(node) said hello within 60 s") }
            try await Task.sleep(for: .milliseconds(5))
        }
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

/// Asks the manager of `cluster` (`ask`: its `get_id_value ZeekMgmt::connected_nodes` result)
/// until it is connected to every other node, for up to 60 s: the Zeek cluster has formed.
private func waitUntilConnected(_ cluster: ZeekCluster, ask: () async throws -> Management.Result) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while true {
        let result = try await ask()
        if cluster.others.isSubset(of: connectedNodes(in: result)) { return }
        guard ContinuousClock.now < deadline else { throw BenchmarkError("the Zeek cluster did not form within 60 s: \(result)") }
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
    /// until the manager is connected to every other node. The caller stops the nodes.
    func start(_ cluster: ZeekCluster, roleByRole: Bool) async throws -> (measurement: StartMeasurement, running: DirectRun) {
        let running = DirectRun()
        do {
            return (try await start(cluster, roleByRole: roleByRole, into: running), running)
        } catch {
            running.stop()
            throw error
        }
    }

    private func start(_ cluster: ZeekCluster, roleByRole: Bool, into running: DirectRun) async throws -> StartMeasurement {
        let groups = roleByRole ? cluster.startOrder.map { role in cluster.nodes.filter { $0.role == role } } : [cluster.nodes]
        // A WebSocket port for every node that serves one; the others (those that take log
        // writes on ZeroMQ) are reached through the manager's, as the supervisor's relay does.
        var websocketPorts: [String: Int] = [:]
        for node in cluster.nodes where !ZeekNodeCommand.isCarried(cluster.nodeConfig(node), installation: installation) {
            websocketPorts[node.name] = try freeLoopbackPort()
        }
        let carrierPort = websocketPorts[cluster.manager] ?? websocketPorts.min { $0.key < $1.key }?.value
        let start = ContinuousClock.now
        var lastAnswer = start
        var nodeStarts: [Duration] = []
        for group in groups where !group.isEmpty {
            var started: [(ZeekNodeSocket, Process, URL, ContinuousClock.Instant)] = []
            for node in group {
                let own = websocketPorts[node.name]
                guard let port = own ?? carrierPort else { throw BenchmarkError("no node serves a WebSocket through which to reach \(node.name)") }
                let directory = base.appendingPathComponent(node.name)
                let process = try launch(cluster.nodeConfig(node), in: directory, websocketPort: own)
                let spawned = ContinuousClock.now
                let socket = ZeekNodeSocket(node: node.name, port: port, logger: logger)
                running.add(node: node.name, process: process, socket: socket)
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
        guard let manager = running.entry(cluster.manager)?.socket else { throw BenchmarkError("no manager") }
        try await waitUntilFormed(cluster, asking: manager)
        return StartMeasurement(up: up, formed: ContinuousClock.now - lastAnswer, nodeStarts: nodeStarts)
    }

    /// Asks `manager` over its WebSocket until it is connected to every other node of `cluster`.
    private func waitUntilFormed(_ cluster: ZeekCluster, asking manager: ZeekNodeSocket) async throws {
        try await waitUntilConnected(cluster) { try await manager.ask(["get_id_value", "ZeekMgmt::connected_nodes"]) }
    }

    /// kill -9 of the manager's process and, at once, the same zeek started again (the floor
    /// for a supervisor's restart); times until it answered, is connected to every other node,
    /// and a line it logged reached the logger.
    func killManager(of cluster: ZeekCluster, in running: DirectRun) async throws -> [Milestone: Duration] {
        guard let old = running.entry(cluster.manager), let node = cluster.nodes.first(where: { $0.name == cluster.manager }) else {
            throw BenchmarkError("no manager running")
        }
        let killed = ContinuousClock.now, wallClock = Date()
        kill(old.process.processIdentifier, SIGKILL)
        old.socket.close()
        _ = old.process.waitForExit()
        let port = try freeLoopbackPort()
        let directory = base.appendingPathComponent(node.name)
        let process = try launch(cluster.nodeConfig(node), in: directory, websocketPort: port)
        let socket = ZeekNodeSocket(node: node.name, port: port, logger: logger)
        running.add(node: node.name, process: process, socket: socket)
        var times: [Milestone: Duration] = [:]
        times[.answered] = try await socket.waitUntilAnswered(pid: process.processIdentifier, output: directory) - killed
        try await waitUntilFormed(cluster, asking: socket)
        times[.formed] = ContinuousClock.now - killed
        try await waitForLog(of: cluster.manager, in: base.appendingPathComponent(cluster.logger), since: wallClock)
        times[.logged] = ContinuousClock.now - killed
        return times
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

    private func outputFile(_ url: URL) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: url.path, contents: nil) else { throw BenchmarkError("cannot create \(url.path)") }
        return try FileHandle(forWritingTo: url)
    }
}

/// The zeek processes of one direct start, with a WebSocket client each.
private final class DirectRun {
    private var entries: [(node: String, process: Process, socket: ZeekNodeSocket)] = []

    func add(node: String, process: Process, socket: ZeekNodeSocket) {
        entries.append((node, process, socket))
    }

    /// The latest process of `node`.
    func entry(_ node: String) -> (process: Process, socket: ZeekNodeSocket)? {
        entries.last { $0.node == node }.map { ($0.process, $0.socket) }
    }

    /// The sockets first, so that nothing reconnects to a node that is going; then SIGTERM
    /// to every node, and wait until all have exited.
    func stop() {
        entries.forEach { $0.socket.close() }
        entries.forEach { if $0.process.isRunning { $0.process.terminate() } }
        entries.forEach { _ = $0.process.waitForExit() }
        entries = []
    }
}

/// Waits (up to 60 s) until a line `node` logged at or after `since` is in the `cluster.log` of
/// the logger whose working directory is `directory`: its log writes reach the logger.
private func waitForLog(of node: String, in directory: URL, since: Date) async throws {
    let log = ZeekLogFile(directory.appendingPathComponent("cluster.log"))
    guard try await log.waitForLine(from: node, since: since, until: .now + .seconds(60)) else {
        throw BenchmarkError("no line from \(node) in \(log.url.path) within 60 s")
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
///
/// It also asks the node every 20 ms until it answers a dispatch, as the relay does: on ZeroMQ
/// the hello can be lost (the node publishes it before the client's subscription has reached
/// the manager's proxy), and a node that serves no WebSocket of its own (one that takes log
/// writes on ZeroMQ), reached through another node's (`port`), says no hello there at all.
private final class ZeekNodeSocket: Sendable {
    let node: String
    let port: Int
    private static let probePrefix = "bench-probe-"

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

    /// A `node_dispatch_request` to this node, as the relay sends it.
    private func dispatchFrame(reqid: String, action: [String]) throws -> String {
        let event = BrokerEvent(name: NodeAPI.DispatchRequest.eventName, arguments: [
            .string(reqid), .vector(action.map(BrokerValue.string)), .set([]),
        ])
        return String(decoding: try BrokerMessage.data(topic: ZeekNodeScript.requestTopic(node: node), value: event.value).encoded(), as: UTF8.self)
    }

    /// Sends a `node_dispatch_request` as the relay does and returns Zeek's result.
    func ask(_ action: [String]) async throws -> Management.Result {
        let reqid = UUID().uuidString
        let frame = try dispatchFrame(reqid: reqid, action: action)
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
                    group.addTask {
                        while self.state.withLock({ $0.answered == nil }) {
                            try await Task.sleep(for: Self.retryInterval)
                            continuation.yield(try self.dispatchFrame(reqid: Self.probePrefix + UUID().uuidString, action: ["get_id_value", "Cluster::node"]))
                        }
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
            if event.arguments.count == 2, case .string(let reqid) = event.arguments[0], reqid.hasPrefix(Self.probePrefix) {
                state.withLock { if $0.answered == nil { $0.answered = .now } }
                return
            }
            guard event.arguments.count == 2, case .string(let reqid) = event.arguments[0],
                  let json = try? ZeekType.result.json(event.arguments[1], path: "result"),
                  let result = try? json.decode(as: Management.Result.self) else { return }
            state.withLock { $0.responses[reqid] = result }
        default:
            break
        }
    }
}
