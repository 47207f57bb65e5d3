import ArgumentParser
import ManagementMessaging
import ServiceRuntime

/// The cluster's controller: owns staged and deployed configurations and answers clients.
@main
struct ControllerService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller-service",
        abstract: "Zeek cluster controller over Kafka: answers Management.Controller.API requests."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "The controller's name: the sender of its events and the target clients address (default controller).")
    var name: String = "controller"

    func run() async throws {
        let settings = try common.resolve()
        let logger = settings.bootstrapLogging(label: "controller-service")
        let endpoint = EndpointConfiguration(
            name: name,
            kafka: settings.kafkaConfiguration(clientID: "controller-service.\(name)"),
            namespace: settings.namespace,
            consumes: [.controllerAPI, .legacyControllerAPI],
            creates: [.controllerAPI.notify, .legacyControllerAPI.notify, .agentAPI, .agentAPI.notify,
                      .legacyAgentAPI, .legacyAgentAPI.notify, .controllerState],
            membership: .group(id: "controller"),
            addressing: .targets([name], orUntargeted: true)
        )
        try await runUntilTerminated([
            EndpointService(role: "controller-service", configuration: endpoint, logger: logger) { _, message in
                logger.debug("received \(message.event) from \(message.head.sender)")
            },
        ], logger: logger)
    }
}
