#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementTypes
import Prometheus

/// The agent's metrics, rendered for the Pushgateway (with HELP lines, so dashboards explain them).
public struct AgentMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    public init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    private enum Name {
        static var nodes: MetricNameDescriptor { MetricNameDescriptor(metricName: "zeek_mgmt_agent_nodes", unitName: "", helpText: "Nodes of this agent, by state.") }
        static var restarts: MetricNameDescriptor { MetricNameDescriptor(metricName: "zeek_mgmt_agent_node_restarts", unitName: "total", helpText: "Node processes that ended and were started again by the supervisor.") }
        static var kafkaErrors: MetricNameDescriptor { MetricNameDescriptor(metricName: "zeek_mgmt_agent_kafka_errors", unitName: "total", helpText: "Errors librdkafka reported (broker unreachable, authentication, ...).") }
        static var deployDuration: MetricNameDescriptor { MetricNameDescriptor(metricName: "zeek_mgmt_agent_deploy_duration", unitName: "seconds", helpText: "Time from deploy request to response.") }
        static var requests: MetricNameDescriptor { MetricNameDescriptor(metricName: "zeek_mgmt_agent_requests", unitName: "total", helpText: "Controller requests handled, by event and outcome.") }
        static var corrections: MetricNameDescriptor { MetricNameDescriptor(metricName: "zeek_mgmt_agent_corrections", unitName: "total", helpText: "Nodes the agent started or stopped to make what runs match what is deployed, by action.") }
        static var rejected: MetricNameDescriptor { MetricNameDescriptor(metricName: "zeek_mgmt_agent_rejected_messages", unitName: "total", helpText: "Messages dropped unread: unsigned, signed by an unknown or unauthorized key, stale, from the future, replayed, or carrying a configuration no deploy operator signed; by reason.") }
        static var requestDuration: MetricNameDescriptor { MetricNameDescriptor(metricName: "zeek_mgmt_agent_request_duration", unitName: "seconds", helpText: "Time to answer controller requests, by event and outcome.") }
    }

    private static let durationBuckets: [Duration] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30].map { .milliseconds(Int($0 * 1000)) }

    /// Nodes of this agent by state.
    func record(nodes: [String: Agent.OwnNode]) {
        for state in Management.State.allCases {
            registry.makeGauge(descriptor: Name.nodes, labels: [("state", state.rawValue)])
                .set(Double(nodes.values.filter { $0.state == state }.count))
        }
    }

    /// A node's process ended (it is restarted by the supervisor).
    func nodeExited() {
        registry.makeCounter(descriptor: Name.restarts).increment(by: Int64(1))
    }

    /// Nodes started or stopped by a reconciliation.
    func corrected(action: String, count: Int) {
        registry.makeCounter(descriptor: Name.corrections, labels: [("action", action)]).increment(by: Int64(count))
    }

    /// An error librdkafka reported (broker unreachable, authentication, ...).
    /// A message the bus dropped unread (``MessageRejection``), by reason.
    public func messageRejected(_ reason: String) {
        registry.makeCounter(descriptor: Name.rejected, labels: [("reason", reason)]).increment(by: Int64(1))
    }

    public func kafkaError() {
        registry.makeCounter(descriptor: Name.kafkaErrors).increment(by: Int64(1))
    }

    func deployed(duration: Duration) {
        registry.makeDurationHistogram(descriptor: Name.deployDuration, buckets: Self.durationBuckets).record(duration)
    }

    func requestHandled(event: String, outcome: String, duration: Duration) {
        let labels = [("event", event), ("outcome", outcome)]
        registry.makeCounter(descriptor: Name.requests, labels: labels).increment(by: Int64(1))
        registry.makeDurationHistogram(descriptor: Name.requestDuration, labels: labels, buckets: Self.durationBuckets).record(duration)
    }
}
