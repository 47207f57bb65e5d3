import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LocalServers
import ManagementTypes
import Testing

/// controller-service's Prometheus HTTP service discovery (`--metrics-discovery`) with real
/// agents, supervisors and nodes: fetched over HTTP as Prometheus's http_sd_configs does.
@Suite("Metrics discovery, live", .serialized, .timeLimit(.minutes(3)))
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
            // (While the deploy restarts nodes, they leave the list until their agents report them RUNNING.)
            let after = try await discovery(url) { $0.map { $0.labels["node"]! } == ["logger", "manager", "worker-1"] }
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

    /// With real Zeek: every endpoint the controller lists is a Zeek node serving its own
    /// metrics there, as Prometheus would scrape it (no Prometheus here: an HTTP fetch of each).
    @Test(.enabled(if: TestZeek.executable != nil, TestZeek.skipReason))
    func everyListedEndpointIsAZeekNodeServingItsMetrics() async throws {
        let base = try freeLoopbackPort(), port = try freeLoopbackPort()
        let url = "http://127.0.0.1:\(port)/services.json"
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("host-policy-\(UUID().uuidString)")
        try "script-roots = \(FileManager.default.temporaryDirectory.path)\n".write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        try await Cluster.run(
            requestTimeout: 60,
            controllerArguments: ["--broker-port-start", "\(base)", "--metrics-port-start", "\(base + 100)", "--metrics-discovery", "127.0.0.1:\(port)"],
            supervisorArguments: ["--zeek", TestZeek.executable!, "--host-policy", policy.path],
            agentArguments: ["--advertised-host", "127.0.0.1", "--request-timeout", "20"],
            supervisorLauncher: TestZeek.withoutFileOverride
        ) { cluster in
            let result = try await cluster.cli(arguments: ["deploy-config", try cluster.file(Cluster.example), "--set", "client.request_timeout_secs=120"],
                                               timeout: .seconds(150))
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            let groups = try await discovery(url) { $0.count == 4 } ?? []
            #expect(groups.map { $0.labels["node"] ?? "" } == ["logger", "manager", "worker-1", "worker-2"])
            for group in groups {
                let target = try #require(group.targets.first)
                #expect(target.hasPrefix("127.0.0.1:"), "\(group)")
                // A node's metrics endpoint starts with the node: allow it a moment.
                let deadline = ContinuousClock.now + .seconds(30)
                var metrics = ""
                while !metrics.contains("zeek_version_info") && ContinuousClock.now < deadline {
                    if let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://\(target)/metrics")!) {
                        metrics = String(decoding: data, as: UTF8.self)
                    }
                    if !metrics.contains("zeek_version_info") { try await Task.sleep(for: .milliseconds(500)) }
                }
                #expect(metrics.contains("zeek_version_info"), "\(group.labels["node"] ?? ""): \(metrics.prefix(300))")
            }
        }
    }

    /// Over TLS with client certificates: Prometheus with its certificate (tls_config) gets the
    /// document; a client without one, or in plaintext, gets nothing.
    @Test func overTLSOnlyClientsWithACertificateOfTheCAGetTheTargets() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-discovery-tls-\(UUID().uuidString)")
        let pki = try await TestPKI(in: base, clients: ["prometheus"])
        defer { pki.remove() }
        let port = try freeLoopbackPort()
        try await Cluster.run(instances: ["agent-a"], controllerArguments: [
            "--metrics-discovery", "\(port)", "--metrics-discovery-cert", pki.serverCertificate,
            "--metrics-discovery-key", pki.serverKey, "--metrics-discovery-ca", pki.ca,
        ]) { cluster in
            // Without ADDR and with TLS: every address.
            try await cluster.controllers[0].waitForOutput("https://0.0.0.0:\(port)/services.json")
            let url = "https://127.0.0.1:\(port)/services.json"
            func curl(_ arguments: [String]) async throws -> CLIResult {
                try await CLIResult.run(executable: URL(fileURLWithPath: "/usr/bin/curl"),
                                        arguments: ["-sS", "--max-time", "10", "-w", "\n%{http_code}"] + arguments)
            }
            var result = try await curl(["--cacert", pki.ca, "--cert", pki.certificate("prometheus"), "--key", pki.key("prometheus"), url])
            #expect(result.status == 0 && result.stdout == "[]\n200", "\(result.stdout) \(result.stderr)")
            result = try await curl(["--cacert", pki.ca, url])
            #expect(!result.stdout.hasSuffix("200"), "no client certificate: \(result.stdout) \(result.stderr)")
            result = try await curl(["http://127.0.0.1:\(port)/services.json"])
            #expect(!result.stdout.hasSuffix("200"), "plaintext: \(result.stdout) \(result.stderr)")
        }
    }
}
