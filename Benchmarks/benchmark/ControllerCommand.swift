import ArgumentParser
import Foundation
import KafkaTransport
import LocalServers
import Logging
import ManagementKafka
import ManagementMessaging
import ManagementTypes

/// Measures the controller path: a get-nodes round trip (client → controller → every agent →
/// back) against a bare librdkafka relay of the same shape (``BareRelay``), in the same run, and a deploy across several agents until every
/// node runs against spawning the same nodes directly.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "get-nodes round trip vs. a bare librdkafka relay of the same shape; deploy of agents × nodes vs. direct spawning."
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "Agent+supervisor pairs.")
    var agents: Int = 4

    @Option(help: "Nodes per agent.")
    var nodesPerAgent: Int = 8

    @Option(help: "get-nodes round trips (and bare ping-pongs) per block.")
    var rounds: Int = 100

    @Option(help: "Blocks of round trips; each runs both variants, alternating which goes first (0: measure only the deploy).")
    var blocks: Int = 3

    @Option(help: "Deploy rounds of each variant (alternating).")
    var deployRounds: Int = 5

    func run() async throws {
        let logger = bootstrapBenchmark()
        // Every phase on a fresh broker (or fresh topics of the given one): the in-memory test
        // broker slows down as its topics fill, which would penalise whatever runs later.
        var bare: [Duration] = []
        var getNodes: [Duration] = []
        // The same get-nodes rounds with every service unsigned, alternating with the signed
        // ones, each on a fresh broker: what signing and verifying every message costs.
        var unsignedGetNodes: [Duration] = []
        for block in stride(from: 1, through: blocks, by: 1) {
            for signed in block.isMultiple(of: 2) ? [false, true] : [true, false] {
                BenchmarkSigning.isEnabled = signed
                defer { BenchmarkSigning.isEnabled = true }
                try await broker.withBroker { servers in
                    let cluster = try await BenchCluster.start(servers: servers, instances: instances, logger: logger)
                    defer { cluster.stop() }
                    if block == 1 && signed { print("controller + \(agents) agents; broker \(servers)") }
                    if signed {
                        let topics = BareRelay.topics(partitions: TopicNamespace.defaultPartitions)
                        try await KafkaAdmin(configuration: cluster.kafka, logger: logger).ensureTopics(topics)
                        let floor = BareRelay(configuration: cluster.kafka, clientTopic: topics[0].name, agentTopic: topics[1].name,
                                              partitions: TopicNamespace.defaultPartitions, responders: agents)
                        bare += try await Task.detached { [rounds] in try floor.measure(rounds: rounds, warmup: 20) }.value
                    }
                    for round in 0..<(rounds + 20) {
                        let start = ContinuousClock.now
                        let response = try await cluster.ask(ControllerAPI.GetNodesRequest(reqid: UUID().uuidString), ControllerAPI.GetNodesResponse.self)
                        if round >= 20 {
                            if signed { getNodes.append(ContinuousClock.now - start) } else { unsignedGetNodes.append(ContinuousClock.now - start) }
                        }
                        guard response.results.count == agents, response.results.allSatisfy(\.success) else {
                            throw BenchmarkError("get-nodes failed: \(response.results)")
                        }
                    }
                    await cluster.client.close()
                }
            }
            print("block \(block)/\(blocks): bare relay p50 \(format(percentile(bare, 0.5))), get-nodes p50 \(format(percentile(getNodes, 0.5))), unsigned \(format(percentile(unsignedGetNodes, 0.5)))")
        }

        let total = agents * nodesPerAgent
        var direct: [Duration] = []
        var deployed: [Duration] = []
        try await broker.withBroker { servers in
            let cluster = try await BenchCluster.start(servers: servers, instances: instances, logger: logger)
            defer { cluster.stop() }
            let observer = try await HelloObserver(servers: servers, instance: "bench-direct", logger: logger)
            for round in 1...deployRounds {
                for variant in round.isMultiple(of: 2) ? ["controller", "direct"] : ["direct", "controller"] {
                    if variant == "direct" {
                        direct.append(try await startDirectly((1...total).map { "r\(round)-direct-\($0)" }, binaries: executableDirectory,
                                                              servers: servers, instance: "bench-direct", observer: observer))
                        continue
                    }
                    deployed.append(try await deployThroughController(round: round, cluster: cluster))
                }
                print("deploy round \(round)/\(deployRounds): direct \(format(direct.last!)), through the controller \(format(deployed.last!))")
            }
            await observer.shutdown()
            await cluster.client.close()
        }

        print("")
        if !getNodes.isEmpty {
            print("get-nodes round trip (client -> controller -> \(agents) agents -> back), p50 of \(getNodes.count)")
            print("  bare librdkafka relay, same shape  \(pad(format(percentile(bare, 0.5))))")
            print("  get-nodes                          \(pad(format(percentile(getNodes, 0.5))))")
            print(String(format: "  ratio %.2fx (get-nodes / bare relay)", seconds(percentile(getNodes, 0.5)) / seconds(percentile(bare, 0.5))))
            print("  get-nodes, every service unsigned  \(pad(format(percentile(unsignedGetNodes, 0.5))))")
            print(String(format: "  signing and verifying costs %+.1f%% (signed / unsigned p50)",
                         (seconds(percentile(getNodes, 0.5)) / seconds(percentile(unsignedGetNodes, 0.5)) - 1) * 100))
        }
        print("deploy \(agents) agents x \(nodesPerAgent) nodes until all RUNNING (median of \(deployRounds))")
        print("  spawned directly           \(pad(format(percentile(direct, 0.5))))")
        print("  deploy through controller  \(pad(format(percentile(deployed, 0.5))))")
        print(String(format: "  ratio %.2fx (controller / direct)", seconds(percentile(deployed, 0.5)) / seconds(percentile(direct, 0.5))))
    }

    private var instances: [String] { (1...agents).map { "bench-\($0)" } }

    /// Stages and deploys `nodesPerAgent` workers on every agent, starting from no nodes (as the
    /// direct spawn does); returns the time from deploy request to response.
    private func deployThroughController(round: Int, cluster: BenchCluster) async throws -> Duration {
        let declared = Set(instances.map { Management.Instance(name: $0) })
        _ = try await cluster.ask(ControllerAPI.StageConfigurationRequest(reqid: UUID().uuidString, config: Management.Configuration(instances: declared)),
                                  ControllerAPI.StageConfigurationResponse.self)
        _ = try await cluster.ask(ControllerAPI.DeployRequest(reqid: UUID().uuidString), ControllerAPI.DeployResponse.self)
        let config = Management.Configuration(instances: declared, nodes: Set(instances.flatMap { instance in
            (1...nodesPerAgent).map { Management.Node(name: "r\(round)-\(instance)-\($0)", instance: instance, role: .worker) }
        }))
        let staged = try await cluster.ask(ControllerAPI.StageConfigurationRequest(reqid: UUID().uuidString, config: config), ControllerAPI.StageConfigurationResponse.self)
        guard staged.results.allSatisfy(\.success) else { throw BenchmarkError("staging failed: \(staged.results)") }
        let start = ContinuousClock.now
        let response = try await cluster.ask(ControllerAPI.DeployRequest(reqid: UUID().uuidString), ControllerAPI.DeployResponse.self)
        let elapsed = ContinuousClock.now - start
        let failed = response.results.filter { !$0.success }
        guard failed.isEmpty, response.results.filter({ $0.node != nil }).count == agents * nodesPerAgent else {
            throw BenchmarkError("deploy failed: \(failed)")
        }
        return elapsed
    }
}

