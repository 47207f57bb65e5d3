import Foundation
import LocalServers
import MessageSigning
import Testing

/// The contract's signing rules (section 3.6) followed by a client in another language: the
/// Python example signs a request with an operator's key and believes only an answer a
/// controller of its trust file signed; it verifies the agents' check-ins on a notify topic.
@Suite("Python client (contract 3.0 example)", .serialized)
struct PythonClientTests {
    static let python = ComposeTopologyTests.root.appendingPathComponent(".venv/bin/python")
    static let example = ComposeTopologyTests.root.appendingPathComponent("examples/python/zeek_mgmt_signed.py")

    func runExample(_ cluster: Cluster, key: String, _ arguments: [String]) async throws -> CLIResult {
        try await CLIResult.run(executable: Self.python, arguments: [Self.example.path, "--brokers", cluster.broker.address, "--key", key,
                                                                      "--trust", LocalKeys.shared.trustFile, "--timeout", "15"] + arguments)
    }

    @Test func aSignedPythonRequestIsAnsweredAndTheAnswerVerifies() async throws {
        try await Cluster.run { cluster in
            try await cluster.waitForInstances(["agent-a", "agent-b"])
            let answer = try await runExample(cluster, key: LocalKeys.shared.deployer, ["get-instances"])
            #expect(answer.status == 0, "\(answer.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(answer.stdout.utf8)) as? [String: Any])
            #expect(json["signed_by"] as? String == "controller")
            let data = ((json["args"] as? [String: Any])?["result"] as? [String: Any])?["data"] as? [[String: Any]]
            #expect(Set(data?.compactMap { $0["name"] as? String } ?? []) == ["agent-a", "agent-b"])

            let notify = try await runExample(cluster, key: LocalKeys.shared.deployer, ["verify-notify", "Management.Agent.API.notify", "--count", "2"])
            #expect(notify.status == 0, "\(notify.stdout) \(notify.stderr)")
            #expect(notify.stdout.contains(#""signed_by": "agent-a""#) || notify.stdout.contains(#""signed_by": "agent-b""#))
        }
    }

    @Test func aRequestSignedByAnUnknownKeyIsNeverAnswered() async throws {
        try await Cluster.run(instances: ["agent-a"]) { cluster in
            try await cluster.waitForInstances(["agent-a"])
            let stranger = FileManager.default.temporaryDirectory.appendingPathComponent("stranger-\(UUID().uuidString).pem").path
            FileManager.default.createFile(atPath: stranger, contents: Data(SigningKey.generate().pem.utf8), attributes: [.posixPermissions: 0o600])
            defer { try? FileManager.default.removeItem(atPath: stranger) }
            let answer = try await runExample(cluster, key: stranger, ["--timeout", "5", "get-instances"])
            #expect(answer.status == 1)
            #expect(answer.stderr.contains("no signed answer"))
            // The controller said why, once, without answering.
            let logs = cluster.controllers.map(\.text).joined()
            #expect(logs.contains("unknown_signer"))
        }
    }
}
