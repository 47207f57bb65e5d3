import ManagementMessaging
import ManagementTypes

/// How the nodes of the deployed configuration run, as the controller learns it, and whether
/// it told the world that the cluster runs in full: a pure state machine whose events return
/// the `notify_cluster_running` to publish, if one is due.
///
/// The controller learns the nodes' states from a deploy's results, then from the agents'
/// `notify_change`s; after taking over (or restarting), from the agents' get-nodes answers.
/// `notify_cluster_running` is published once the cluster runs in full, and again after every
/// return to it, also across a failover.
struct ClusterRunState: Sendable {
    /// The last known state of each node of the deployed configuration, by name.
    private(set) var states: [String: Management.State] = [:]
    /// Whether the controller, having taken over, is still asking the agents how the deployed
    /// nodes are: until they answer, it does not know which run.
    private(set) var learning = false
    /// Whether `notify_cluster_running` was published since the cluster last ran in full.
    private var announced = false

    /// The configurations were restored on becoming active: how `deployed` runs is to be learnt.
    mutating func restored(deployed: Management.Configuration?) {
        learning = deployed.map { !$0.nodes.isEmpty } ?? false
    }

    /// `config` was deployed; the nodes in `running` run, the others are pending. The deploy's
    /// results say how every node is: nothing is left to learn from the agents.
    mutating func deployed(_ config: Management.Configuration, running: Set<String>) -> ControllerAPI.NotifyClusterRunning? {
        states = Dictionary(config.nodes.map { ($0.name, running.contains($0.name) ? .running : .pending) }, uniquingKeysWith: { first, _ in first })
        learning = false
        announced = false
        return announcement(for: config)
    }

    /// The controller asks the agents how the nodes of `deployed` are: each is pending until
    /// an agent says otherwise.
    mutating func startLearning(_ deployed: Management.Configuration) {
        states = Dictionary(deployed.nodes.map { ($0.name, .pending) }, uniquingKeysWith: { first, _ in first })
        announced = false
    }

    /// The agents answered how the nodes of `deployed` are; a node that changed meanwhile
    /// (a `notify_change`) keeps its newer state.
    mutating func learned(_ statuses: some Sequence<Management.NodeStatus>, of deployed: Management.Configuration) -> ControllerAPI.NotifyClusterRunning? {
        for status in statuses where states[status.node] == .pending { states[status.node] = status.state }
        return announcement(for: deployed)
    }

    /// Done asking the agents (answered or not); true if it was asking.
    mutating func finishLearning() -> Bool {
        defer { learning = false }
        return learning
    }

    /// A node's state changed on its agent; nodes `deployed` does not name are ignored.
    mutating func node(_ node: String, changedTo state: Management.State, in deployed: Management.Configuration?) -> ControllerAPI.NotifyClusterRunning? {
        guard states[node] != nil else { return nil }
        states[node] = state
        return announcement(for: deployed)
    }

    /// `notify_cluster_running` if every node of `deployed` runs and that was not announced
    /// yet; a node not running makes the next return to a full cluster announced again.
    private mutating func announcement(for deployed: Management.Configuration?) -> ControllerAPI.NotifyClusterRunning? {
        guard let deployed, !deployed.nodes.isEmpty else { return nil }
        guard deployed.nodes.allSatisfy({ states[$0.name] == .running }) else {
            announced = false
            return nil
        }
        guard !announced else { return nil }
        announced = true
        return ControllerAPI.NotifyClusterRunning(configID: deployed.id, nodes: deployed.nodes.count)
    }
}
