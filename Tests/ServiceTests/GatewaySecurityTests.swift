import Foundation
import LocalServers
import Testing

/// The zeek-client gateway as a security boundary, against the real controller-service, a real
/// broker, the real zeek-client 1.5.0 and websocket-client (``GatewayProbe``): who gets in,
/// what each role may do, who sees which response, and the limits.
@Suite("zeek-client gateway security", .timeLimit(.minutes(4)))
struct GatewaySecurityTests {
    static let token = "s3cret-robot-token"

    /// Over mutual TLS on every address, with a clients file: clients without a certificate,
    /// with one of another CA, or with one of the CA that the file does not list are refused;
    /// listed clients get their role, and a `read` client cannot stage or deploy; a browser's
    /// Origin is refused unless allowed; bearer tokens work; the real zeek-client runs its flows.
    @Test func mutualTLSClientsRolesAndOrigins() async throws {
        try ZeekClientTests.requireZeekClient()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-\(UUID().uuidString)")
        let pki = try await TestPKI(in: base.appendingPathComponent("pki"), clients: ["alice", "reader", "stranger"])
        let rogue = try await TestPKI(in: base.appendingPathComponent("rogue"), clients: ["alice"])
        defer { try? FileManager.default.removeItem(at: base) }
        let digest = try await CLIResult.run(executable: URL(fileURLWithPath: "/bin/sh"), arguments: ["-c", "printf %s \"$0\" | sha256sum", Self.token])
        let clients = base.appendingPathComponent("clients").path
        try """
            # operator  role    credential
            alice       deploy  cert-sha256=\(try await pki.fingerprint("alice"))
            reader      read    cert-cn=reader
            robot       read    token-sha256=\(digest.stdout.prefix(64))   # printf %s "$TOKEN" | sha256sum
            """.write(toFile: clients, atomically: true, encoding: .utf8)
        let port = try freeLoopbackPort()
        try await Cluster.run(instances: ["agent-a"], controllerArguments: [
            "--websocket", "0.0.0.0:\(port)", "--websocket-cert", pki.serverCertificate, "--websocket-key", pki.serverKey,
            "--websocket-ca", pki.ca, "--websocket-clients", clients, "--websocket-allowed-origin", "https://ops.example.org",
        ]) { cluster in
            let controller = cluster.controllers[0]
            try await controller.waitForOutput("wss://0.0.0.0:\(port)/v1/messages/json")
            func tls(_ name: String, from authority: TestPKI = pki) -> [String] {
                ["ssl.enable=true", "ssl.certificate=\(authority.certificate(name))", "ssl.keyfile=\(authority.key(name))", "ssl.cafile=\(pki.ca)"]
            }
            let zc = { (arguments: [String], settings: [String]) in try await ZeekClientTests.zeekClient(arguments, port: port, settings: settings) }

            // Refused: no certificate, another CA's, the CA's but not in the clients file.
            var result = try await zc(["get-instances"], ["ssl.enable=true", "client.peering_attempts=1"])
            #expect(result.status == 1 && result.stderr.contains("certificate required"), "\(result.stderr)")
            result = try await zc(["get-instances"], tls("alice", from: rogue))
            #expect(result.status == 1 && result.stdout.isEmpty, "another CA's certificate: \(result.stdout)\(result.stderr)")
            result = try await zc(["get-instances"], tls("stranger"))
            #expect(result.status == 1 && result.stderr.contains("403") && result.stderr.contains("not in the clients file"), "\(result.stderr)")
            try await controller.waitForOutput("SHA-256 fingerprint")
            result = try await zc(["get-instances"], ["client.peering_attempts=1"])
            #expect(result.status == 1 && result.stdout.isEmpty, "a plaintext client gets nothing from a TLS endpoint")

            // A read client looks but cannot stage or deploy: zeek-client shows the role.
            let instances = try await cluster.cli("get-instances")
            result = try await zc(["get-instances"], tls("reader"))
            #expect(result.status == 0 && result.stdout == instances.stdout, "\(result.stdout)\(result.stderr)")
            let manager = try cluster.file("[manager]\ninstance = agent-a\nrole = manager\n")
            for command in [["stage-config", manager], ["deploy-config", manager], ["deploy"], ["restart"]] {
                result = try await zc(command, tls("reader"))
                #expect(result.status == 1 && (result.stdout + result.stderr).contains("operator reader has role read"),
                        "\(command): \(result.stdout)\(result.stderr)")
            }
            let staged = try await cluster.cli(arguments: ["get-config"])
            #expect(staged.stderr.contains("no staged configuration available"), "the read client staged nothing: \(staged.stdout)\(staged.stderr)")

            // The deploy client: the real zeek-client's flows over mutual TLS.
            result = try await zc(["get-instances"], tls("alice"))
            #expect(result.status == 0 && result.stdout == instances.stdout, "\(result.stdout)\(result.stderr)")
            result = try await zc(["stage-config", manager], tls("alice"))
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            result = try await zc(["deploy"], tls("alice"))
            #expect(result.status == 0 && result["results", "nodes", "manager", "success"] == true, "\(result.stdout)\(result.stderr)")
            result = try await zc(["get-nodes"], tls("alice"))
            #expect(result.status == 0 && result["results", "agent-a", "manager", "state"] == "RUNNING", "\(result.stdout)\(result.stderr)")
            #expect(controller.text.contains("operator=alice") && controller.text.contains("operator=reader"), "each request is logged with its operator")

            // Browsers: an Origin that is not allowed is refused; the allowed one gets in.
            let url = "wss://127.0.0.1:\(port)/v1/messages/json"
            var probe = GatewayProbe(url: url, certificate: pki.certificate("alice"), key: pki.key("alice"), ca: pki.ca, origin: "https://evil.example", listen: 0)
            var lines = try await probe.run()
            #expect(lines.first?.hasPrefix("REFUSED 403 WebSocket handshakes from web pages (Origin: https://evil.example)") == true, "\(lines)")
            probe.origin = "https://ops.example.org"
            lines = try await probe.run()
            #expect(lines.first == "CONNECTED", "\(lines)")
            // zeek-client's own Origin names the address it connects to; a page elsewhere cannot.
            probe.origin = "https://127.0.0.1:\(port)"
            lines = try await probe.run()
            #expect(lines.first == "CONNECTED", "\(lines)")
            probe.host = "attacker.example:\(port)"
            lines = try await probe.run()
            #expect(lines.first?.hasPrefix("REFUSED 403") == true, "\(lines)")

            // Bearer tokens: the right one is a client (robot, read), a wrong one is refused.
            probe = GatewayProbe(url: url, certificate: pki.certificate("stranger"), key: pki.key("stranger"), ca: pki.ca,
                                 headers: ["Authorization: Bearer \(Self.token)"],
                                 send: [GatewayProbe.request("get_instances_request", reqid: "robot-1"),
                                        GatewayProbe.request("deploy_request", reqid: "robot-2")])
            lines = try await probe.run()
            #expect(lines.contains { $0.hasPrefix("RECV") && $0.contains("get_instances_response") && $0.contains("robot-1") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("RECV") && $0.contains("deploy_response") && $0.contains("operator robot has role read") }, "\(lines)")
            probe.headers = ["Authorization: Bearer not-the-token"]
            lines = try await probe.run()
            #expect(lines.first?.hasPrefix("REFUSED 401") == true, "\(lines)")
        }
    }

    /// Two clients connected at once each get their own responses, never the other's, and
    /// neither gets zeek-mgmt's; a reqid another connection waits for is not given to a second.
    @Test func clientsNeverSeeEachOthersResponses() async throws {
        let port = try freeLoopbackPort()
        try await Cluster.run(instances: ["agent-a"], controllerArguments: ["--websocket", "127.0.0.1:\(port)"]) { cluster in
            try await cluster.controllers[0].waitForOutput("zeek-client WebSocket endpoint listening")
            let url = "ws://127.0.0.1:\(port)/v1/messages/json"
            // Without TLS, a page rebinding a name of its own to 127.0.0.1 sends an Origin equal to
            // its Host: only loopback names count as the gateway's.
            let rebound = try await GatewayProbe(url: url, origin: "http://rebound.example:\(port)", host: "rebound.example:\(port)", listen: 0).run()
            #expect(rebound.first?.hasPrefix("REFUSED 403") == true, "\(rebound)")
            func probe(_ name: String) -> GatewayProbe {
                GatewayProbe(url: url, send: (1...3).map { GatewayProbe.request("get_instances_request", reqid: "\(name)-\($0)") }
                             + [GatewayProbe.request("get_nodes_request", reqid: "\(name)-nodes")], delay: 1, listen: 6)
            }
            async let first = probe("first").run()
            async let second = probe("second").run()
            // zeek-mgmt's request in the middle, on the same topic.
            try await Task.sleep(for: .milliseconds(1500))
            let mine = try await cluster.cli("get-instances")
            #expect(mine.status == 0)
            let (one, two) = try await (first, second)
            for (lines, own, other) in [(one, "first", "second"), (two, "second", "first")] {
                let received = lines.filter { $0.hasPrefix("RECV") }
                #expect(received.count == 4, "\(own): \(lines)")
                #expect(received.allSatisfy { $0.contains("\"\(own)-") }, "\(own) got only its own responses: \(lines)")
                #expect(!received.contains { $0.contains("\"\(other)-") }, "\(own): \(lines)")
            }

            // A second connection reusing a reqid the first one waits for (test_timeout with state
            // is answered after the controller's 10 s request timeout) is refused it.
            let waiting = GatewayProbe(url: url, send: [GatewayProbe.request("test_timeout_request", reqid: "taken", [["@data-type": "boolean", "data": true]])], listen: 4)
            async let holder = waiting.run()
            try await Task.sleep(for: .milliseconds(1500))
            let thief = try await GatewayProbe(url: url, send: [GatewayProbe.request("get_instances_request", reqid: "taken")], listen: 2).run()
            #expect(thief.contains { $0.contains("reqid taken is in use by another client") }, "\(thief)")
            _ = try await holder
        }
    }

    /// Frames larger than the Kafka message limit are refused with 1009; connections past the
    /// limit are closed at once; a silent connection is closed after the idle timeout; and the
    /// gateway keeps serving.
    @Test func limits() async throws {
        try ZeekClientTests.requireZeekClient()
        let port = try freeLoopbackPort()
        try await Cluster.run(instances: [], controllerArguments: [
            "--websocket", "127.0.0.1:\(port)", "--kafka-option", "message.max.bytes=200000",
            "--websocket-max-connections", "3", "--websocket-idle-timeout", "2",
        ]) { cluster in
            let controller = cluster.controllers[0]
            try await controller.waitForOutput("zeek-client WebSocket endpoint listening")
            let url = "ws://127.0.0.1:\(port)/v1/messages/json"

            var lines = try await GatewayProbe(url: url, send: [300_000], listen: 3).run()
            #expect(lines.contains("CLOSED 1009 message exceeds 200000 bytes (message.max.bytes)"), "\(lines)")
            try await controller.waitForOutput("sent a message larger than 200000 bytes, the Kafka message limit (message.max.bytes)")

            // Silent (not even answering pings) for longer than the idle timeout.
            lines = try await GatewayProbe(url: url, silent: 4, listen: 2).run()
            #expect(lines.contains { $0.hasPrefix("CLOSED 1000 idle") || $0.hasPrefix("GONE") }, "\(lines)")
            try await controller.waitForOutput("silent for 2.0 seconds (--websocket-idle-timeout)")
            // A client that answers the pings (websocket-client does while it reads) stays.
            lines = try await GatewayProbe(url: url, listen: 5).run()
            #expect(!lines.contains { $0.hasPrefix("CLOSED") || $0.hasPrefix("GONE") }, "\(lines)")

            // Three connections held open; a fourth is closed at once.
            let connected = controller.text.components(separatedBy: " connected").count
            let holders = (0..<3).map { _ in Task { try await GatewayProbe(url: url, listen: 6).run() } }
            let deadline = ContinuousClock.now + .seconds(20)
            while controller.text.components(separatedBy: " connected").count < connected + 3 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
            lines = try await GatewayProbe(url: url, listen: 0).run()
            #expect(lines.first?.hasPrefix("FAILED") == true, "\(lines)")
            try await controller.waitForOutput("are open (--websocket-max-connections)")
            for holder in holders { _ = try await holder.value }

            let result = try await ZeekClientTests.zeekClient(["get-instances"], port: port)
            #expect(result.status == 0 && result.stdout == "{}\n", "\(result.stdout)\(result.stderr)")
        }
    }

    /// Misconfigurations stop the controller at start with what to change.
    @Test func insecureOrBrokenSettingsAreRefusedAtStart() async throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("gateway-start-\(UUID().uuidString)")
        let pki = try await TestPKI(in: base)
        defer { pki.remove() }
        let clients = base.appendingPathComponent("clients").path
        try "alice deploy cert-cn=alice\nbob admin cert-cn=bob\n".write(toFile: clients, atomically: true, encoding: .utf8)
        let tls = ["--websocket-cert", pki.serverCertificate, "--websocket-key", pki.serverKey]
        for (arguments, message) in [
            (["--websocket", "0.0.0.0:2149"], "refusing to serve zeek-client in plaintext on 0.0.0.0:2149"),
            (["--websocket", "192.0.2.1:2149"], "refusing to serve zeek-client in plaintext on 192.0.2.1:2149"),
            (["--websocket", "127.0.0.1:2149"] + tls, "requires client certificates over TLS: give --websocket-ca"),
            (["--websocket", "2149", "--websocket-ca", pki.ca, "--websocket-clients", clients] + tls, "line 2: role admin is not one of read, deploy"),
            (["--websocket", "2149", "--websocket-no-client-certificates"] + tls, "without client certificates, clients authenticate with tokens: give --websocket-clients"),
            (["--websocket", "127.0.0.1:2149", "--websocket-allowed-origin", "*"], "--websocket-allowed-origin * would let any web page"),
        ] {
            let process = try ServiceProcess("controller-service", arguments: arguments)
            #expect(try await process.waitForExit() != 0)
            #expect(process.text.contains(message), "\(arguments): \(process.text)")
        }
    }
}
