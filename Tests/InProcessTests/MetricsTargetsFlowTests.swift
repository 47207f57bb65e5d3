#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementController
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import Testing

/// What the controller publishes for Prometheus service discovery as the cluster changes:
/// the RUNNING nodes' metrics endpoints from the active controller, nothing from a standby.
@Suite("Metrics targets, in-process")
struct MetricsTargetsFlowTests {
    /// Waits (in real time: the controller publishes as it handles messages) until `board`
    /// shows what `condition` wants; the last published value either way.
    @discardableResult
    private func waitFor(_ board: MetricsTargetsBoard, _ condition: (MetricsTargetsBoard.Published) -> Bool) async -> MetricsTargetsBoard.Published {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition(board.current) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return board.current
    }

    /// The node names of a published document; nil when it is unavailable.
    private func nodes(_ published: MetricsTargetsBoard.Published) -> [String]? {
        guard case .targets(_, let document) = published,
              case .array(let groups)? = try? ZeekJSON.decode(JSONValue.self, from: Data(document)) else { return nil }
        return groups.compactMap { group in
            guard case .object(let fields) = group, case .object(let labels)? = fields["labels"], case .string(let node)? = labels["node"] else { return nil }
            return node
        }
    }

    @Test func theActiveControllerListsTheRunningNodesAndAStandbyNone() async throws {
        let cluster = InProcessCluster()
        defer { Task { await cluster.shutdown() } }
        let active = MetricsTargetsBoard(), standby = MetricsTargetsBoard()
        // Published at every change here (the throttle is the next test's).
        cluster.startController { $0.metricsTargets = active; $0.metricsTargetsInterval = .zero }
        cluster.startAgent("agent-a")
        let b = cluster.startAgent("agent-b")
        #expect(await cluster.waitForCheckIns(["agent-a", "agent-b"]))
        cluster.startController("controller-2") { $0.metricsTargets = standby; $0.metricsTargetsInterval = .zero }

        #expect(nodes(await waitFor(active) { nodes($0) == [] }) == [], "nothing deployed: an empty list")
        _ = try await cluster.deploy(exampleConfiguration())
        let deployed = await waitFor(active) { nodes($0)?.count == 5 }
        #expect(nodes(deployed) == ["logger", "manager", "proxy", "worker-1", "worker-2"])
        guard case .targets(let count, let document) = deployed else { Issue.record("\(deployed)"); return }
        #expect(count == 5)
        // Metrics ports assigned per host address from 9000 (the simulated agents all report
        // 10.0.0.1), at the address the agents reported.
        #expect(String(decoding: document, as: UTF8.self) == #"[{"labels":{"host":"agent-a","node":"logger","role":"logger"},"targets":["10.0.0.1:9001"]},"#
            + #"{"labels":{"host":"agent-a","node":"manager","role":"manager"},"targets":["10.0.0.1:9000"]},"#
            + #"{"labels":{"host":"agent-a","node":"proxy","role":"proxy"},"targets":["10.0.0.1:9002"]},"#
            + #"{"labels":{"host":"agent-b","node":"worker-1","role":"worker"},"targets":["10.0.0.1:9003"]},"#
            + #"{"labels":{"host":"agent-b","node":"worker-2","role":"worker"},"targets":["10.0.0.1:9004"]}]"#)
        guard case .unavailable(let reason) = standby.current else { Issue.record("a standby published \(standby.current)"); return }
        #expect(reason.contains("stands by"))

        // A crashed node leaves the list; it comes back once its agent reports it running.
        b.crash("worker-1", on: cluster.client.endpoint)
        #expect(nodes(await waitFor(active) { nodes($0)?.contains("worker-1") == false }) == ["logger", "manager", "proxy", "worker-2"])

        // A new deploy without worker-2 drops it.
        var smaller = exampleConfiguration(id: "config-2")
        smaller.nodes = smaller.nodes.filter { $0.name != "worker-2" }
        _ = try await cluster.deploy(smaller)
        #expect(nodes(await waitFor(active) { nodes($0) == ["logger", "manager", "proxy", "worker-1"] }) == ["logger", "manager", "proxy", "worker-1"])

        // The standby takes over: it lists the nodes once the agents told it how they are.
        await cluster.stop("controller")
        cluster.clock.advance(by: .seconds(5))
        var taken = await waitFor(standby) { nodes($0)?.count == 4 }
        for _ in 0..<20 where nodes(taken)?.count != 4 {
            cluster.clock.advance(by: .seconds(1))
            taken = await waitFor(standby) { nodes($0)?.count == 4 }
        }
        #expect(nodes(taken) == ["logger", "manager", "proxy", "worker-1"])
    }

    @Test func changesArePublishedAtMostOncePerInterval() async throws {
        let cluster = InProcessCluster()
        defer { Task { await cluster.shutdown() } }
        let board = MetricsTargetsBoard()
        cluster.startController { $0.metricsTargets = board; $0.metricsTargetsInterval = .seconds(1) }
        cluster.startAgent("agent-a")
        let b = cluster.startAgent("agent-b")
        #expect(await cluster.waitForCheckIns(["agent-a", "agent-b"]))
        _ = try await cluster.deploy(exampleConfiguration())
        // The test clock stands still: what changed within the interval waits for its end.
        cluster.clock.advance(by: .seconds(1))
        #expect(nodes(await waitFor(board) { nodes($0)?.count == 5 })?.count == 5)

        b.crash("worker-1", on: cluster.client.endpoint)
        #expect(await cluster.client.first(AgentAPI.NotifyChange.self) { $0.event.n.name == "worker-1" && $0.event.new == .crashed } != nil)
        try await Task.sleep(for: .milliseconds(200))
        #expect(nodes(board.current)?.contains("worker-1") == true, "not published again within the interval")
        cluster.clock.advance(by: .seconds(1))
        #expect(nodes(await waitFor(board) { nodes($0)?.contains("worker-1") == false }) == ["logger", "manager", "proxy", "worker-2"])
    }
}
