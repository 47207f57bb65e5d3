import Foundation
import Testing

/// The host decides what a deployment may do to it, whoever signed the configuration: a
/// configuration that sets what the supervisor sets, or what makes a node load code, fails its
/// check with the rule named, and nothing running changes.
@Suite("Host policy, live")
struct HostPolicyLiveTests {
    @Test(arguments: [
        ("LD_PRELOAD=/tmp/evil.so", "environment variable LD_PRELOAD: LD_PRELOAD is allowed only for the libraries listed in preload-libraries, and none are"),
        ("ZEEK_MGMT_KAFKA_OPTIONS=sasl.kerberos.kinit.cmd=/tmp/owned", "environment variable ZEEK_MGMT_KAFKA_OPTIONS: set by the supervisor; a configuration may not override it"),
        ("ZEEK_MGMT_BROKERS=192.0.2.1:9092", "environment variable ZEEK_MGMT_BROKERS: set by the supervisor; a configuration may not override it"),
        ("PATH=/tmp", "environment variable PATH: set by the supervisor; a configuration may not override it"),
    ])
    func aConfigurationCannotSetWhatTheHostRefuses(env: String, rule: String) async throws {
        try await Cluster.run { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            _ = try await cluster.waitUntilConverged()
            let before = cluster.nodeProcesses()
            let deployedBefore = try await cluster.deployedNodes()

            let result = try await cluster.cli("deploy-config", try cluster.file(Cluster.example + "\nenv = \(env)\n"))
            #expect(result.status == 1)
            let said = result.stdout + result.stderr
            #expect(said.contains("node 'worker-2': \(rule) (the supervisor's default host policy; see --host-policy)"), "\(said)")
            #expect(cluster.nodeProcesses() == before, "nothing running changed")
            #expect(try await cluster.deployedNodes() == deployedBefore)
            #expect(!FileManager.default.fileExists(atPath: "/tmp/owned"))
        }
    }
}
