import ClusterConfiguration
import ManagementTypes

/// The controller's side of Prometheus service discovery: it knows the deployed nodes, their
/// metrics ports, their hosts' addresses and (from the deploy and the agents' `notify_change`)
/// which run, so it lists the RUNNING nodes' metrics endpoints, as Zeek's manager does for its
/// cluster (``MetricsTargets``).
extension Controller {
    /// Publishes the targets again; called whenever what they are built from may have changed:
    /// a node's state, the deployed configuration, an agent's address, becoming active or
    /// standing by. Costs one pass over the nodes, and nothing without `--metrics-discovery`.
    func metricsTargetsChanged() {
        guard let board = settings.metricsTargets else { return }
        board.publish(publishedMetricsTargets)
    }

    private var publishedMetricsTargets: MetricsTargetsBoard.Published {
        guard takesAgentAnswers else {
            return .unavailable("controller \(name) stands by: the active controller of the group serves the metrics targets")
        }
        guard restored else { return .unavailable("controller \(name) is restoring its configurations") }
        guard !learningNodeStates else {
            return .unavailable("controller \(name) took over and is asking the agents how the nodes are")
        }
        guard let deployed else { return .targets(count: 0, document: MetricsTargets.document([])) }
        let groups = MetricsTargets.groups(of: deployed, states: nodeStates, hosts: knownHosts)
        return .targets(count: groups.count, document: MetricsTargets.document(groups))
    }
}
