import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LocalServers
import ManagementTypes
import Testing

/// controller-service's Prometheus HTTP service discovery (`--metrics-discovery`) with real
/// agents, supervisors and nodes: fetched over HTTP as Prometheus's http_sd_configs does.
@Suite("Metrics discovery, live", .timeLimit(.minutes(3)))
struct MetricsDiscoveryLiveTests {
    struct TargetGroup: Decodable, Equatable {
        var targets: [String]
        var labels: [String: String]
    }

    /// Fetches the discovery document until `condition` holds for it (the controller publishes
    /// as node states reach it); the last document either way, or nil if none was served.
    func discovery(_ url: String, until condition: ([TargetGroup]) -> Bool) async throws -> [TargetGroup]? {
        let deadline = ContinuousClock.now + .seconds(30)
        var last: [TargetGroup]?
        while ContinuousClock.now < deadline {
            if let (data, response) = try? await URLSession.shared.data(from: URL(string: url)!),
               (response as? HTTPURLResponse)?.statusCode == 200 {
                #expect((response as? HTTPURLResponse)?.value(forHTTPHeaderField: "Content-Type") == "application/json")
                last = try JSONDecoder().decode([TargetGroup].self, from: data)
                if let last, condition(last) { return last }
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return last
    }

    @Test func discoveryListsEveryRunningNodesMetricsEndpoint() async throws {
        let port = try freeLoopbackPort()
        let url = "http://127.0.0.1:\(port)/services.json"
        try await Cluster.run(controllerArguments: ["--metrics-discovery", "127.0.0.1:\(port)"]) { cluster in
            #expect(try await discovery(url) { $0.isEmpty } == [], "nothing deployed: an empty list")

            var result = try await cluster.cli("deploy-config", try cluster.file(Cluster.example))
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            try await cluster.waitUntilConverged()

            // What the cluster reports: every node RUNNING, its metrics port, its host's address.
            var hosts: [String: String] = [:]
            if case .object(let instances)? = try await cluster.cli("get-instances").json {
                for case let (name, .object(fields)) in instances { if case .string(let host)? = fields["host"] { hosts[name] = host } }
            }
            var expected: [TargetGroup] = []
            guard case .object(let byInstance)? = try await cluster.cli("get-nodes")["results"] else { Issue.record("no get-nodes results"); return }
            for case let (instance, .object(nodes)) in byInstance {
                for case let (node, .object(fields)) in nodes where fields["mgmt_role"] == nil || fields["mgmt_role"] == .null {
                    #expect(fields["state"] == "RUNNING", "\(node): \(fields)")
                    guard case .int(let metricsPort)? = fields["metrics_port"], case .string(let role)? = fields["cluster_role"],
                          let host = hosts[instance] else { Issue.record("\(node): \(fields), host \(hosts)"); continue }
                    let address = host.contains(":") ? "[\(host)]:\(metricsPort)" : "\(host):\(metricsPort)"
                    expected.append(TargetGroup(targets: [address], labels: ["node": node, "role": role.lowercased(), "host": instance]))
                }
            }
            expected.sort { $0.labels["node"]! < $1.labels["node"]! }
            #expect(expected.map { $0.labels["node"]! } == ["logger", "manager", "worker-1", "worker-2"])
            #expect(try await discovery(url) { $0 == expected } == expected)

            // Deployed again without worker-2: it leaves the list.
            let smaller = Cluster.example.replacingOccurrences(of: "\n[worker-2]\ninstance = agent-b\nrole = worker", with: "")
            #expect(!smaller.contains("worker-2"))
            result = try await cluster.cli("deploy-config", try cluster.file(smaller))
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            let after = try await discovery(url) { $0.count == 3 }
            #expect(after?.map { $0.labels["node"]! } == ["logger", "manager", "worker-1"])
            #expect(after?.first { $0.labels["node"] == "worker-1" } == expected.first { $0.labels["node"] == "worker-1" })

            // Only GET of the one path is served.
            var request = URLRequest(url: URL(string: url)!)
            request.httpMethod = "POST"
            let (_, posted) = try await URLSession.shared.data(for: request)
            #expect((posted as? HTTPURLResponse)?.statusCode == 405)
            let (_, other) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
            #expect((other as? HTTPURLResponse)?.statusCode == 404)
        }
    }
}
