import Foundation
import LocalServers
import ManagementTypes
import Testing

/// The real zeek-client 1.5.0 (installed from PyPI by scripts/setup) against controller-service's
/// WebSocket endpoint, with real agents, supervisors and nodes behind it. Where both clients can
/// ask the same thing, zeek-client's output must be exactly what zeek-mgmt prints.
@Suite("zeek-client over WebSocket", .timeLimit(.minutes(3)))
struct ZeekClientTests {
    static let zeekClient = ComposeTopologyTests.root.appendingPathComponent(".venv/bin/zeek-client")

    /// Runs zeek-client against `port`; returns exit status, stdout, stderr.
    static func zeekClient(_ arguments: [String], port: Int) async throws -> CLIResult {
        try await CLIResult.run(
            executable: zeekClient,
            arguments: ["--controller", "127.0.0.1:\(port)", "--set", "client.request_timeout_secs=30"] + arguments,
            environment: ["PATH": "/usr/bin:/bin", "HOME": NSTemporaryDirectory()]
        )
    }

    @Test func everyCommandThroughTheRealZeekClient() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.zeekClient.path) else {
            throw ServiceProcessError("\(Self.zeekClient.path) missing; run scripts/setup")
        }
        let port = try freeLoopbackPort()
        try await Cluster.run(controllerArguments: ["--websocket", "127.0.0.1:\(port)"]) { cluster in
            try await cluster.controllers[0].waitForOutput("zeek-client WebSocket endpoint listening")
            let zc = { (arguments: [String]) in try await Self.zeekClient(arguments, port: port) }

            var result = try await zc(["get-instances"])
            let instances = try await cluster.cli("get-instances")
            #expect(result.status == 0 && result.stdout == instances.stdout, "\(result.stdout)\(result.stderr)")

            result = try await zc(["get-config"])
            #expect(result.status == 1 && result.stderr.contains("no staged configuration available"))

            let invalid = try cluster.file("[instances]\nagent-a\n\n[w]\ninstance = agent-z\nrole = worker\n")
            result = try await zc(["stage-config", invalid])
            #expect(result.status == 1)
            #expect(result["errors"] == ["node 'w' has undeclared instance name 'agent-z'"], "\(result.stdout)")

            let path = try cluster.file(Cluster.example)
            result = try await zc(["deploy-config", path])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result["results", "nodes", "worker-2"] == ["instance": "agent-b", "success": true])

            for command in [["get-nodes"], ["get-config"], ["get-config", "--as-json"], ["get-config", "--deployed"],
                            ["get-id-value", "Cluster::node"], ["get-id-value", "No::such", "manager"]] {
                let ours = try await cluster.cli(arguments: command)
                let theirs = try await zc(command)
                #expect(theirs.stdout == ours.stdout && theirs.status == ours.status,
                        "\(command.joined(separator: " ")): zeek-client printed\n\(theirs.stdout)\(theirs.stderr)\nzeek-mgmt printed\n\(ours.stdout)")
            }

            result = try await zc(["restart", "worker-1", "nosuch"])
            #expect(result.status == 1)
            #expect(result["results"] == ["worker-1": true])
            #expect(result["errors"] == [["source": "nosuch", "error": "unknown cluster node"]])

            result = try await zc(["test-timeout", "--with-state"])
            #expect(result.status == 0 && result.json == ["error": "request timed out", "success": false], "\(result.stdout)\(result.stderr)")

            // Two zeek-clients at once, and a client that goes away mid-request.
            async let first = Self.zeekClient(["get-nodes"], port: port)
            async let second = Self.zeekClient(["deploy"], port: port)
            let (nodes, deployed) = try await (first, second)
            #expect(nodes.status == 0 && deployed.status == 0, "\(nodes.stderr)\(deployed.stderr)")
            let impatient = Process()
            impatient.executableURL = Self.zeekClient
            impatient.arguments = ["--controller", "127.0.0.1:\(port)", "test-timeout", "--with-state"]
            impatient.standardOutput = FileHandle.nullDevice
            impatient.standardError = FileHandle.nullDevice
            try impatient.run()
            try await Task.sleep(for: .milliseconds(1500))
            impatient.terminate()
            impatient.waitUntilExit()
            let after = try await zc(["get-instances"])
            #expect(after.status == 0, "the endpoint carries on")
        }
    }
}
