#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementTypes

/// One target group of Prometheus HTTP service discovery
/// (https://prometheus.io/docs/prometheus/latest/http_sd/): the addresses to scrape and the
/// labels every series scraped from them gets.
public struct PrometheusTargetGroup: Hashable, Sendable, Codable {
    public var targets: [String]
    public var labels: [String: String]

    public init(targets: [String], labels: [String: String]) {
        self.targets = targets
        self.labels = labels
    }
}

/// The Prometheus targets of a deployed cluster: every node's metrics endpoint (Zeek's
/// `Telemetry::metrics_port`, as configured or assigned at staging), so Prometheus scrapes
/// the nodes themselves, as it would through the service discovery Zeek's manager serves.
///
/// Pure: built from what the controller knows (the deployed configuration, the nodes' last
/// known states and the agents' addresses), so the rules are tested without a network.
public enum MetricsTargets {
    /// The states whose nodes are listed. Only a RUNNING node serves its metrics port: a
    /// node that is starting, crashed or stopped would only add failed scrapes, and it comes
    /// back into the list when its agent reports it running again.
    public static let listedStates: Set<Management.State> = [.running]

    /// One group per listed node, sorted by node name, labelled `node`, `role` (Zeek's cluster
    /// role in lower case: `manager`, `logger`, `proxy`, `worker`) and `host` (the instance).
    ///
    /// - Parameters:
    ///   - config: the deployed configuration, its ports assigned.
    ///   - states: each node's last known state; a node without one is not listed.
    ///   - hosts: the agents' current addresses by instance (their latest check-in), which win
    ///     over the address the configuration recorded at deploy time: an agent that came back
    ///     on another address runs its nodes there.
    /// Nodes without a metrics port (or port 0), or whose host's address is unknown, are left
    /// out: there is nothing to scrape.
    public static func groups(of config: Management.Configuration, states: [String: Management.State],
                              hosts: [String: IPAddress] = [:]) -> [PrometheusTargetGroup] {
        var configured: [String: IPAddress] = [:]
        for instance in config.instances { configured[instance.name] = instance.host }
        return config.nodes.sorted { $0.name < $1.name }.compactMap { node in
            guard let state = states[node.name], listedStates.contains(state),
                  let port = node.metricsPort?.number, port != 0 else { return nil }
            let known = [hosts[node.instance], configured[node.instance]].compactMap { $0 }.first { !$0.isUnspecified }
            guard let host = known else { return nil }
            return PrometheusTargetGroup(targets: [address(host, port: port)], labels: [
                "node": node.name,
                "role": node.role.rawValue.lowercased(),
                "host": node.instance,
            ])
        }
    }

    /// `HOST:PORT` as Prometheus takes it: an IPv6 address in brackets.
    public static func address(_ host: IPAddress, port: UInt16) -> String {
        host.text.contains(":") ? "[\(host.text)]:\(port)" : "\(host.text):\(port)"
    }

    /// The HTTP service discovery document: a JSON array of target groups (keys sorted, so
    /// the same targets always give the same bytes).
    public static func document(_ groups: [PrometheusTargetGroup]) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Strings and arrays of strings always encode.
        return Array((try? encoder.encode(groups)) ?? Data("[]".utf8))
    }
}
