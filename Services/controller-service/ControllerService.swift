import ArgumentParser
import ClusterConfiguration
import Logging
import ManagementMessaging
import ManagementTypes
import ServiceLifecycle
import ServiceRuntime
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The cluster's controller: owns staged and deployed configurations and answers clients.
@main
struct ControllerService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller-service",
        abstract: "Zeek cluster controller over Kafka: serves Management.Controller.API (and the legacy ClusterController.API).",
        discussion: """
            Run two or more with the same --name for failover: one is active, the others stand by \
            in the `controller` consumer group and take over, with the persisted configurations, \
            when it goes.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "The controller's name: the sender of its events and the target clients address.")
    var name: String = "controller"

    @OptionGroup(title: "zeek-client endpoint") var websocket: WebSocketOptions

    @Option(help: "Seconds before a request is answered with \"request timed out\" (Zeek: 10).")
    var requestTimeout: Double = 10

    @Option(help: "Seconds without a check-in after which an agent is lost (3 heartbeats of agent-service's default 5 s).")
    var agentTimeout: Double = 15

    @Option(help: "Port that nodes may not use, as Zeek reserves its controller's Broker port (0 = none).")
    var controllerPort: Int = 2150

    @Flag(inversion: .prefixedEnableDisable, help: "Give managers, loggers and proxies without a port one from --broker-port-start upward.")
    var autoAssignPorts = true

    @Option(help: "First port given out by Broker port auto-assignment.")
    var brokerPortStart: Int = 2200

    @Flag(inversion: .prefixedEnableDisable, help: "Give nodes without a metrics port one from --metrics-port-start upward, per host.")
    var autoAssignMetricsPorts = true

    @Option(help: "First port given out by metrics port auto-assignment.")
    var metricsPortStart: Int = 9000

    func validate() throws {
        guard requestTimeout > 0, agentTimeout > 0 else {
            throw ValidationError("--request-timeout and --agent-timeout must be positive")
        }
        for (flag, port) in [("--controller-port", controllerPort), ("--broker-port-start", brokerPortStart), ("--metrics-port-start", metricsPortStart)] {
            guard (0...65535).contains(port) else { throw ValidationError("\(flag) \(port) is not a port number") }
        }
    }

    func run() async throws {
        let settings = try common.resolve()
        let logger = settings.bootstrapLogging(label: "controller-service")
        let controllerSettings = Controller.Settings(
            name: name,
            requestTimeout: .milliseconds(Int(requestTimeout * 1000)),
            agentTimeout: .milliseconds(Int(agentTimeout * 1000)),
            staging: StagingPolicy(
                controllerPort: controllerPort == 0 ? nil : ZeekPort(UInt16(controllerPort)),
                autoAssignBrokerPorts: autoAssignPorts, brokerPortStart: UInt16(brokerPortStart),
                autoAssignMetricsPorts: autoAssignMetricsPorts, metricsPortStart: UInt16(metricsPortStart)
            )
        )
        let kafka = settings.kafkaConfiguration(clientID: "controller-service.\(name)")
        let endpoint = EndpointConfiguration(
            name: name,
            kafka: kafka,
            namespace: settings.namespace,
            consumes: [.controllerAPI, .legacyControllerAPI, .agentAPI, .agentAPI.notify],
            creates: [.controllerAPI.notify, .legacyControllerAPI.notify, .legacyAgentAPI, .legacyAgentAPI.notify, .controllerState],
            membership: .group(id: "controller", mayStandBy: true),
            addressing: .targets([name], orUntargeted: true)
        )
        let holder = ControllerHolder()
        var services: [any Service] = []
        if let websocket = try websocket.resolve() {
            let gatewayName = "\(name)-ws-\(UUID().uuidString.prefix(8).lowercased())"
            services.append(ZeekClientGateway(
                host: websocket.host, port: websocket.port, tls: websocket.tls, controllerName: name,
                endpointConfiguration: EndpointConfiguration(
                    name: gatewayName, kafka: settings.kafkaConfiguration(clientID: gatewayName), namespace: settings.namespace,
                    consumes: [.controllerAPI, .controllerAPI.notify], membership: .fromEnd, addressing: .everything
                ),
                logger: logger
            ))
        }
        try await runUntilTerminated(services + [
            EndpointService(
                role: "controller-service", configuration: endpoint, logger: logger,
                onReady: { endpoint in
                    let store = ConfigurationStore(endpoint: endpoint, kafka: kafka, logger: logger)
                    let controller = Controller(settings: controllerSettings, endpoint: endpoint, store: store, logger: logger)
                    await holder.start(ControllerMessageRouter(controller: controller, logger: logger))
                },
                onShutdown: { _ in await holder.stop() },
                handler: { _, message in
                    await holder.router?.route(message)
                }
            ),
        ], logger: logger)
    }
}

/// The controller exists once the endpoint does; this hands it, with its message router, from
/// start-up to the handler and owns its background duties: following the group's assignment
/// (active or standby) and sweeping lost agents.
actor ControllerHolder {
    private(set) var router: ControllerMessageRouter?
    private var role = Role.joining
    private var duties: [Task<Void, Never>] = []

    private enum Role {
        case joining, standby, active
        /// Revoked while active: a rebalance is under way (a controller joining or leaving);
        /// its outcome decides between staying active and standing by.
        case rebalancing
    }

    func start(_ router: ControllerMessageRouter) {
        self.router = router
        let controller = router.controller
        let endpoint = controller.endpoint
        duties.append(Task {
            for await assignment in endpoint.assignmentChanges {
                await self.follow(assigned: !assignment.isEmpty, controller: controller)
            }
        })
        duties.append(Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                // While a rebalance is under way no heartbeats are read: nobody is lost for it.
                if role == .active { await controller.sweepLostAgents() }
            }
        })
    }

    /// Goes active when assigned the controller topics and stands by when they went to another
    /// controller; a revocation alone (every rebalance starts with one) changes nothing yet,
    /// so requests in flight survive a standby joining.
    private func follow(assigned: Bool, controller: Controller) async {
        let logger = controller.logger
        switch (role, assigned) {
        case (.joining, false):
            role = .standby
            logger.info("joined the controller group; active once assigned its topics (at once unless another controller is active)")
        case (.joining, true), (.standby, true):
            role = .active
            logger.info("assigned the controller topics: this controller is active")
            await controller.prepare()
        case (.active, false):
            role = .rebalancing
            logger.debug("controller topics revoked: the group is rebalancing")
        case (.rebalancing, true):
            role = .active
            logger.info("kept the controller topics through a rebalance of the group")
        case (.rebalancing, false):
            role = .standby
            await controller.standBy()
        case (.standby, false), (.active, true):
            break
        }
    }

    func stop() {
        duties.forEach { $0.cancel() }
    }
}
