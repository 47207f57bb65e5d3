#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ManagementMessaging
import ManagementTypes
import Testing

/// Processes die; the cluster comes back by itself, without a client's request.
@Suite("Self-healing", .serialized)
struct SelfHealingTests {
    /// The pid and state get-nodes reports for each node of `instance`.
    private func nodes(of instance: String, in cluster: Cluster) async throws -> [String: (pid: Int, state: String)] {
        guard case .object(let nodes)? = try await cluster.cli("get-nodes")["results", instance] else { return [:] }
        var found: [String: (pid: Int, state: String)] = [:]
        for (name, node) in nodes {
            guard case .object(let fields) = node, case .int(let pid)? = fields["pid"], case .string(let state)? = fields["state"],
                  fields["mgmt_role"] == nil || fields["mgmt_role"] == .null else { continue }
            found[name] = (Int(pid), state)
        }
        return found
    }

    /// Waits until every node of `instance` is RUNNING with a live process that `accept` likes.
    private func waitForRunning(_ instance: String, in cluster: Cluster, expected: Set<String>, timeout: Duration = .seconds(30),
                                accept: (String, Int) -> Bool = { _, _ in true }) async throws -> [String: Int] {
        let deadline = ContinuousClock.now + timeout
        var last: [String: (pid: Int, state: String)] = [:]
        while ContinuousClock.now < deadline {
            last = try await nodes(of: instance, in: cluster)
            if Set(last.keys) == expected, last.allSatisfy({ $0.value.state == "RUNNING" && kill(pid_t($0.value.pid), 0) == 0 && accept($0.key, $0.value.pid) }) {
                return last.mapValues(\.pid)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        Issue.record("\(instance) did not come back within \(timeout): \(last)")
        return last.mapValues(\.pid)
    }

    @Test func aSupervisorKilledAndStartedAgainGetsItsNodesBack() async throws {
        try await Cluster.run { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            let before = try await waitForRunning("agent-b", in: cluster, expected: ["worker-1", "worker-2"])
            _ = try await cluster.supervisor("agent-b")?.stop(signal: SIGKILL)
            // Its nodes die with it (parent-death signal).
            for pid in before.values {
                for _ in 0..<100 where kill(pid_t(pid), 0) == 0 { try await Task.sleep(for: .milliseconds(50)) }
                #expect(kill(pid_t(pid), 0) != 0, "node \(pid) outlived its supervisor")
            }
            let started = ContinuousClock.now
            try await cluster.startSupervisor("agent-b")
            let ready = ContinuousClock.now
            let after = try await waitForRunning("agent-b", in: cluster, expected: ["worker-1", "worker-2"]) { name, pid in before[name] != pid }
            #expect(Set(after.keys) == ["worker-1", "worker-2"])
            print("cluster back \(ContinuousClock.now - started) after the supervisor started again (\(ready - started) of it until the supervisor was ready)")
        }
    }

    @Test func anAgentKilledAndStartedAgainKeepsItsNodes() async throws {
        try await Cluster.run { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            let before = try await waitForRunning("agent-b", in: cluster, expected: ["worker-1", "worker-2"])
            _ = try await cluster.agent("agent-b")?.stop(signal: SIGKILL)
            try await cluster.startAgent("agent-b")
            // Welcomed again, it is sent the deployed configuration and adopts what runs.
            let after = try await waitForRunning("agent-b", in: cluster, expected: ["worker-1", "worker-2"])
            #expect(after == before, "the nodes kept their processes")
            #expect(before.values.allSatisfy { kill(pid_t($0), 0) == 0 })
        }
    }

    @Test func aDeployInFlightWhenTheActiveControllerIsKilledIsAnsweredOnceByTheStandby() async throws {
        try await Cluster.run(requestTimeout: 25) { cluster in
            let active = cluster.controllers[0]
            try await cluster.startController(waitUntilActive: false)
            let observer = try await TestAgent(broker: cluster.broker, instance: "controller", name: "observer", consumes: [.controllerAPI, .agentAPI])
            defer { Task { await observer.shutdown() } }
            #expect(try await cluster.cli("stage-config", try cluster.file(Cluster.example)).status == 0)
            async let deploy = cluster.cli(arguments: ["deploy", "--set", "client.request_timeout_secs=40"], timeout: .seconds(60))
            // Killed while it asks the agents to check the configuration: in the middle of the deploy.
            try await observer.waitFor(AgentAPI.CheckRequest.self)
            let killed = ContinuousClock.now
            _ = try await active.stop(signal: SIGKILL)
            let deployed = try await deploy
            #expect(deployed.status == 0, "\(deployed.stdout)\(deployed.stderr)")
            print("deploy answered \(ContinuousClock.now - killed) after the active controller was killed")
            _ = try await waitForRunning("agent-b", in: cluster, expected: ["worker-1", "worker-2"])
            _ = try await waitForRunning("agent-a", in: cluster, expected: ["manager", "logger"])
            // Responses on one topic arrive in order: get-nodes answered means any second deploy
            // response published before it was seen too.
            #expect(observer.all(ControllerAPI.DeployResponse.self).count == 1, "the deploy was answered exactly once")
        }
    }

    enum Victim: String, CaseIterable, Sendable { case controller, agent, supervisor }
    enum Moment: String, CaseIterable, Sendable { case idle, deploy, restart }

    /// The first configuration plus a worker, so a deploy changes what runs on agent-b.
    static let grown = Cluster.example + """

        [worker-3]
        instance = agent-b
        role = worker
        """

    /// kill -9 of a service while idle, in the middle of a deploy, or in the middle of a
    /// restart request, and started again: the cluster runs the deployed configuration within
    /// 30 s with live processes and nothing it does not report, without a client asking; the
    /// client's request got one answer at most. (The idle agent and supervisor have tests of
    /// their own above.)
    @Test(arguments: [
        (Victim.controller, Moment.idle), (.controller, .deploy), (.controller, .restart),
        (.agent, .deploy), (.agent, .restart), (.supervisor, .deploy), (.supervisor, .restart),
    ])
    func killedAndStartedAgainTheClusterRunsTheDeployedConfiguration(victim: Victim, moment: Moment) async throws {
        try await Cluster.run(requestTimeout: 20) { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            try await cluster.waitUntilConverged()
            let observer = try await TestAgent(broker: cluster.broker, instance: "controller", name: "observer",
                                               consumes: [.controllerAPI, .agentAPI, .supervisorAPI])
            defer { Task { await observer.shutdown() } }

            let client: Task<CLIResult, any Error>?
            let timeout = ["--set", "client.request_timeout_secs=60"]
            switch moment {
            case .idle:
                client = nil
            case .deploy:
                let file = try cluster.file(Self.grown)
                client = Task { try await cluster.cli(arguments: ["deploy-config", file] + timeout, timeout: .seconds(90)) }
            case .restart:
                client = Task { try await cluster.cli(arguments: ["restart"] + timeout, timeout: .seconds(90)) }
            }
            // Where each service is in the middle of the request.
            switch (victim, moment) {
            case (_, .idle): break
            case (.controller, .deploy): try await observer.waitFor(AgentAPI.CheckRequest.self)
            case (.controller, .restart): try await observer.waitFor(AgentAPI.RestartRequest.self)
            case (_, .deploy): try await observer.waitFor(SupervisorControl.CreateRequest.self)
            case (_, .restart): try await observer.waitFor(SupervisorControl.RestartRequest.self)
            }
            let restarted = ContinuousClock.now
            switch victim {
            case .controller:
                _ = try await cluster.controllers.last?.stop(signal: SIGKILL)
                try await cluster.startController()
            case .agent:
                _ = try await cluster.agent("agent-b")?.stop(signal: SIGKILL)
                try await cluster.startAgent("agent-b")
            case .supervisor:
                _ = try await cluster.supervisor("agent-b")?.stop(signal: SIGKILL)
                try await cluster.startSupervisor("agent-b")
            }
            let ready = ContinuousClock.now - restarted
            let converged = try await cluster.waitUntilConverged()
            print("\(victim.rawValue) killed \(moment == .idle ? "while idle" : "during a \(moment.rawValue)") and started again: ready after \(ready), cluster converged \(ready + converged) after the kill")
            if let client {
                let answered = try await client.value
                print("  the client's \(moment.rawValue) exited with \(answered.status): \(answered.stdout.prefix(300))")
            }
            #expect(observer.duplicateAnswers().isEmpty, "answered twice: \(observer.duplicateAnswers())")
        }
    }
}
