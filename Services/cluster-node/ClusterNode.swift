import ArgumentParser
import Foundation
import Logging
import ManagementKafka
import ManagementMessaging
import ServiceLifecycle
import ServiceRuntime

/// The program a supervisor launches for a cluster node.
///
/// It takes Zeek's own command line (`-b`, `-i IFACE`, `-r FILE`, scripts), so a supervisor
/// builds the same argv for it as for `zeek`, and learns its identity and cluster layout from
/// the environment as a Zeek node does.
@main
struct ClusterNode: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster-node",
        abstract: "A Zeek cluster node stand-in: checks in and answers Management.Node.API dispatches."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var instanceOption: InstanceOption

    @Option(help: "The node's cluster name (default: CLUSTER_NODE, as the supervisor sets it).")
    var node: String?

    @Flag(name: .customShort("b"), help: "Bare mode (accepted for Zeek compatibility).")
    var bareMode = false

    @Option(name: .customShort("i"), help: "Capture interface (accepted for Zeek compatibility).")
    var interface: String?

    @Option(name: .customShort("r"), help: "Capture file to read (accepted for Zeek compatibility).")
    var readFile: String?

    @Argument(help: "Scripts to load (accepted for Zeek compatibility).")
    var scripts: [String] = []

    func run() async throws {
        let settings = try common.resolve()
        let logger = settings.bootstrapLogging(label: "cluster-node")
        let identity: NodeIdentity
        do {
            identity = try NodeIdentity(name: node, instance: instanceOption.name, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError("\(error)")
        }
        try settings.trustingOwnKey(as: .host, name: identity.instance)
        let endpoint = EndpointConfiguration(
            name: identity.name,
            kafka: settings.kafkaConfiguration(clientID: "cluster-node.\(identity.name)"),
            namespace: settings.namespace,
            consumes: [Topic.nodeAPI.partition(of: identity.instance)],
            creates: [.nodeAPI.notify],
            membership: .fromEnd,
            addressing: .targets([identity.name, identity.instance], orUntargeted: false),
            security: settings.security(.host(instance: identity.instance))
        )
        try await runUntilTerminated([
            EndpointService(role: "cluster-node", configuration: endpoint, logger: logger,
                            serving: StandInNode(identity: identity, dispatcher: Dispatcher(identity: identity), logger: logger)),
        ], logger: logger)
    }
}

/// The stand-in node on the bus: says hello, then answers the dispatches meant for it.
struct StandInNode: BusService {
    let identity: NodeIdentity
    let dispatcher: Dispatcher
    let logger: Logger

    func run(on bus: any MessageBus) async throws {
        let instance = identity.instance
        do {
            try await bus.publish(NodeAPI.NodeHello(node: identity.name, pid: Int(getpid())), to: .nodeAPI.notify, target: instance)
        } catch {
            logger.error("could not announce node \(identity.name): \(error)")
        }
        await cancelWhenGracefulShutdown {
            for await message in bus.inbound {
                defer { bus.handled(message) }
                guard message.event == NodeAPI.DispatchRequest.eventName else { continue }
                do {
                    let request = try message.decode(NodeAPI.DispatchRequest.self).event
                    guard request.nodes.isEmpty || request.nodes.contains(identity.name) else { continue }
                    let result = dispatcher.result(reqid: request.reqid, action: request.action)
                    try await bus.publish(NodeAPI.DispatchResponse(reqid: request.reqid, result: result), to: .nodeAPI, target: instance)
                } catch {
                    logger.warning("cannot answer \(message.event) from \(message.head.sender): \(error)")
                }
            }
        }
    }
}
