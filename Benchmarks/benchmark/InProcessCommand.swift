import ArgumentParser
import Foundation
import ManagementKafka
import ManagementMessaging
import ManagementTesting
import ManagementTypes

/// The controller and agents' own cost, without Kafka: the real `ControllerService` and
/// `AgentService`s on the in-memory bus, hosts simulated by the contract. What is left when
/// the broker's latency is taken away: the services' logic and the envelope codecs.
struct InProcessCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "in-process",
        abstract: "Deploy and get-nodes through the real controller and agents on the in-memory bus (no broker)."
    )

    @Option(help: "Agents, each with a simulated host.")
    var agents: Int = 4

    @Option(help: "Nodes per agent.")
    var nodesPerAgent: Int = 8

    @Option(help: "get-nodes round trips.")
    var rounds: Int = 1000

    @Option(help: "Deploys (each a new configuration).")
    var deployRounds: Int = 20

    func run() async throws {
        _ = bootstrapBenchmark()
        let cluster = InProcessCluster()
        let instances = (1...agents).map { "agent-\($0)" }
        cluster.startController()
        for instance in instances { cluster.startAgent(instance) }
        guard await cluster.waitForCheckIns(Set(instances)) else { throw BenchmarkError("the agents did not check in") }
        print("controller + \(agents) agents x \(nodesPerAgent) nodes on the in-memory bus")

        var deploys: [Duration] = []
        for round in 0..<deployRounds {
            let config = Management.Configuration(
                id: "bench-\(round)",
                instances: Set(instances.map { Management.Instance(name: $0) }),
                nodes: Set(instances.flatMap { instance in
                    (1...nodesPerAgent).map { Management.Node(name: "\(instance)-w\($0)", instance: instance, role: .worker, interface: "eth0") }
                })
            )
            let start = ContinuousClock.now
            let results = try await cluster.deploy(config)
            deploys.append(ContinuousClock.now - start)
            guard results.filter({ $0.success && $0.node != nil }).count == agents * nodesPerAgent else {
                throw BenchmarkError("deploy failed: \(results.filter { !$0.success })")
            }
        }
        var getNodes: [Duration] = []
        for _ in 0..<rounds {
            let start = ContinuousClock.now
            let results = try await cluster.ask(ControllerAPI.GetNodesRequest(reqid: UUID().uuidString)).results
            getNodes.append(ContinuousClock.now - start)
            guard results.count == agents, results.allSatisfy(\.success) else { throw BenchmarkError("get-nodes failed: \(results)") }
        }
        await cluster.shutdown()
        print("stage + deploy until all RUNNING   p50 \(format(percentile(deploys, 0.5)))   p99 \(format(percentile(deploys, 0.99)))   (\(deploys.count))")
        print("get-nodes round trip              p50 \(format(percentile(getNodes, 0.5)))   p99 \(format(percentile(getNodes, 0.99)))   (\(getNodes.count))")
    }
}
