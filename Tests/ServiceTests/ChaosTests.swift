#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ManagementMessaging
import ManagementTypes
import Synchronization
import Testing

/// Random kill -9s while a client keeps asking: the cluster ends up as deployed.
@Suite("Chaos")
struct ChaosTests {
    /// For a while (60 s; ZEEK_MGMT_CHAOS_SECONDS, or `scripts/chaos` for longer runs), kill -9
    /// a random service every few seconds and start it again, while a client keeps asking.
    /// Afterwards the cluster runs the deployed configuration within 30 s, that configuration
    /// is unchanged, no request was answered twice, and no node runs that is not reported.
    @Test func killingRandomServicesLeavesTheClusterAsDeployed() async throws {
        let seconds = ProcessInfo.processInfo.environment["ZEEK_MGMT_CHAOS_SECONDS"].flatMap(Int.init) ?? 60
        try await Cluster.run(controllers: 2) { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            try await cluster.waitUntilConverged()
            let deployed = try await cluster.cli("get-config", "--deployed", "--as-json").stdout
            let observer = try await TestAgent(broker: cluster.broker, instance: "controller", name: "observer",
                                               consumes: [.controllerAPI, .agentAPI, .supervisorAPI])
            let client = try await TestAgent(broker: cluster.broker, instance: "controller", name: "chaos-client", consumes: [.controllerAPI])
            defer { Task { await observer.shutdown(); await client.shutdown() } }

            let end = ContinuousClock.now + .seconds(seconds)
            let asking = Task {
                var answered = 0, unanswered = 0
                while ContinuousClock.now < end {
                    do {
                        _ = try await client.request(ControllerAPI.GetNodesRequest(reqid: reqid()), on: .controllerAPI,
                                                     expecting: ControllerAPI.GetNodesResponse.self, timeout: .seconds(20))
                        answered += 1
                    } catch {
                        unanswered += 1
                    }
                }
                return (answered, unanswered)
            }
            let victims = ["controller", "agent-a", "agent-b", "supervisor-a", "supervisor-b"]
            var kills = 0
            try await withThrowingTaskGroup(of: Void.self) { restarts in
                var starting: Set<String> = []
                let started = StartedServices()
                while ContinuousClock.now < end {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 2_000...4_000)))
                    starting.subtract(started.take())
                    guard let victim = victims.filter({ !starting.contains($0) }).randomElement() else { continue }
                    starting.insert(victim)
                    kills += 1
                    print("chaos: kill -9 \(victim) at \(seconds - Int((end - ContinuousClock.now).components.seconds)) s")
                    try await Self.kill(victim, in: cluster)
                    restarts.addTask {
                        try await Self.start(victim, in: cluster)
                        started.add(victim)
                    }
                }
                try await restarts.waitForAll()
            }
            let (answered, unanswered) = await asking.value
            let converged = try await cluster.waitUntilConverged()
            print("chaos: \(kills) kills in \(seconds) s; \(answered) get-nodes answered, \(unanswered) not; converged \(converged) after the last service started again")
            #expect(try await cluster.cli("get-config", "--deployed", "--as-json").stdout == deployed, "the deployed configuration is unchanged")
            #expect(observer.duplicateAnswers().isEmpty, "answered twice: \(observer.duplicateAnswers())")
        }
    }

    private static func kill(_ victim: String, in cluster: Cluster) async throws {
        switch victim {
        case "controller":
            // The active one when there is one alive: the one that started first.
            for controller in cluster.controllers where isAlive(Int(controller.pid)) {
                _ = try await controller.stop(signal: SIGKILL)
                return
            }
        case let agent where agent.hasPrefix("agent-"):
            _ = try await cluster.agent(agent)?.stop(signal: SIGKILL)
        default:
            _ = try await cluster.supervisor("agent-" + victim.dropFirst("supervisor-".count))?.stop(signal: SIGKILL)
        }
    }

    private static func start(_ victim: String, in cluster: Cluster) async throws {
        switch victim {
        case "controller": try await cluster.startController(waitUntilActive: false)
        case let agent where agent.hasPrefix("agent-"): try await cluster.startAgent(agent)
        default: try await cluster.startSupervisor("agent-" + victim.dropFirst("supervisor-".count))
        }
    }
}

/// Services started again since the chaos loop last looked (restarts run concurrently).
private final class StartedServices: Sendable {
    private let names = Mutex<Set<String>>([])
    func add(_ name: String) { names.withLock { _ = $0.insert(name) } }
    func take() -> Set<String> { names.withLock { names in defer { names = [] }; return names } }
}
