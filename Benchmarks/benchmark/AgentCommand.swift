import ArgumentParser
import Foundation
import KafkaTransport
import LocalServers
import Logging
import ManagementKafka
import ManagementMessaging
import ManagementTypes

/// Measures a deploy through agent-service (and its supervisor) until every node runs, against
/// spawning the same number of `cluster-node` processes directly; reports the agent's memory.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Deploy-to-all-RUNNING through agent-service vs. direct spawning; the agent's resident memory."
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "Nodes deployed per round.")
    var nodes: Int = 32

    @Option(help: "Rounds of each variant (alternating).")
    var rounds: Int = 7

    func run() async throws {
        let logger = bootstrapBenchmark()
        try await broker.withBroker { servers in try await measure(servers: servers, logger: logger) }
    }

    private func measure(servers: String, logger: Logger) async throws {
        let binaries = executableDirectory
        let instance = "bench-host"
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("agent-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        let observer = try await HelloObserver(servers: servers, instance: instance, logger: logger)
        let controller = try await ManagementEndpoint.connect(EndpointConfiguration(
            name: "controller",
            kafka: KafkaConfiguration(bootstrapServers: servers.split(separator: ",").map(String.init), clientID: "benchmark", overrides: LocalBroker.clientOptions),
            namespace: TopicNamespace(), consumes: [Topic.agentAPI.whole], creates: [.agentAPI.notify],
            membership: .fromEnd, addressing: .targets(["controller"], orUntargeted: false),
            security: try BenchmarkSigning.security(.observer, keyPath: LocalKeys.shared.controller)
        ), logger: logger)
        let requester = Requester(bus: controller)
        let reader = Task {
            for await message in controller.inbound { requester.deliver(message) }
        }

        var processes: [Process] = []
        for (name, arguments) in [
            ("supervisor-service", ["--instance", instance, "--base-dir", base.path]),
            ("agent-service", ["--instance", instance, "--request-timeout", "60"]),
        ] {
            processes.append(try launchService(name, arguments, servers: servers))
        }
        defer { processes.forEach { $0.terminate(); $0.waitForExit() } }

        func request<Request: ManagementRequest>(_ request: Request, expecting: Request.Response.Type, timeout: Duration) async throws -> Request.Response {
            try await requester.request(request, on: .agentAPI, target: instance, until: .now + timeout)
        }
        // The agent answers once it (and its group membership) is up.
        let deadline = ContinuousClock.now + .seconds(60)
        while (try? await request(AgentAPI.GetNodesRequest(reqid: UUID().uuidString), expecting: AgentAPI.GetNodesResponse.self, timeout: .seconds(2))) == nil {
            guard ContinuousClock.now < deadline else { throw BenchmarkError("agent-service did not answer within 60 s") }
        }
        print("\(nodes) nodes per deploy, \(rounds) rounds per variant; broker \(servers)")

        var direct: [Duration] = []
        var deployed: [Duration] = []
        for round in 1...rounds {
            for variant in round.isMultiple(of: 2) ? ["agent", "direct"] : ["direct", "agent"] {
                let names = (1...nodes).map { "r\(round)-\(variant)-\($0)" }
                if variant == "direct" {
                    direct.append(try await startDirectly(names, binaries: binaries, servers: servers, instance: instance, observer: observer))
                    continue
                }
                // Start from no nodes, as the direct spawn does: stopping the previous round's
                // nodes is not part of starting these.
                _ = try await request(AgentAPI.AgentStandbyRequest(reqid: UUID().uuidString), expecting: AgentAPI.AgentStandbyResponse.self, timeout: .seconds(120))
                let config = Management.Configuration(
                    id: UUID().uuidString, instances: [Management.Instance(name: instance, host: .loopback)],
                    nodes: Set(names.map { Management.Node(name: $0, instance: instance, role: .worker) })
                )
                let start = ContinuousClock.now
                let response = try await request(AgentAPI.DeployRequest(reqid: UUID().uuidString, config: config, configSignature: try operatorSignature(config)), expecting: AgentAPI.DeployResponse.self, timeout: .seconds(120))
                deployed.append(ContinuousClock.now - start)
                let failed = response.results.filter { !$0.success }
                guard failed.isEmpty else { throw BenchmarkError("deploy failed: \(failed)") }
            }
            print("round \(round)/\(rounds): direct \(format(direct.last!)), deploy through the agent \(format(deployed.last!))")
        }
        let rss = memory(of: processes[1].processIdentifier, file: "status", field: "VmRSS:")
        let pss = memory(of: processes[1].processIdentifier, file: "smaps_rollup", field: "Pss:")

        reader.cancel()
        await controller.shutdown()
        await observer.shutdown()
        print("")
        print("deploy \(nodes) nodes until all RUNNING (median of \(rounds))")
        print("  spawned directly          \(pad(format(percentile(direct, 0.5))))")
        print("  deploy through agent      \(pad(format(percentile(deployed, 0.5))))")
        print(String(format: "  ratio %.2fx (agent / direct)", seconds(percentile(deployed, 0.5)) / seconds(percentile(direct, 0.5))))
        print(String(format: "agent-service resident memory with %d nodes: %.1f MiB", nodes, Double(rss) / 1_048_576))
        print(String(format: "  proportional set size (shared library pages split among the processes mapping them): %.1f MiB", Double(pss) / 1_048_576))
    }
}
