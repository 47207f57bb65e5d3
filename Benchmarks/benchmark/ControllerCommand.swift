import ArgumentParser
import Foundation
import KafkaTransport
import Logging
import ManagementMessaging
import ManagementTypes

/// Measures the controller path: a get-nodes round trip (client → controller → every agent →
/// back) against a bare librdkafka ping-pong, and a deploy across several agents until every
/// node runs against spawning the same nodes directly.
struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "get-nodes round trip vs. a bare librdkafka ping-pong; deploy of agents × nodes vs. direct spawning."
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "Agent+supervisor pairs.")
    var agents: Int = 4

    @Option(help: "Nodes per agent.")
    var nodesPerAgent: Int = 8

    @Option(help: "get-nodes round trips (and bare ping-pongs) per block.")
    var rounds: Int = 100

    @Option(help: "Blocks of round trips; each runs both variants, alternating which goes first.")
    var blocks: Int = 3

    @Option(help: "Deploy rounds of each variant (alternating).")
    var deployRounds: Int = 5

    func run() async throws {
        let logger = bootstrapBenchmark()
        try await broker.withBroker { servers in try await measure(servers: servers, logger: logger) }
    }

    private func measure(servers: String, logger: Logger) async throws {
        let binaries = executableDirectory
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("controller-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let instances = (1...agents).map { "bench-\($0)" }
        var processes: [Process] = []
        func launch(_ name: String, _ arguments: [String]) throws {
            let process = Process()
            process.executableURL = binaries.appendingPathComponent(name)
            process.arguments = arguments + ["--brokers", servers, "--log-level", "warning"]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            processes.append(process)
        }
        defer {
            processes.forEach { $0.terminate() }
            processes.forEach { $0.waitUntilExit() }
        }
        try launch("controller-service", ["--request-timeout", "60"])
        for instance in instances {
            try launch("supervisor-service", ["--instance", instance, "--base-dir", base.appendingPathComponent(instance).path])
            try launch("agent-service", ["--instance", instance, "--request-timeout", "60"])
        }
        let kafka = KafkaConfiguration(bootstrapServers: servers.split(separator: ",").map(String.init), clientID: "benchmark")
        let client = try await ManagementClient.connect(name: "bench-client", kafka: kafka, namespace: TopicNamespace(), topics: [.controllerAPI], logger: logger)
        func ask<Response: ManagementEvent>(_ request: some ManagementRequest, _ type: Response.Type) async throws -> Response {
            try await client.request(request, on: .controllerAPI, target: "controller", expecting: type, timeout: .seconds(120))
        }
        let deadline = ContinuousClock.now + .seconds(90)
        while true {
            let response = try? await client.request(ControllerAPI.GetInstancesRequest(reqid: UUID().uuidString), on: .controllerAPI, target: "controller",
                                                     expecting: ControllerAPI.GetInstancesResponse.self, timeout: .seconds(2))
            if let listed = try? response?.result.data?.decode(as: [Management.Instance].self), listed.count == agents { break }
            guard ContinuousClock.now < deadline else { throw BenchmarkError("the controller did not see \(agents) agents within 90 s") }
            try await Task.sleep(for: .milliseconds(200))
        }
        print("controller + \(agents) agents; broker \(servers)")

        // get-nodes against the bare ping-pong.
        var bare: [Duration] = []
        var getNodes: [Duration] = []
        for block in 1...blocks {
            for variant in block.isMultiple(of: 2) ? ["get-nodes", "bare"] : ["bare", "get-nodes"] {
                if variant == "bare" {
                    let floor = BareFloor(configuration: kafka, topic: "bench-bare-\(UUID().uuidString)")
                    bare += try await Task.detached { try floor.measure(rounds: rounds, warmup: 20) }.value
                    continue
                }
                for round in 0..<(rounds + 20) {
                    let start = ContinuousClock.now
                    let response = try await ask(ControllerAPI.GetNodesRequest(reqid: UUID().uuidString), ControllerAPI.GetNodesResponse.self)
                    if round >= 20 { getNodes.append(ContinuousClock.now - start) }
                    guard response.results.count == agents, response.results.allSatisfy(\.success) else {
                        throw BenchmarkError("get-nodes failed: \(response.results)")
                    }
                }
            }
            print("block \(block)/\(blocks): bare ping-pong p50 \(format(percentile(bare, 0.5))), get-nodes p50 \(format(percentile(getNodes, 0.5)))")
        }

        // Deploy across the agents against spawning the same number of nodes directly.
        let total = agents * nodesPerAgent
        let observer = try await HelloObserver(servers: servers, instance: "bench-direct", logger: logger)
        var direct: [Duration] = []
        var deployed: [Duration] = []
        for round in 1...deployRounds {
            for variant in round.isMultiple(of: 2) ? ["controller", "direct"] : ["direct", "controller"] {
                if variant == "direct" {
                    direct.append(try await startDirectly((1...total).map { "r\(round)-direct-\($0)" }, binaries: binaries, servers: servers, instance: "bench-direct", observer: observer))
                    continue
                }
                // Start from no nodes, as the direct spawn does.
                let empty = Management.Configuration(instances: Set(instances.map { Management.Instance(name: $0) }))
                _ = try await ask(ControllerAPI.StageConfigurationRequest(reqid: UUID().uuidString, config: empty), ControllerAPI.StageConfigurationResponse.self)
                _ = try await ask(ControllerAPI.DeployRequest(reqid: UUID().uuidString), ControllerAPI.DeployResponse.self)
                let config = Management.Configuration(
                    instances: Set(instances.map { Management.Instance(name: $0) }),
                    nodes: Set(instances.flatMap { instance in
                        (1...nodesPerAgent).map { Management.Node(name: "r\(round)-\(instance)-\($0)", instance: instance, role: .worker) }
                    })
                )
                let staged = try await ask(ControllerAPI.StageConfigurationRequest(reqid: UUID().uuidString, config: config), ControllerAPI.StageConfigurationResponse.self)
                guard staged.results.allSatisfy(\.success) else { throw BenchmarkError("staging failed: \(staged.results)") }
                let start = ContinuousClock.now
                let response = try await ask(ControllerAPI.DeployRequest(reqid: UUID().uuidString), ControllerAPI.DeployResponse.self)
                deployed.append(ContinuousClock.now - start)
                let failed = response.results.filter { !$0.success }
                guard failed.isEmpty, response.results.filter({ $0.node != nil }).count == total else { throw BenchmarkError("deploy failed: \(failed)") }
            }
            print("deploy round \(round)/\(deployRounds): direct \(format(direct.last!)), through the controller \(format(deployed.last!))")
        }
        await observer.shutdown()
        await client.close()

        print("")
        print("get-nodes round trip (client -> controller -> \(agents) agents -> back), p50 of \(getNodes.count)")
        print("  bare librdkafka ping-pong  \(pad(format(percentile(bare, 0.5))))")
        print("  get-nodes                  \(pad(format(percentile(getNodes, 0.5))))")
        print(String(format: "  ratio %.2fx (get-nodes / ping-pong)", seconds(percentile(getNodes, 0.5)) / seconds(percentile(bare, 0.5))))
        print("deploy \(agents) agents x \(nodesPerAgent) nodes until all RUNNING (median of \(deployRounds))")
        print("  spawned directly           \(pad(format(percentile(direct, 0.5))))")
        print("  deploy through controller  \(pad(format(percentile(deployed, 0.5))))")
        print(String(format: "  ratio %.2fx (controller / direct)", seconds(percentile(deployed, 0.5)) / seconds(percentile(direct, 0.5))))
    }
}
