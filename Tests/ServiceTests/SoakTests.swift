#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ManagementMessaging
import ManagementTypes
import Synchronization
import Testing

/// A long run against the real services: nothing is lost over many requests.
@Suite("Soak")
struct SoakTests {
    static let fourHosts = """
        [instances]
        agent-a
        agent-b
        agent-c
        agent-d

        [manager]
        instance = agent-a
        role = manager

        [worker-b]
        instance = agent-b
        role = worker

        [worker-c]
        instance = agent-c
        role = worker

        [worker-d]
        instance = agent-d
        role = worker
        """

    /// 10,000 get-nodes one after the other through the controller and 4 agents (override
    /// with ZEEK_MGMT_SOAK_ROUNDS): every one answered, every agent's Result successful.
    @Test func everyGetNodesOfALongRunIsAnsweredByEveryAgent() async throws {
        let rounds = ProcessInfo.processInfo.environment["ZEEK_MGMT_SOAK_ROUNDS"].flatMap(Int.init) ?? 10_000
        try await Cluster.run(instances: ["agent-a", "agent-b", "agent-c", "agent-d"]) { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Self.fourHosts)).status == 0)
            try await cluster.waitUntilConverged()
            let client = try await TestAgent(broker: cluster.broker, instance: "controller", name: "soak-client", consumes: [.controllerAPI])
            defer { Task { await client.shutdown() } }
            var failures: [String] = []
            var latencies: [Duration] = []
            latencies.reserveCapacity(rounds)
            let started = ContinuousClock.now
            for round in 1...rounds {
                let sent = ContinuousClock.now
                do {
                    let response = try await client.request(ControllerAPI.GetNodesRequest(reqid: reqid()), on: .controllerAPI,
                                                            expecting: ControllerAPI.GetNodesResponse.self)
                    latencies.append(ContinuousClock.now - sent)
                    if response.results.count != 4 || !response.results.allSatisfy(\.success) {
                        failures.append("round \(round): \(response.results.filter { !$0.success }.map(\.description))")
                    }
                } catch {
                    failures.append("round \(round): \(error)")
                }
                if round % 1_000 == 0 { print("soak: \(round) of \(rounds) get-nodes in \(ContinuousClock.now - started), \(failures.count) failed") }
            }
            latencies.sort()
            print("soak: \(rounds) get-nodes, p50 \(latencies[latencies.count / 2]), p99 \(latencies[latencies.count * 99 / 100]), max \(latencies.last!)")
            #expect(failures.isEmpty, "\(failures.count) of \(rounds) get-nodes failed: \(failures.prefix(5))")
        }
    }
}
