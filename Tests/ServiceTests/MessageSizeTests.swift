import Foundation
import LocalServers
import ManagementTypes
import Testing

/// Configurations of fleet size through the real services, zeek-mgmt and zeek-client: records
/// are compressed and may be large; past the limit the client is told why, and nothing breaks.
/// (zeek-client is slow with large files: it gets the smaller ones.)
@Suite("Message size", .timeLimit(.minutes(4)))
struct MessageSizeTests {
    /// A configuration file of `nodes` workers spread over `instances` hosts; `padding`
    /// characters of script path per node make it as large as wanted.
    static func configuration(nodes: Int, instances: Int, padding: Int = 0) -> String {
        var text = "[instances]\n" + (0..<instances).map { "host-\($0)\n" }.joined()
        text += "\n[manager]\ninstance = host-0\nrole = manager\n"
        let script = padding > 0 ? "\nscripts = " + String(repeating: "s", count: padding) + ".zeek" : ""
        for index in 1..<nodes {
            text += "\n[worker-\(index)]\ninstance = host-\(index % instances)\nrole = worker\ninterface = eth0\(script)\n"
        }
        return text
    }

    @Test func aTenThousandNodeConfigurationStagesAndReadsBackWhole() async throws {
        try await Cluster.run(instances: []) { cluster in
            let file = try cluster.file(Self.configuration(nodes: 10_000, instances: 1_000))
            let staged = try await cluster.cli(arguments: ["stage-config", file])
            #expect(staged.status == 0, "\(staged.stdout)\(staged.stderr)")
            let read = try await cluster.cli(arguments: ["get-config", "--as-json"])
            guard case .array(let nodes)? = read["nodes"], case .array(let instances)? = read["instances"] else {
                Issue.record("get-config printed no configuration: \(read.stdout.prefix(500))\(read.stderr)")
                return
            }
            #expect(nodes.count == 10_000 && instances.count == 1_000)
        }
    }

    /// Past the limit a message may have, the clients are refused, naming the limit and the
    /// setting, and the controller keeps serving: zeek-mgmt refuses 20 MB itself (its limit is
    /// the default 16 MiB); the controller's zeek-client gateway, given a 4 MB limit here,
    /// closes the connection of zeek-client's 5 MB configuration (1009, message too big) and
    /// logs why: no WebSocket message may be larger than a Kafka message.
    @Test func aConfigurationPastTheLimitIsRefusedWithTheLimitAndTheSetting() async throws {
        let port = try freeLoopbackPort()
        try await Cluster.run(instances: [], controllerArguments: ["--websocket", "127.0.0.1:\(port)", "--kafka-option", "message.max.bytes=4000000"]) { cluster in
            let text = Self.configuration(nodes: 2_000, instances: 10, padding: 10_000)
            #expect(text.utf8.count > 20_000_000)
            let staged = try await cluster.cli(arguments: ["stage-config", try cluster.file(text)])
            #expect(staged.status != 0)
            #expect(staged.stderr.contains("exceeds the limit of 16777216 bytes per message (message.max.bytes)"), "\(staged.stderr)")

            try ZeekClientTests.requireZeekClient()
            try await cluster.controllers[0].waitForOutput("zeek-client WebSocket endpoint listening")
            let smaller = Self.configuration(nodes: 500, instances: 10, padding: 10_000)
            #expect(smaller.utf8.count > 4_000_000)
            let throughZeekClient = try await ZeekClientTests.zeekClient(["stage-config", try cluster.file(smaller)], port: port)
            #expect(throughZeekClient.status != 0, "\(throughZeekClient.stdout)\(throughZeekClient.stderr)")
            try await cluster.controllers[0].waitForOutput("sent a message larger than 4000000 bytes, the Kafka message limit (message.max.bytes)")

            let after = try await cluster.cli(arguments: ["get-config", "--as-json"])
            #expect((after.stdout + after.stderr).contains("no staged configuration available"),
                    "nothing was staged, and the controller still answers: \(after.stdout)\(after.stderr)")
        }
    }
}
