import ArgumentParser
import ClusterConfiguration
import Logging
import ManagementController
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import MessageSigning
import MetricsDiscovery
import ServiceLifecycle
import ServiceRuntime
import ZeekClientGateway
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The cluster's controller: owns staged and deployed configurations and answers clients.
@main
struct ControllerCommand: AsyncParsableCommand {
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

    @OptionGroup(title: "Prometheus service discovery") var metricsDiscovery: MetricsDiscoveryOptions

    @Option(help: ArgumentHelp("The operator key the zeek-client gateway signs its clients' requests with (zeek-client cannot sign); listed in the trust file as that operator (env ZEEK_MGMT_GATEWAY_KEY_FILE).", valueName: "path"))
    var gatewayKey: String?

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
        try settings.trustingOwnKey(as: .controller, name: name)
        // Hosts that check in with keys nobody listed, for an operator to enroll.
        let pendingEnrollments = PendingEnrollments()
        let logger = settings.bootstrapLogging(label: "controller-service")
        var services: [any Service] = []
        // The nodes' metrics targets, published by the controller for the discovery endpoint.
        var metricsTargets: MetricsTargetsBoard?
        if let discovery = try metricsDiscovery.resolve() {
            let board = MetricsTargetsBoard()
            metricsTargets = board
            do {
                services.append(try MetricsDiscoveryServer(settings: discovery, content: { board.current.content }, logger: logger))
            } catch {
                throw ValidationError(error.description)
            }
        }
        let controllerSettings = Controller.Settings(
            name: name,
            requestTimeout: .milliseconds(Int(requestTimeout * 1000)),
            agentTimeout: .milliseconds(Int(agentTimeout * 1000)),
            staging: StagingPolicy(
                controllerPort: controllerPort == 0 ? nil : ZeekPort(UInt16(controllerPort)),
                autoAssignBrokerPorts: autoAssignPorts, brokerPortStart: UInt16(brokerPortStart),
                autoAssignMetricsPorts: autoAssignMetricsPorts, metricsPortStart: UInt16(metricsPortStart)
            ),
            enrollment: settings.identity.map { Controller.Enrollment(trust: $0.trust, pending: pendingEnrollments) },
            metricsTargets: metricsTargets
        )
        let endpoint = EndpointConfiguration(
            name: name,
            kafka: settings.kafkaConfiguration(clientID: "controller-service.\(name)"),
            namespace: settings.namespace,
            participating: ControllerService.participation(name: name),
            security: settings.security(.controller, pendingEnrollments: pendingEnrollments)
        )
        if var websocket = try websocket.resolve() {
            let gatewayName = "\(name)-ws-\(UUID().uuidString.prefix(8).lowercased())"
            let kafka = settings.kafkaConfiguration(clientID: gatewayName)
            // No WebSocket message may be larger than what Kafka takes: nothing larger could be
            // relayed, and the bound keeps a client from making the gateway buffer more.
            websocket.maximumMessageSize = kafka.maximumMessageSize
            let gateway: ZeekClientGateway
            do {
                gateway = try ZeekClientGateway(settings: websocket, controllerName: name, logger: logger)
            } catch {
                throw ValidationError(error.description)
            }
            services.append(EndpointService(
                role: "zeek-client gateway",
                configuration: EndpointConfiguration(
                    name: gatewayName, kafka: kafka, namespace: settings.namespace,
                    consumes: [Topic.controllerAPI.whole, Topic.controllerAPI.notify.whole], membership: .fromEnd, addressing: .everything,
                    security: try gatewaySecurity(settings)
                ),
                logger: logger,
                serving: gateway
            ))
        }
        services.append(EndpointService(
            role: "controller-service", configuration: endpoint, logger: logger,
            serving: ControllerService(settings: controllerSettings, logger: logger)
        ))
        try await runUntilTerminated(services, logger: logger)
    }

    /// zeek-client cannot sign: the gateway signs what its clients send with an operator key of
    /// its own, listed in the trust file like any operator's (README, Security).
    private func gatewaySecurity(_ settings: ServiceSettings) throws -> MessageSecurity {
        guard let identity = settings.identity else { return .unsignedInsecure }
        guard let path = gatewayKey ?? ProcessInfo.processInfo.environment["ZEEK_MGMT_GATEWAY_KEY_FILE"], !path.isEmpty else {
            throw ValidationError("the zeek-client gateway (--websocket) signs what its clients send as an operator: give it that operator's key with --gateway-key (env ZEEK_MGMT_GATEWAY_KEY_FILE), listed in the trust file as `deploy` or `read`")
        }
        do {
            return .signed(EndpointSecurity(key: try SigningKey(file: path), trust: identity.trust, policy: .client))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

extension MetricsTargetsBoard.Published {
    /// What the discovery endpoint answers for what the controller published.
    var content: MetricsDiscoveryContent {
        switch self {
        case .targets(_, let document): .targets(document)
        case .unavailable(let reason): .unavailable(reason)
        }
    }
}
