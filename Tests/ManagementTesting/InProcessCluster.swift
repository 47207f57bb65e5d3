#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterConfiguration
import Logging
import ManagementAgent
import ManagementController
import ManagementMessaging
import ManagementTypes
import Prometheus
import Synchronization

/// Controllers and agents as the executables run them, on one in-memory bus with a test
/// clock; hosts played by ``SimulatedHost``; a client (``BusProbe``) reading every API and
/// notify topic. The in-process test tier and the in-process benchmark run on it.
public final class InProcessCluster: Sendable {
    public let clock = TestClock()
    public let bus: InMemoryBus
    public let client: BusProbe
    private let services = RunningServices()

    /// The controllers' request timeout (Zeek's 10 s).
    public static let requestTimeout: Duration = .seconds(10)
    /// The controllers' agent timeout (three 5 s heartbeats).
    public static let agentTimeout: Duration = .seconds(15)

    public init() {
        bus = InMemoryBus(clock: clock)
        client = BusProbe(bus, name: "client", topics: [
            .controllerAPI, .controllerAPI.notify, .legacyControllerAPI, .agentAPI, .agentAPI.replies, .agentAPI.notify, .legacyAgentAPI, .supervisorAPI,
        ])
    }

    static var logger: Logger {
        var logger = Logger(label: "in-process")
        logger.logLevel = .error
        return logger
    }

    /// Starts a controller process, known to the test as `process`, in the `controller` group
    /// (the first one is active). Every controller is named `controller`, as with `--name`.
    /// `configure` changes its settings from those of the executable's defaults.
    @discardableResult
    public func startController(_ process: String = "controller", configure: (inout Controller.Settings) -> Void = { _ in }) -> InMemoryBus.Endpoint {
        let endpoint = bus.connect("controller", participating: ControllerService.participation(name: "controller"),
                                   security: TestIdentities.shared.security(.controller, key: TestIdentities.shared.controller))
        var settings = Controller.Settings(name: "controller", requestTimeout: Self.requestTimeout, agentTimeout: Self.agentTimeout)
        configure(&settings)
        let service = ControllerService(settings: settings, clock: clock, logger: Self.logger)
        services.start(process, service, on: endpoint)
        return endpoint
    }

    /// Starts the agent of `instance` with a simulated host (its supervisor and nodes);
    /// `configure` changes the agent's settings.
    @discardableResult
    public func startAgent(_ instance: String, host: SimulatedHost? = nil, configure: (inout Agent.Settings) -> Void = { _ in }) -> SimulatedHost {
        let host = host ?? SimulatedHost(instance: instance)
        let hostEndpoint = host.connect(to: bus)
        services.start("\(instance)-host", host, on: hostEndpoint)
        startAgentService(instance, configure: configure)
        return host
    }

    /// Starts only the agent service of `instance` (its host keeps running).
    public func startAgentService(_ instance: String, configure: (inout Agent.Settings) -> Void = { _ in }) {
        let endpoint = bus.connect(instance, participating: AgentService.participation(instance: instance),
                                   security: TestIdentities.shared.security(.agent(instance: instance), key: TestIdentities.shared.host(instance)))
        var settings = Agent.Settings(instance: instance, requestTimeout: .seconds(5), heartbeat: .seconds(5), host: IPAddress("10.0.0.1")!)
        configure(&settings)
        let service = AgentService(
            settings: settings, metrics: AgentMetrics(registry: PrometheusCollectorRegistry()), clock: clock, logger: Self.logger
        )
        services.start(instance, service, on: endpoint)
    }

    /// Stops the service started under `name` as a crash would: it leaves the bus at once.
    public func stop(_ name: String) async {
        await services.stop(name)
    }

    /// Stops everything.
    public func shutdown() async {
        await services.stopAll()
    }

    /// Waits until the controller heard every agent of `instances` check in.
    public func waitForCheckIns(_ instances: Set<String>) async -> Bool {
        await client.wait { messages in
            instances.isSubset(of: Set(messages.compactMap { try? $0.decode(AgentAPI.NotifyAgentHello.self).event.instance }))
        }
    }

    public func ask<Request: ManagementRequest>(_ request: Request) async throws -> Request.Response {
        try await client.request(request, on: .controllerAPI, target: "controller")
    }

    /// Stages and deploys `config`; returns the deploy's results.
    public func deploy(_ config: Management.Configuration) async throws -> [Management.Result] {
        let staged = try await ask(ControllerAPI.StageConfigurationRequest(reqid: "stage-\(config.id)", config: config))
        precondition(staged.results.allSatisfy(\.success), "staging failed: \(staged.results)")
        return try await ask(ControllerAPI.DeployRequest(reqid: "deploy-\(config.id)")).results
    }

    /// The node statuses get-nodes reports, by node name.
    public func nodeStatuses() async throws -> [String: Management.NodeStatus] {
        let results = try await ask(ControllerAPI.GetNodesRequest(reqid: "nodes-\(UUID().uuidString)")).results
        let statuses = results.compactMap { try? $0.data?.decode(as: [Management.NodeStatus].self) }.joined()
        return Dictionary(statuses.filter { $0.mgmtRole != .agent }.map { ($0.node, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

/// The tasks of the services a test started, by name, cancelled at its end.
private final class RunningServices: Sendable {
    private let tasks = Mutex<[String: Task<Void, any Error>]>([:])

    /// Runs `service` on `endpoint` until stopped; the endpoint then leaves the bus, as a
    /// process's would when it ends.
    func start(_ name: String, _ service: any BusService, on endpoint: InMemoryBus.Endpoint) {
        tasks.withLock {
            $0[name] = Task {
                defer { endpoint.shutdown() }
                try await service.run(on: endpoint)
            }
        }
    }

    func stop(_ name: String) async {
        guard let task = tasks.withLock({ $0.removeValue(forKey: name) }) else { return }
        task.cancel()
        _ = await task.result
    }

    func stopAll() async {
        let all = tasks.withLock { tasks in
            defer { tasks = [:] }
            return Array(tasks.values)
        }
        all.forEach { $0.cancel() }
        for task in all { _ = await task.result }
    }
}
