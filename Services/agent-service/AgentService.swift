import ArgumentParser
import ManagementMessaging
import ServiceRuntime

/// One per host: turns its part of a deployed configuration into supervised nodes.
@main
struct AgentService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-service",
        abstract: "Zeek cluster agent over Kafka: serves Management.Agent.API for one host."
    )

    @OptionGroup var common: CommonOptions

    @OptionGroup var instanceOption: InstanceOption

    @Option(help: "Prometheus Pushgateway base URL to push metrics to (off unless given).")
    var pushgateway: String?

    @Option(help: "Seconds between metric pushes.")
    var pushInterval: Double = 10

    func validate() throws {
        guard pushInterval > 0 else { throw ValidationError("--push-interval must be positive") }
    }

    func run() async throws {
        let settings = try common.resolve()
        let instance = instanceOption.name
        let logger = settings.bootstrapLogging(label: "agent-service")
        let endpoint = EndpointConfiguration(
            name: instance,
            kafka: settings.kafkaConfiguration(clientID: "agent-service.\(instance)"),
            namespace: settings.namespace,
            consumes: [.agentAPI, .legacyAgentAPI, .nodeAPI.notify, .supervisorAPI.notify],
            creates: [.agentAPI.notify, .legacyAgentAPI.notify, .nodeAPI, .supervisorAPI],
            membership: .group(id: "agent.\(instance)"),
            addressing: .targets([instance], orUntargeted: true)
        )
        try await runUntilTerminated([
            EndpointService(role: "agent-service", configuration: endpoint, logger: logger) { _, message in
                logger.debug("received \(message.event) from \(message.head.sender)")
            },
        ], logger: logger)
    }
}
