import ArgumentParser
import Foundation
import ManagementMessaging
import ServiceRuntime

/// One per host, beside its agent: spawns, watches and stops node processes.
@main
struct SupervisorService: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervisor-service",
        abstract: "Zeek Supervisor over Kafka: runs this host's cluster nodes on Supervisor.API requests."
    )

    @OptionGroup var common: CommonOptions

    @OptionGroup var instanceOption: InstanceOption

    @Option(help: "Program launched for each node (default: cluster-node beside this executable).")
    var nodeCommand: String?

    @Option(help: "Directory under which node working directories are created (default: ./nodes).")
    var baseDir: String = "nodes"

    func run() async throws {
        let settings = try common.resolve()
        let instance = instanceOption.name
        let logger = settings.bootstrapLogging(label: "supervisor-service")
        let endpoint = EndpointConfiguration(
            name: instance,
            kafka: settings.kafkaConfiguration(clientID: "supervisor-service.\(instance)"),
            namespace: settings.namespace,
            consumes: [.supervisorAPI],
            creates: [.supervisorAPI.notify],
            membership: .group(id: "supervisor.\(instance)"),
            // A supervisor acts only for its own host: untargeted messages are not for it.
            addressing: .targets([instance], orUntargeted: false)
        )
        try await runUntilTerminated([
            EndpointService(role: "supervisor-service", configuration: endpoint, logger: logger) { _, message in
                logger.debug("received \(message.event) from \(message.head.sender)")
            },
        ], logger: logger)
    }
}