/// A controller with agent+supervisor pairs, run as processes, and a client asking it.
struct BenchCluster {
    let processes: [Process]
    let client: ManagementClient
    let kafka: KafkaConfiguration
    let base: URL

    static func start(servers: String, instances: [String], logger: Logger) async throws -> BenchCluster {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("controller-bench-\(UUID().uuidString)")
        var processes: [Process] = []
        func launch(_ name: String, _ arguments: [String]) throws {
            processes.append(try launchService(name, arguments, servers: servers))
        }
        try launch("controller-service", ["--request-timeout", "60"])
        for instance in instances {
            try launch("supervisor-service", ["--instance", instance, "--base-dir", base.appendingPathComponent(instance).path])
            try launch("agent-service", ["--instance", instance, "--request-timeout", "60"])
        }
        let kafka = KafkaConfiguration(bootstrapServers: servers.split(separator: ",").map(String.init), clientID: "benchmark", overrides: LocalBroker.clientOptions)
        let client = try await ManagementClient.connect(name: "bench-client", kafka: kafka, namespace: TopicNamespace(), topics: [.controllerAPI],
                                                    security: try BenchmarkSigning.security(.client, keyPath: LocalKeys.shared.deployer), logger: logger)
        let cluster = BenchCluster(processes: processes, client: client, kafka: kafka, base: base)
        let deadline = ContinuousClock.now + .seconds(90)
        while true {
            let response = try? await client.request(ControllerAPI.GetInstancesRequest(reqid: UUID().uuidString), on: .controllerAPI, target: "controller",
                                                     timeout: .seconds(2))
            if let listed = try? response?.result.data?.decode(as: [Management.Instance].self), listed.count == instances.count { return cluster }
            guard ContinuousClock.now < deadline else {
                cluster.stop()
                throw BenchmarkError("the controller did not see \(instances.count) agents within 90 s")
            }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    func ask<Request: ManagementRequest>(_ request: Request, _ type: Request.Response.Type) async throws -> Request.Response {
        try await client.request(request, on: .controllerAPI, target: "controller", timeout: .seconds(120))
    }

    func stop() {
        processes.forEach { $0.terminate() }
        processes.forEach { $0.waitForExit() }
        try? FileManager.default.removeItem(at: base)
    }
}
