import Foundation
import Testing

/// The host decides what a deployment may do to it, whoever signed the configuration: a
/// configuration that sets what the supervisor sets, what makes a node load code, or a script
/// outside the host's script roots fails its check with the rule named, and nothing running
/// changes.
@Suite("Host policy, live")
struct HostPolicyLiveTests {
    @Test(arguments: [
        ("env = LD_PRELOAD=/tmp/evil.so", "environment variable LD_PRELOAD: LD_PRELOAD is allowed only for the libraries listed in preload-libraries, and none are"),
        ("env = ZEEK_MGMT_KAFKA_OPTIONS=sasl.kerberos.kinit.cmd=/tmp/owned", "environment variable ZEEK_MGMT_KAFKA_OPTIONS: set by the supervisor; a configuration may not override it"),
        ("env = ZEEK_MGMT_BROKERS=192.0.2.1:9092", "environment variable ZEEK_MGMT_BROKERS: set by the supervisor; a configuration may not override it"),
        ("env = PATH=/tmp", "environment variable PATH: set by the supervisor; a configuration may not override it"),
        ("scripts = /etc/x.zeek", "script /etc/x.zeek is outside the script roots (none); list its directory in script-roots"),
        ("scripts = site/../../../../tmp/x.zeek", "script site/../../../../tmp/x.zeek climbs out of its directory with '..'"),
    ])
    func aConfigurationCannotSetWhatTheHostRefuses(line: String, rule: String) async throws {
        try await Self.deployRefused(line, saying: "node 'worker-2': \(rule) (the supervisor's default host policy; see --host-policy)")
    }

    @Test("a script entry that is a Zeek flag (code to run, a file to write) fails the check, and nothing running changes", arguments: [
        // zeek-mgmt prints the error inside JSON, which escapes its quotes.
        ("scripts = -e system(\"touch /tmp/owned\")", #"node 'worker-2': script \"-e\" begins with '-': script entries are script names or paths, never flags"#),
        ("scripts = -w /etc/x", #"node 'worker-2': script \"-w\" begins with '-': script entries are script names or paths, never flags"#),
    ])
    func aScriptThatIsAFlagIsRefused(line: String, rule: String) async throws {
        try await Self.deployRefused(line, saying: rule)
    }

    @Test("a limit the host cannot honour fails the check, naming it, and nothing running changes")
    func aLimitTheHostCannotHonourIsRefused() async throws {
        try await Self.deployRefused("cpu_set = 1000", saying: "node 'worker-2': cpu_set names CPU 1000, which this host does not give its supervisor (it has ")
    }

    @Test("an interface outside the host policy's interfaces fails the check, naming the policy file, and nothing running changes")
    func anInterfaceOutsideThePolicyIsRefused() async throws {
        let policy = FileManager.default.temporaryDirectory.appendingPathComponent("host-policy-\(UUID().uuidString)")
        try "interfaces = eth1 eth2   # the sensor's capture ports\n".write(to: policy, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: policy) }
        try await Self.deployRefused("interface = af_packet::eth0", saying: "node 'worker-2': interface af_packet::eth0 is not among the interfaces nodes may capture on (eth1 eth2) (host policy \(policy.path))",
                                     supervisorArguments: ["--host-policy", policy.path])
    }

    /// Deploys the example, then the example with `line` added to its last node (worker-2),
    /// which must be refused with `expected` while everything running stays as it was.
    private static func deployRefused(_ line: String, saying expected: String, supervisorArguments: [String] = []) async throws {
        try await Cluster.run(supervisorArguments: supervisorArguments) { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            _ = try await cluster.waitUntilConverged()
            let before = cluster.nodeProcesses()
            let deployedBefore = try await cluster.deployedNodes()

            let result = try await cluster.cli("deploy-config", try cluster.file(Cluster.example + "\n\(line)\n"))
            #expect(result.status == 1)
            let said = result.stdout + result.stderr
            #expect(said.contains(expected), "\(said)")
            #expect(cluster.nodeProcesses() == before, "nothing running changed")
            #expect(try await cluster.deployedNodes() == deployedBefore)
            #expect(!FileManager.default.fileExists(atPath: "/tmp/owned"))
        }
    }
}

/// A stand-in node speaks Kafka itself, but never with the host's credentials: the supervisor
/// hands it its Kafka options without any credential, and credentials only from a narrower file
/// of the node's own when one is configured.
@Suite("Node credentials, live")
struct NodeCredentialsLiveTests {
    @Test func standInNodesGetNoCredentialOfTheSupervisor() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("node-credentials-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        // librdkafka ignores SASL settings on a plaintext connection: the supervisor still
        // reaches the test broker, holding a "credential" a node must not see.
        let supervisorOptions = directory.appendingPathComponent("supervisor.properties")
        try "sasl.username=host-user\nsasl.password=hunter2-of-the-host\n".write(to: supervisorOptions, atomically: true, encoding: .utf8)
        let nodeOptions = directory.appendingPathComponent("node.properties")
        try "sasl.username=node-user\n".write(to: nodeOptions, atomically: true, encoding: .utf8)
        try await Cluster.run(supervisorArguments: ["--kafka-options-file", supervisorOptions.path, "--node-kafka-options-file", nodeOptions.path]) { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            _ = try await cluster.waitUntilConverged()
            let pids = cluster.nodeProcesses()
            #expect(!pids.isEmpty)
            for pid in pids {
                let environment = ProcessCredentials(pid: pid).environment
                #expect(!environment.values.contains { $0.contains("hunter2") || $0.contains("host-user") }, "node \(pid) holds the host's credential")
                #expect(environment["ZEEK_MGMT_KAFKA_OPTIONS_FILE"] == nodeOptions.path, "node \(pid) reads its own, narrower file")
                #expect(environment["ZEEK_MGMT_BROKERS"] != nil, "the stand-in still reaches Kafka")
            }
        }
    }
}
