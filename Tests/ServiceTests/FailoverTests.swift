#if canImport(Glibc)
import Glibc
#endif
import Foundation
import LocalServers
import ManagementMessaging
import ManagementTypes
import Synchronization
import Testing

/// Controller failover as a client sees it: standbys come and go without a blip, and a killed
/// active controller is replaced within the group's session timeout with no request lost.
@Suite("Controller failover", .serialized)
struct FailoverTests {
    /// Standbys start, join the controller group and are stopped again, 20 times, while a client
    /// sends get-nodes every 100 ms: the first controller stays active throughout, and every
    /// request is answered with every agent's Result successful.
    @Test func standbysComingAndGoingNeverUnseatTheActiveController() async throws {
        try await Cluster.run(controllers: 1) { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            try await cluster.waitUntilConverged()
            let active = cluster.controllers[0]
            let load = try await GetNodesLoad(cluster: cluster)
            try await load.run {
                for round in 1...20 {
                    let standby = try await cluster.startController(waitUntilActive: false)
                    try await standby.waitForOutput("joined the controller group", timeout: .seconds(30))
                    // Mostly a clean stop (it leaves the group); every fifth round kill -9, which
                    // the group notices only at the end of the standby's session.
                    _ = try await standby.stop(signal: round % 5 == 0 ? SIGKILL : SIGTERM)
                    #expect(!standby.text.contains("this controller is active"), "standby \(round) took over:\n\(standby.text)")
                }
            }
            let report = load.report()
            print("standbys joined 20 times: \(report.summary)")
            #expect(report.sent >= 100, "the client kept sending: \(report.summary)")
            #expect(report.problems.isEmpty, "\(report.problems.prefix(10))")
            #expect(active.text.components(separatedBy: "this controller is active").count == 2, "active once, from the start:\n\(active.text)")
            #expect(!active.text.contains("standing by"), "the first controller never stood by:\n\(active.text)")
        }
    }

    /// kill -9 of the active controller while a client sends get-nodes every 100 ms: the standby
    /// answers within the group session timeout plus one heartbeat (6 s + 1 s), plus what the
    /// broker holds a group's rejoin (``LocalBroker/groupJoinHold(sessionTimeout:)``: 3 s on the
    /// embedded broker, none on Apache Kafka), plus a second to rejoin, restore the
    /// configurations and answer. Every request is answered exactly once: successfully or,
    /// if its deadline came before the takeover or less than a second after it, as expired or
    /// with agents that could not answer in the time it had left.
    @Test func aKilledActiveControllerIsReplacedWithinTheSessionTimeout() async throws {
        try await Cluster.run(controllers: 1) { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            try await cluster.waitUntilConverged()
            let standby = try await cluster.startController(waitUntilActive: false)
            try await standby.waitForOutput("joined the controller group", timeout: .seconds(30))
            let load = try await GetNodesLoad(cluster: cluster)
            var killed = ContinuousClock.now
            try await load.run {
                try await Task.sleep(for: .seconds(1))
                killed = ContinuousClock.now
                _ = try await cluster.controllers[0].stop(signal: SIGKILL)
                try await standby.waitForOutput("this controller is active", timeout: .seconds(40))
                // Some more requests to the new active controller.
                try await Task.sleep(for: .seconds(2))
            }
            let report = load.report()
            let takeover = try #require(report.firstAnswerSent(after: killed), "no request sent after the kill was answered: \(report.summary)")
            let session = Duration.seconds(6), heartbeat = Duration.seconds(1)
            let bound = session + heartbeat + LocalBroker.groupJoinHold(sessionTimeout: session) + .seconds(1)
            print("standby answered \(takeover) after kill -9 of the active controller (bound \(bound)): \(report.summary)")
            #expect(takeover <= bound)
            let tookOver = killed + takeover
            let unexplained = report.outcomes.filter { outcome in
                guard let problem = outcome.problem else { return false }
                // Its deadline (10 s after it was sent) came before the standby took over, or
                // too soon after it for the agents to answer: expired, or timed out for them.
                let deadline = outcome.sent + .seconds(10)
                let late = problem.contains("expired: the request was sent") || problem.contains("request timed out")
                return !(late && outcome.answered != nil && deadline < tookOver + .seconds(1))
            }
            #expect(unexplained.isEmpty, "\(unexplained.prefix(10).map { "\($0.sent - killed) after the kill: \($0.problem ?? "")" })")
            #expect(load.client.duplicateAnswers().isEmpty, "\(load.client.duplicateAnswers())")
        }
    }
}

/// A client sending get-nodes every 100 ms, each without waiting for the one before, and
/// keeping what became of every request.
private final class GetNodesLoad: Sendable {
    /// What became of one request.
    struct Outcome {
        let sent: ContinuousClock.Instant
        /// When its response arrived; nil if none did.
        let answered: ContinuousClock.Instant?
        /// Why it did not succeed with every agent's Result; nil if it did.
        let problem: String?
    }

    let client: TestAgent
    /// How many agents answer every get-nodes: those of `Cluster.run`'s default hosts.
    private let agents = 2
    private let outcomes = Mutex<[Outcome]>([])

    init(cluster: Cluster) async throws {
        client = try await TestAgent(broker: cluster.broker, instance: "controller", name: "failover-client", consumes: [.controllerAPI])
    }

    /// Sends requests every 100 ms while `body` runs, then waits for the last answers (25 s at
    /// most: longer than a client waits) and stops the client.
    func run(_ body: () async throws -> Void) async throws {
        defer { Task { [client] in await client.shutdown() } }
        try await withThrowingDiscardingTaskGroup { group in
            let stop = Mutex(false)
            group.addTask { [self] in
                try await withThrowingDiscardingTaskGroup { requests in
                    while !stop.withLock({ $0 }) {
                        requests.addTask { await self.send() }
                        try await Task.sleep(for: .milliseconds(100))
                    }
                }
            }
            do {
                try await body()
            } catch {
                stop.withLock { $0 = true }
                throw error
            }
            stop.withLock { $0 = true }
        }
    }

    private func send() async {
        let sent = ContinuousClock.now
        let problem: String?
        var answered: ContinuousClock.Instant? = nil
        do {
            let response = try await client.request(ControllerAPI.GetNodesRequest(reqid: reqid()), on: .controllerAPI, target: "controller",
                                                    expecting: ControllerAPI.GetNodesResponse.self, timeout: .seconds(25))
            answered = ContinuousClock.now
            let failed = response.results.filter { !$0.success }
            problem = failed.isEmpty && response.results.count == agents ? nil : "\(response.results.map(\.description))"
        } catch {
            problem = "unanswered: \(error)"
        }
        outcomes.withLock { $0.append(Outcome(sent: sent, answered: answered, problem: problem)) }
    }

    struct Report {
        let outcomes: [Outcome]

        var sent: Int { outcomes.count }
        var problems: [String] { outcomes.compactMap(\.problem) }

        var summary: String {
            let slowest = outcomes.compactMap { outcome in outcome.answered.map { $0 - outcome.sent } }.max()
            return "\(sent) sent, \(sent - problems.count) answered in full, \(problems.count) not; slowest answer \(slowest.map { "\($0)" } ?? "none")"
        }

        /// How long after `instant` the first request sent after it was answered.
        func firstAnswerSent(after instant: ContinuousClock.Instant) -> Duration? {
            outcomes.filter { $0.sent > instant }.compactMap(\.answered).min().map { $0 - instant }
        }
    }

    func report() -> Report {
        Report(outcomes: outcomes.withLock { $0 })
    }
}
