@testable import ManagementController
import ManagementTypes
import Testing

/// When the controller announces the cluster running in full (`notify_cluster_running`):
/// once per return to a full cluster, from a deploy, the agents' changes, or a takeover.
@Suite("Cluster run state")
struct ClusterRunStateTests {
    static let config = Management.Configuration(id: "config-1", instances: [Management.Instance(name: "agent-a")], nodes: [
        Management.Node(name: "manager", instance: "agent-a", role: .manager),
        Management.Node(name: "worker-1", instance: "agent-a", role: .worker, interface: "eth0"),
    ])

    @Test func aFullClusterIsAnnouncedOnceAndAgainAfterEveryReturnToIt() {
        var state = ClusterRunState()
        #expect(state.deployed(Self.config, running: ["manager"]) == nil, "worker-1 is pending")
        let full = state.node("worker-1", changedTo: .running, in: Self.config)
        #expect(full?.configID == "config-1" && full?.nodes == 2)
        #expect(state.node("manager", changedTo: .running, in: Self.config) == nil, "announced once")

        #expect(state.node("worker-1", changedTo: .stopped, in: Self.config) == nil)
        #expect(state.node("worker-1", changedTo: .running, in: Self.config)?.configID == "config-1", "back to full: announced again")
        #expect(state.node("proxy", changedTo: .running, in: Self.config) == nil)
        #expect(state.states["proxy"] == nil, "a node the configuration does not name is not kept")
    }

    @Test func aDeployWhoseNodesAllRunIsAnnouncedAtOnceEvenIfTheLastOneWas() {
        var state = ClusterRunState()
        #expect(state.deployed(Self.config, running: ["manager", "worker-1"])?.configID == "config-1")
        var next = Self.config
        next.id = "config-2"
        #expect(state.deployed(next, running: ["manager", "worker-1"])?.configID == "config-2")
        #expect(state.deployed(Management.Configuration(id: "empty"), running: []) == nil, "nothing to run is no cluster running")
    }

    @Test func afterATakeoverItIsLearntFromTheAgentsWithoutLosingNewerChanges() {
        var state = ClusterRunState()
        state.restored(deployed: Self.config)
        #expect(state.learning)
        state.startLearning(Self.config)
        #expect(state.states == ["manager": .pending, "worker-1": .pending])
        // A notify_change arrives before the agents' answer, which was taken earlier.
        #expect(state.node("worker-1", changedTo: .running, in: Self.config) == nil)
        let answered = [Management.NodeStatus(node: "manager", state: .running), Management.NodeStatus(node: "worker-1", state: .stopped)]
        #expect(state.learned(answered, of: Self.config)?.configID == "config-1", "worker-1 keeps its newer state")
        let wasLearning = state.finishLearning()
        #expect(wasLearning)
        #expect(!state.learning)
        let stillLearning = state.finishLearning()
        #expect(!stillLearning, "finished once")

        var empty = ClusterRunState()
        empty.restored(deployed: Management.Configuration(id: "empty"))
        #expect(!empty.learning, "no nodes: nothing to learn")
    }
}
