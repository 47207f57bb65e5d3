#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementTypes
import Prometheus

/// The agent's metrics, rendered for the Pushgateway.
struct AgentMetrics: Sendable {
    let registry: PrometheusCollectorRegistry

    private var durationBuckets: [Double] { [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] }

    /// Nodes of this agent by state.
    func record(nodes: [String: Agent.OwnNode]) {
        for state in Management.State.allCases {
            registry.makeGauge(name: "zeek_mgmt_agent_nodes", labels: [("state", state.rawValue)])
                .set(Double(nodes.values.filter { $0.state == state }.count))
        }
    }

    /// A node's process ended (it is restarted by the supervisor).
    func nodeExited() {
        registry.makeCounter(name: "zeek_mgmt_agent_node_restarts_total").increment(by: Int64(1))
    }

    /// An error librdkafka reported (broker unreachable, authentication, ...).
    func kafkaError() {
        registry.makeCounter(name: "zeek_mgmt_agent_kafka_errors_total").increment(by: Int64(1))
    }

    func deployed(duration: Duration) {
        registry.makeDurationHistogram(name: "zeek_mgmt_agent_deploy_duration_seconds", buckets: durationBuckets.map { .milliseconds(Int($0 * 1000)) })
            .record(duration)
    }

    func requestHandled(event: String, outcome: String, duration: Duration) {
        let labels = [("event", event), ("outcome", outcome)]
        registry.makeCounter(name: "zeek_mgmt_agent_requests_total", labels: labels).increment(by: Int64(1))
        registry.makeDurationHistogram(name: "zeek_mgmt_agent_request_duration_seconds", labels: labels,
                                       buckets: durationBuckets.map { .milliseconds(Int($0 * 1000)) })
            .record(duration)
    }
}
