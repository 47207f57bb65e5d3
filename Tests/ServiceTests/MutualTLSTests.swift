import Foundation
import LocalServers
import Testing

/// Debian's `stunnel4`, the TLS terminator of this tier: the embedded broker (Tansu 0.6.0)
/// cannot serve TLS itself, so stunnel takes the TLS connections, checks the client's
/// certificate against the CA, and hands the plaintext stream to the broker on loopback.
enum Stunnel {
    static let executable: URL? = ["/usr/bin/stunnel4", "/usr/bin/stunnel"].map { URL(fileURLWithPath: $0) }
        .first { FileManager.default.isExecutableFile(atPath: $0.path) }

    /// In CI (`CI` set, as `.ci/run` does) a missing stunnel4 is a failure: scripts/setup installs it.
    static let inCI = !(ProcessInfo.processInfo.environment["CI"] ?? "").isEmpty

    static let skipReason: Comment = "stunnel4 is not installed: run scripts/setup (it installs Debian's stunnel4); in CI (CI set) this test fails instead"

    /// Starts stunnel in the foreground, accepting TLS on 127.0.0.1:`port` from clients with a
    /// certificate `ca` signed (`verifyChain`, which requires one) and forwarding to `target`;
    /// returns once it accepts connections.
    static func start(port: Int, target: String, pki: TestPKI, in directory: URL) async throws -> ServiceProcess {
        guard let executable else { throw ServiceProcessError("stunnel4 is not installed; run scripts/setup") }
        let configuration = directory.appendingPathComponent("stunnel.conf")
        try """
            foreground = yes
            syslog = no
            pid =
            debug = info
            [kafka]
            accept = 127.0.0.1:\(port)
            connect = \(target)
            cert = \(pki.serverCertificate)
            key = \(pki.serverKey)
            CAfile = \(pki.ca)
            verifyChain = yes
            requireCert = yes
            """.write(to: configuration, atomically: true, encoding: .utf8)
        // stunnel handles SIGTERM itself: it needs the signal mask Foundation's Process would block.
        let stunnel = try ServiceProcess.withCleanSignalMask("stunnel", executable: executable, arguments: [configuration.path])
        try await stunnel.waitForOutput("Accepting new connections")
        return stunnel
    }
}

/// The whole cluster over Kafka's TLS with client certificates (librdkafka `security.protocol=SSL`):
/// the real services as separate processes, each with its own certificate from a Kafka options
/// file, and the broker reachable only through a TLS terminator that requires a certificate of
/// the cluster's CA. Clients without one, or trusting another CA, are refused with what to fix.
@Suite("Kafka over mutual TLS", .timeLimit(.minutes(3)), .enabled(if: Stunnel.executable != nil || Stunnel.inCI, Stunnel.skipReason))
struct MutualTLSTests {
    @Test func theClusterRunsOverMutualTLSAndRefusesOtherClients() async throws {
        guard Stunnel.executable != nil else { throw ServiceProcessError("stunnel4 is not installed; run scripts/setup") }
        try ZeekClientTests.requireZeekClient()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mtls-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }
        // The cluster's CA: the broker's (stunnel's) certificate, and one per principal.
        let pki = try await TestPKI(in: base.appendingPathComponent("pki"), clients: ["controller", "agent-a", "node-agent-a", "operator"])
        // Another CA, which the broker does not trust, with an operator certificate of its own.
        let rogue = try await TestPKI(in: base.appendingPathComponent("rogue"), clients: ["operator"])

        // The controller's key is encrypted; its password is in its options file only.
        let password = "pw-\(UUID().uuidString)"
        let lockedKey = base.appendingPathComponent("pki/controller-locked.key").path
        let locked = try await CLIResult.run(executable: URL(fileURLWithPath: "/usr/bin/openssl"),
                                             arguments: ["pkey", "-in", pki.key("controller"), "-out", lockedKey, "-aes256", "-passout", "env:KEY_PASSWORD"],
                                             environment: ["PATH": "/usr/bin:/bin", "KEY_PASSWORD": password])
        #expect(locked.status == 0, "\(locked.stderr)")

        /// A Kafka options file (mode 600), as a deployment mounts one from a secret.
        func optionsFile(_ name: String, _ properties: [String]) throws -> String {
            let path = base.appendingPathComponent("\(name).properties").path
            try (["# librdkafka properties of \(name)"] + properties).joined(separator: "\n").appending("\n")
                .write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
            return path
        }
        func tls(_ name: String, from authority: TestPKI = pki, trusting ca: String = pki.ca, key: String? = nil) -> [String] {
            ["security.protocol=SSL", "ssl.ca.location=\(ca)", "ssl.certificate.location=\(authority.certificate(name))",
             "ssl.key.location=\(key ?? authority.key(name))"]
        }
        let controllerOptions = try optionsFile("controller", tls("controller", key: lockedKey) + ["ssl.key.password=\(password)"])
        let hostOptions = try optionsFile("agent-a", tls("agent-a"))
        // The stand-in nodes' own certificate: the supervisor hands its nodes none of its credentials.
        let nodeOptions = try optionsFile("node-agent-a", tls("node-agent-a"))
        let operatorOptions = try optionsFile("operator", tls("operator"))

        // The broker advertises the terminator's address: every connection, bootstrap or not, is TLS.
        let tlsPort = try freeLoopbackPort(), websocketPort = try freeLoopbackPort()
        let broker = try await LocalBroker.start(advertisedAddress: "127.0.0.1:\(tlsPort)")
        defer { broker.stop() }
        let stunnel = try await Stunnel.start(port: tlsPort, target: "127.0.0.1:\(broker.port)", pki: pki, in: base)
        #expect(broker.address == "127.0.0.1:\(tlsPort)")

