import ArgumentParser
import Foundation
import ManagementMessaging
import ServiceRuntime

/// The program a supervisor launches for a cluster node.
@main
struct ClusterNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-node",
        abstract: "A Zeek cluster node stand-in: checks in and answers Management.Node.API dispatches."
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "The node's cluster name (env CLUSTER_NODE, as the supervisor sets it).")
    var node: String?

    @OptionGroup var instanceOption: InstanceOption

    func run() async throws {
        let settings = try common.resolve()
        guard let node = node ?? ProcessInfo.processInfo.environment["CLUSTER_NODE"], !node.isEmpty else {
            throw ValidationError("no node name: pass --node NAME or set CLUSTER_NODE")
        }
        let instance = instanceOption.name
        let logger = settings.bootstrapLogging(label: "cluster-node")
        let endpoint = EndpointConfiguration(
            name: node,
            kafka: settings.kafkaConfiguration(clientID: "cluster-node.\(node)"),
            namespace: settings.namespace,
            consumes: [.nodeAPI],
            creates: [.nodeAPI.notify],
            membership: .fromEnd,
            addressing: .targets([node, instance], orUntargeted: false)
        )
        try await runUntilTerminated([
            EndpointService(role: "cluster-node", configuration: endpoint, logger: logger) { _, message in
                logger.debug("received \(message.event) from \(message.head.sender)")
            },
        ], logger: logger)
    }
}
