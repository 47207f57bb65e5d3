import ClusterConfiguration
import ManagementTypes

/// The controller's side of Prometheus service discovery: it knows the deployed nodes, their
/// metrics ports, their hosts' addresses and (from the deploy and the agents' `notify_change`)
/// which run, so it lists the RUNNING nodes' metrics endpoints, as Zeek's manager does for its
/// cluster (``MetricsTargets``).
extension Controller {
    /// Publishes the targets again; called whenever what they are built from may have changed:
    /// a node's state, the deployed configuration, an agent's address, becoming active or
    /// standing by. At once if the last publication is older than
    /// ``Settings/metricsTargetsInterval``, else once that much time has passed since it (one
    /// publication then covers every change in between), so a burst of changes costs a pass
    /// over the nodes per interval rather than one per change. Nothing without `--metrics-discovery`.
    func metricsTargetsChanged() {
        guard settings.metricsTargets != nil, !metricsTargetsPublication.due else { return }
        guard let last = metricsTargetsPublication.last, clock.now - last < settings.metricsTargetsInterval else {
            publishMetricsTargets()
            return
        }
        metricsTargetsPublication.due = true
        let when = last + settings.metricsTargetsInterval
        work.submit {
            // Cancelled only when the service stops, when publishing once more does no harm.
            try? await self.clock.sleep(until: when)
            await self.publishMetricsTargets()
        }
    }

    private func publishMetricsTargets() {
        metricsTargetsPublication = MetricsTargetsPublication(last: clock.now, due: false)
        settings.metricsTargets?.publish(publishedMetricsTargets)
    }

    private var publishedMetricsTargets: MetricsTargetsBoard.Published {
        guard takesAgentAnswers else {
            return .unavailable("controller \(name) stands by: the active controller of the group serves the metrics targets")
        }
        guard restored else { return .unavailable("controller \(name) is restoring its configurations") }
        guard !runState.learning else {
            return .unavailable("controller \(name) took over and is asking the agents how the nodes are")
        }
        guard let deployed else { return .targets(count: 0, document: MetricsTargets.document([])) }
        let groups = MetricsTargets.groups(of: deployed, states: runState.states, hosts: knownHosts)
        return .targets(count: groups.count, document: MetricsTargets.document(groups))
    }
}

/// When the controller last published its metrics targets, and whether a publication is due.
struct MetricsTargetsPublication: Sendable {
    var last: ContinuousClock.Instant?
    var due = false
}