        let cluster = try await Cluster.start(
            instances: ["agent-a"], sharing: broker,
            controllerArguments: ["--kafka-options-file", controllerOptions, "--websocket", "127.0.0.1:\(websocketPort)"],
            supervisorArguments: ["--kafka-options-file", hostOptions, "--node-kafka-options-file", nodeOptions],
            agentArguments: ["--kafka-options-file", hostOptions],
            cliArguments: ["--kafka-options-file", operatorOptions])
        var outputs: [String] = []
        do {
            // Deploy over TLS; the stand-in nodes connect with their own certificate.
            let configuration = try cluster.file("""
                [manager]
                instance = agent-a
                role = manager

                [worker-1]
                instance = agent-a
                role = worker
                """)
            let deployed = try await cluster.cli("deploy-config", configuration)
            #expect(deployed.status == 0, "\(deployed.stdout)\(deployed.stderr)")
            try await cluster.waitUntilConverged()
            let nodes = try await cluster.cli("get-nodes")
            #expect(nodes.status == 0 && nodes["results", "agent-a", "manager", "state"] == "RUNNING"
                    && nodes["results", "agent-a", "worker-1", "state"] == "RUNNING", "\(nodes.stdout)\(nodes.stderr)")
            outputs += [deployed.stdout, deployed.stderr, nodes.stdout, nodes.stderr]

            // zeek-client through the controller's gateway, whose Kafka side is the controller's TLS.
            try await cluster.controllers[0].waitForOutput("zeek-client WebSocket endpoint listening")
            let zeekClient = try await ZeekClientTests.zeekClient(["get-nodes"], port: websocketPort)
            #expect(zeekClient.status == 0 && zeekClient["results", "agent-a", "worker-1", "state"] == "RUNNING",
                    "\(zeekClient.stdout)\(zeekClient.stderr)")

            // Refused, each with what to fix: no certificate; trusting another CA; a certificate
            // of another CA (which librdkafka does not even send: the broker names only its CA).
            func refused(_ name: String, _ properties: [String]) async throws -> CLIResult {
                try await CLIResult.run(["get-instances", "--kafka-options-file", try optionsFile(name, properties)], brokers: broker.address)
            }
            async let noCertificate = refused("no-certificate", ["security.protocol=SSL", "ssl.ca.location=\(pki.ca)"])
            async let otherCA = refused("trusts-another-ca", tls("operator", trusting: rogue.ca))
            async let otherCertificate = refused("certificate-of-another-ca", tls("operator", from: rogue))
            let refusals = try await [
                ("no certificate", noCertificate, ["the TLS handshake with the broker failed", "ssl.certificate.location", "ssl.key.location"]),
                ("another CA", otherCA, ["the TLS handshake with the broker failed", "does not trust the broker's certificate", "ssl.ca.location"]),
                ("a certificate of another CA", otherCertificate, ["the TLS handshake with the broker failed", "ssl.certificate.location"]),
            ]
            for (what, result, phrases) in refusals {
                #expect(result.status != 0, "\(what): \(result.stdout)")
                #expect(result.stdout.isEmpty, "\(what): \(result.stdout)")
                for phrase in phrases { #expect(result.stderr.contains(phrase), "\(what): \(result.stderr)") }
                #expect(!result.stderr.contains("Check --brokers and that the broker is running"), "\(what): the broker is running: \(result.stderr)")
                outputs += [result.stderr]
            }
            try await stunnel.waitForOutput("peer did not return a certificate")
            // The cluster never noticed.
            let instances = try await cluster.cli("get-instances")
            #expect(instances.status == 0 && instances["agent-a"] != nil, "\(instances.stdout)\(instances.stderr)")

            // No private key and no password in any process's command line or output.
            var secrets = [password]
            for keyFile in [pki.serverKey, pki.key("controller"), lockedKey, pki.key("agent-a"), pki.key("node-agent-a"), pki.key("operator"),
                            LocalKeys.shared.controller, LocalKeys.shared.host("agent-a"), LocalKeys.shared.deployer] {
                let pem = try String(contentsOfFile: keyFile, encoding: .utf8)
                secrets += pem.split(separator: "\n").filter { !$0.hasPrefix("-----") && $0.count >= 16 }.map(String.init)
            }
            let services = [cluster.controllers[0], cluster.agent("agent-a"), cluster.supervisor("agent-a"), stunnel].compactMap { $0 }
            let pids = services.map { Int($0.pid) } + cluster.nodeProcesses().sorted()
            #expect(pids.count == 6, "controller, agent, supervisor, stunnel and two nodes: \(pids)")
            let commandLines = pids.map { pid in
                String(decoding: FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data(), as: UTF8.self)
                    .replacingOccurrences(of: "\0", with: " ")
            }
            let texts = commandLines + services.map(\.text) + outputs + [zeekClient.stdout, zeekClient.stderr]
            for secret in secrets {
                #expect(!texts.contains { $0.contains(secret) }, "a secret appears in a command line or output")
            }
            #expect(commandLines.contains { $0.contains("--kafka-options-file \(controllerOptions)") }, "the options go by file: \(commandLines)")
        } catch {
            try? await cluster.stop()
            _ = try? await stunnel.stop()
            throw error
        }
        try await cluster.stop()
        let status = try await stunnel.stop()
        #expect(status == 0 || status == 128 + SIGTERM, "stunnel exited with \(status):\n\(stunnel.text)")
    }
}
