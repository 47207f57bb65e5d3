import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import LocalServers
import ManagementMessaging
import ManagementTypes
import Testing

/// The topology of compose/docker-compose.yml without Docker: the services started as the
/// compose file starts them (its commands, its environment as `docker-compose config` resolves
/// it), with the local broker and a local Pushgateway in place of Kafka and the Pushgateway image.
/// The image runs real Zeek for every node; here the stand-in runs, as this is about the wiring.
@Suite("Compose topology", .timeLimit(.minutes(3)))
struct ComposeTopologyTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func threeHostsDeployTheExampleConfiguration() async throws {
        let root = Self.root
        let compose = try ComposeFile.resolve(root.appendingPathComponent("compose/docker-compose.yml"))
        #expect(compose.command(of: "controller") == ["controller-service", "--request-timeout", "60"])
        #expect(compose.command(of: "agent") == ["zeek-mgmt-host"])

        let broker = try await LocalBroker.start()
        let pushgateway = try await LocalPushgateway.start()
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("compose-test-\(UUID().uuidString)")
        defer {
            broker.stop()
            pushgateway.stop()
            try? FileManager.default.removeItem(at: base)
        }
        let zeekClientPort = try freeLoopbackPort(), discoveryPort = try freeLoopbackPort()
        // The gateway's secrets, made as the README says: a server certificate, the client CA,
        // and a clients file naming the operator's certificate.
        let pki = try await TestPKI(in: base.appendingPathComponent("gateway"), clients: ["operator"])
        let clients = base.appendingPathComponent("gateway/clients").path
        try "operator deploy cert-sha256=\(try await pki.fingerprint("operator"))\n".write(toFile: clients, atomically: true, encoding: .utf8)
        // The signing keys, as make-keys makes them with zeek-mgmt keygen: the controller's, the
        // gateway's operator key, the operator's (this test's zeek-mgmt), and three hosts' keys
        // provisioned ahead (compose mounts one with ZEEK_MGMT_KEY_FILE); all in the trust file.
        let keys = base.appendingPathComponent("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var trustLines = ["# made like compose/make-keys"]
        func keygen(_ file: String, kind: String, name: String) async throws -> String {
            let path = keys.appendingPathComponent(file).path
            let made = try await CLIResult.run(executable: ServiceProcess.binDirectory.appendingPathComponent("zeek-mgmt"),
                                               arguments: ["keygen", path, "--kind", kind, "--name", name])
            #expect(made.status == 0 && made.stdout.hasPrefix("\(kind) \(name) "), "\(made.stdout)\(made.stderr)")
            trustLines.append(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
            return path
        }
        let controllerKey = try await keygen("controller.pem", kind: "controller", name: "controller")
        let gatewayKey = try await keygen("gateway.pem", kind: "deploy", name: "zeek-client-gateway")
        let operatorKey = try await keygen("operator.pem", kind: "deploy", name: "operator")
        var hostKeys: [String] = []
        for replica in 1...3 {
            hostKeys.append(try await keygen("zeek-agent-\(replica).pem", kind: "host", name: "zeek-agent-\(replica)"))
        }
        let trust = keys.appendingPathComponent("trust").path
        try (trustLines.joined(separator: "\n") + "\n").write(toFile: trust, atomically: true, encoding: .utf8)
        // Each service's Kafka login, as make-kafka-users makes them, but without SASL: the local
        // broker takes none (the files' paths show who reads which).
        var logins: [String: String] = [:]
        for service in ["controller", "agent", "supervisor", "operator"] {
            let path = base.appendingPathComponent("kafka-\(service).properties").path
            try "# stands in for compose/kafka/\(service).properties: the local broker takes no SASL login\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
            logins["kafka-\(service)"] = path
        }
        // The cluster's CURVE keys, as make-zeromq-keys makes them with zeek-mgmt zeromq-keys; compose
        // mounts the four files as secrets into /run/secrets/zeromq.
        let curveKeys = base.appendingPathComponent("zeromq")
        let madeCurveKeys = try await CLIResult.run(executable: ServiceProcess.binDirectory.appendingPathComponent("zeek-mgmt"),
                                                    arguments: ["zeromq-keys", curveKeys.path])
        #expect(madeCurveKeys.status == 0, "\(madeCurveKeys.stdout)\(madeCurveKeys.stderr)")
        let secrets = ["gateway-cert": pki.serverCertificate, "gateway-key": pki.serverKey, "gateway-client-ca": pki.ca, "gateway-clients": clients,
                       "trust": trust, "controller-key": controllerKey, "gateway-operator-key": gatewayKey, "operator-key": operatorKey]
            .merging(logins) { $1 }
        func secretNames(of service: String) -> Set<String> {
            Set(compose.block("secrets", of: service).filter { !$0.hasPrefix("target: ") }.map { $0.replacing("- source: ", with: "") })
        }
        #expect(secretNames(of: "controller") == Set(secrets.keys).subtracting(["operator-key", "kafka-agent", "kafka-supervisor", "kafka-operator"]))
        #expect(secretNames(of: "agent") == ["trust", "kafka-agent", "kafka-supervisor",
                                             "zeromq-server-public", "zeromq-server-secret", "zeromq-client-public", "zeromq-client-secret"])
        #expect(compose.block("secrets", of: "agent").filter { $0.hasPrefix("target: ") }
                == ["server.public", "server.secret", "client.public", "client.secret"].map { "target: /run/secrets/zeromq/\($0)" })
        #expect(secretNames(of: "client") == ["trust", "operator-key", "kafka-operator"])
        /// The compose environment of `service`, pointed at the local servers and secrets.
        func environment(_ service: String) -> [String: String] {
            compose.environment(of: service).mapValues { value in
                var value = value.replacing("kafka:9092", with: broker.address).replacing("http://pushgateway:9091", with: pushgateway.url)
                    .replacing("0.0.0.0:2149", with: "127.0.0.1:\(zeekClientPort)")
                    .replacing("0.0.0.0:9990", with: "127.0.0.1:\(discoveryPort)")
                    .replacing("/run/secrets/zeromq", with: curveKeys.path)
                for (name, path) in secrets { value = value.replacing("/run/secrets/\(name)", with: path) }
                return value
            }
        }
        #expect(environment("controller")["ZEEK_MGMT_WEBSOCKET_CA"] == pki.ca)
        // Prometheus finds the Zeek nodes through the controller's service discovery, on the
        // compose network only.
        #expect(compose.environment(of: "controller")["ZEEK_MGMT_METRICS_DISCOVERY"] == "0.0.0.0:9990")
        #expect(compose.block("ports", of: "controller").allSatisfy { !$0.contains("9990") })
        let prometheusConfiguration = try String(contentsOf: root.appendingPathComponent("compose/prometheus.yml"), encoding: .utf8)
        #expect(prometheusConfiguration.contains("- url: http://controller:9990/services.json"))
        // Every process signs: the controller with its key (and the gateway's), each host with its own.
        #expect(environment("controller")["ZEEK_MGMT_KEY_FILE"] == controllerKey)
        #expect(environment("controller")["ZEEK_MGMT_GATEWAY_KEY_FILE"] == gatewayKey)
        #expect(environment("controller")["ZEEK_MGMT_TRUST_FILE"] == trust)
        #expect(environment("agent")["ZEEK_MGMT_TRUST_FILE"] == trust)
        #expect(environment("agent")["ZEEK_MGMT_KEY_FILE"] == nil)
        #expect(environment("agent")["ZEEK_MGMT_KEY_DIR"] == "/var/lib/zeek-mgmt/keys")
        #expect(compose.block("volumes", of: "agent").contains { $0.hasPrefix("- zeek-host-keys:/var/lib/zeek-mgmt/keys") })
        #expect(environment("client")["ZEEK_MGMT_KEY_FILE"] == operatorKey)
        // Each process its own Kafka login.
        #expect(environment("controller")["ZEEK_MGMT_KAFKA_OPTIONS_FILE"] == logins["kafka-controller"])
        #expect(environment("agent")["ZEEK_MGMT_AGENT_KAFKA_OPTIONS_FILE"] == logins["kafka-agent"])
        #expect(environment("agent")["ZEEK_MGMT_SUPERVISOR_KAFKA_OPTIONS_FILE"] == logins["kafka-supervisor"])
        #expect(environment("client")["ZEEK_MGMT_KAFKA_OPTIONS_FILE"] == logins["kafka-operator"])
        // The CURVE keys: a directory, for the agent replicas alone.
        #expect(environment("agent")["ZEEK_MGMT_ZEROMQ_KEYS"] == curveKeys.path)
        #expect(environment("controller")["ZEEK_MGMT_ZEROMQ_KEYS"] == nil && environment("client")["ZEEK_MGMT_ZEROMQ_KEYS"] == nil)
        #expect(environment("agent")["ZEEK_MGMT_AGENT_ARGS"] == "--pushgateway \(pushgateway.url) --request-timeout 20")
        // Node directories (Zeek's logs) on the zeek-logs volume; which Zeek runs is the image's choice.
        #expect(environment("agent")["ZEEK_MGMT_BASE_DIR"] == "/var/lib/zeek-mgmt/nodes")
        #expect(compose.block("volumes", of: "agent").contains { $0.hasPrefix("- zeek-logs:/var/lib/zeek-mgmt/nodes") })
        #expect(environment("agent")["ZEEK_MGMT_ZEEK"] == nil)

        let controller = try ServiceProcess("controller-service", arguments: Array(compose.command(of: "controller").dropFirst()),
                                            environment: environment("controller"))
        let hostKeyDirectory = base.appendingPathComponent("host-keys")
        /// Replica `replica` as compose starts it, with the host key `key` mounted, or none.
        func startHost(_ replica: Int, key: String?) throws -> ServiceProcess {
            // Compose names the replicas zeek-agent-<n>; zeek-mgmt-host finds that name by DNS.
            try ServiceProcess.withCleanSignalMask(
                "zeek-mgmt-host", executable: root.appendingPathComponent("compose/zeek-mgmt-host"), arguments: [],
                environment: environment("agent").merging([
                "ZEEK_MGMT_INSTANCE": "zeek-agent-\(replica)",
                "ZEEK_MGMT_BIN": ServiceProcess.binDirectory.path,
                "ZEEK_MGMT_BASE_DIR": base.appendingPathComponent("host-\(replica)").path,
                "ZEEK_MGMT_HOST_PIDS": base.appendingPathComponent("host-\(replica).pids").path,
                // The zeek-host-keys volume.
                "ZEEK_MGMT_KEY_DIR": hostKeyDirectory.path,
                "ZEEK_MGMT_KEY_FILE": key ?? "",
                // The stand-in, even where the test's own environment names a Zeek.
                "ZEEK_MGMT_ZEEK": "",
                ]) { $1 }
            )
        }
        var hosts: [ServiceProcess] = []
        for replica in 1...3 {
            hosts.append(try startHost(replica, key: hostKeys[replica - 1]))
        }
        try await controller.waitForOutput("controller active")
        for host in hosts { try await host.waitForOutput("agent-service ready") }

        // zeek-mgmt as the operator, with the operator's key and the trust file.
        let cli = { (arguments: [String]) in
            try await CLIResult.run(executable: ServiceProcess.binDirectory.appendingPathComponent("zeek-mgmt"),
                                    arguments: arguments + ["--brokers", broker.address],
                                    environment: ProcessInfo.processInfo.environment.merging(["ZEEK_MGMT_KEY_FILE": operatorKey, "ZEEK_MGMT_TRUST_FILE": trust]) { $1 })
        }
        var instances = try await cli(["get-instances"])
        for _ in 0..<100 where instances.json.map({ if case .object(let o) = $0 { o.count } else { 0 } }) != 3 {
            try await Task.sleep(for: .milliseconds(200))
            instances = try await cli(["get-instances"])
        }
        #expect(instances["zeek-agent-3"] != nil, "\(instances.stdout)")

        // The controller's compose health check: zeek-mgmt in its container, signing as the gateway's operator.
        let healthTest = compose.block("healthcheck", of: "controller").drop { $0 != "test:" }.dropFirst()
            .prefix { $0.hasPrefix("- ") }.map { String($0.dropFirst(2)) }
        #expect(Array(healthTest.prefix(2)) == ["CMD", "zeek-mgmt"])
        let health = try await CLIResult.run(executable: ServiceProcess.binDirectory.appendingPathComponent("zeek-mgmt"),
                                             arguments: healthTest.dropFirst(2).map { argument in
                                                 secrets.reduce(argument) { $0.replacing("/run/secrets/\($1.key)", with: $1.value) }
                                             } + ["--brokers", broker.address],
                                             environment: ProcessInfo.processInfo.environment.merging(environment("controller")) { $1 })
        #expect(health.status == 0, "\(health.stdout)\(health.stderr)")

        // A fourth replica without a key of its own makes one on the key volume at its first start
        // and starts, but the controller ignores it until an operator approves it.
        let unknown = try startHost(4, key: nil)
        hosts.append(unknown)
        try await unknown.waitForOutput("agent-service ready")
        let madeKey = hostKeyDirectory.appendingPathComponent("zeek-agent-4.pem").path
        #expect(unknown.text.contains("made the host key \(madeKey)"), "\(unknown.text)")
        #expect(unknown.text.contains("host zeek-agent-4 MCow"), "\(unknown.text)")
        #expect(unknown.text.contains("zeek-mgmt enroll zeek-agent-4"), "\(unknown.text)")
        let keyMode = try FileManager.default.attributesOfItem(atPath: madeKey)[.posixPermissions] as? Int
        let directoryMode = try FileManager.default.attributesOfItem(atPath: hostKeyDirectory.path)[.posixPermissions] as? Int
        #expect(keyMode == 0o600 && directoryMode == 0o700)
        // Several heartbeats (5 s) later it is still not an instance of the controller.
        try await Task.sleep(for: .seconds(6))
        instances = try await cli(["get-instances"])
        #expect(instances["zeek-agent-3"] != nil && instances["zeek-agent-4"] == nil, "\(instances.stdout)")

        let deployed = try await cli(["deploy-config", root.appendingPathComponent("compose/cluster.ini").path, "--set", "client.request_timeout_secs=90"])
        #expect(deployed.status == 0, "\(deployed.stdout)\(deployed.stderr)")
        let nodes = try await cli(["get-nodes"])
        for (node, instance) in ["manager": "zeek-agent-1", "logger": "zeek-agent-1", "proxy": "zeek-agent-1", "worker-1": "zeek-agent-2", "worker-2": "zeek-agent-2"] {
            #expect(nodes["results", instance, node, "state"] == "RUNNING", "\(node): \(nodes.stdout)")
        }
        #expect(nodes["results", "zeek-agent-3"] != nil && nodes["results", "zeek-agent-3", "manager"] == nil, "the third host runs no nodes")
        // zeek-mgmt-host keeps each replica's nodes under its instance name on the shared volume.
        for (node, replica) in ["manager": 1, "logger": 1, "worker-1": 2] {
            let directory = base.appendingPathComponent("host-\(replica)/zeek-agent-\(replica)/\(node)")
            #expect(FileManager.default.fileExists(atPath: directory.path), "\(directory.path)")
        }
        // zeek-client through the controller's published WebSocket port, with its certificate.
        let zeekClient = try await ZeekClientTests.zeekClient(["get-nodes"], port: zeekClientPort, settings: [
            "ssl.enable=true", "ssl.certificate=\(pki.certificate("operator"))", "ssl.keyfile=\(pki.key("operator"))", "ssl.cafile=\(pki.ca)",
        ])
        #expect(zeekClient.status == 0 && zeekClient.stdout == nodes.stdout, "\(zeekClient.stdout)\(zeekClient.stderr)")
        // Prometheus's view: every node, through the controller's service discovery.
        var discovered = ""
        for _ in 0..<100 where ["manager", "logger", "proxy", "worker-1", "worker-2"].contains(where: { !discovered.contains(#""node":"\#($0)""#) }) {
            if let (data, _) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(discoveryPort)/services.json")!) {
                discovered = String(decoding: data, as: UTF8.self)
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        for node in ["manager", "logger", "proxy", "worker-1", "worker-2"] {
            #expect(discovered.contains(#""node":"\#(node)""#), "\(node): \(discovered)")
        }

        // zeek-mgmt-host gives its supervisor and its agent each its own Kafka login, and neither the other's.
        let pids = try String(contentsOfFile: base.appendingPathComponent("host-1.pids").path, encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        #expect(pids.count == 2)
        if pids.count == 2 {
            let (supervisor, agent) = (ProcessCredentials(pid: pids[0]).environment, ProcessCredentials(pid: pids[1]).environment)
            #expect(supervisor["ZEEK_MGMT_KAFKA_OPTIONS_FILE"] == logins["kafka-supervisor"], "\(supervisor)")
            #expect(agent["ZEEK_MGMT_KAFKA_OPTIONS_FILE"] == logins["kafka-agent"], "\(agent)")
            for environment in [supervisor, agent] {
                #expect(environment["ZEEK_MGMT_AGENT_KAFKA_OPTIONS_FILE"] == nil && environment["ZEEK_MGMT_SUPERVISOR_KAFKA_OPTIONS_FILE"] == nil)
            }
            // The CURVE keys' directory is the supervisor's alone.
            #expect(supervisor["ZEEK_MGMT_ZEROMQ_KEYS"] == curveKeys.path, "\(supervisor)")
            #expect(agent["ZEEK_MGMT_ZEROMQ_KEYS"] == nil, "\(agent)")
        }

        // The compose health check of an agent replica.
        let check = Process()
        check.executableURL = root.appendingPathComponent("compose/zeek-mgmt-host")
        check.arguments = ["--check"]
        check.environment = ["ZEEK_MGMT_HOST_PIDS": base.appendingPathComponent("host-1.pids").path, "PATH": "/usr/bin:/bin"]
        try check.run()
        #expect(check.waitForExit() == 0)

        for host in hosts { #expect(try await host.stop() == 0, "\(host.text)") }
        #expect(try await controller.stop() == 0)
    }
}

/// A compose file as `docker-compose config` resolves it (anchors merged, .env applied).
struct ComposeFile {
    let resolved: String

    static func resolve(_ file: URL) throws -> ComposeFile {
        try resolve([file])
    }

    /// `files` merged in order, as `docker-compose -f FILE... config` merges them.
    static func resolve(_ files: [URL]) throws -> ComposeFile {
        let file = files[0]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["docker-compose"] + files.flatMap { ["-f", $0.path] } + ["config"]
        process.currentDirectoryURL = file.deletingLastPathComponent()
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let reader = PipeReader(output)
        let status = process.waitForExit()
        while !reader.isClosed { Thread.sleep(forTimeInterval: 0.005) }
        guard status == 0 else {
            throw ServiceProcessError("docker-compose config failed for \(file.path); is docker-compose installed (scripts/setup)?")
        }
        let data = Data(reader.text.utf8)
        return ComposeFile(resolved: String(decoding: data, as: UTF8.self))
    }

    /// The lines of one key of a service, without their indentation.
    func block(_ key: String, of service: String) -> [String] {
        let lines = resolved.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(of: "  \(service):"),
              let keyLine = lines[(start + 1)...].prefix(while: { $0.hasPrefix("    ") || $0.isEmpty }).firstIndex(of: "    \(key):") else { return [] }
        return lines[(keyLine + 1)...].prefix(while: { $0.hasPrefix("      ") || $0.hasPrefix("    - ") }).map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func environment(of service: String) -> [String: String] {
        // A long plain value is folded onto the next lines, which carry no `KEY:` of their own.
        var entries: [(key: String, value: String)] = []
        for line in block("environment", of: service) {
            if let colon = line.firstIndex(of: ":"), line[..<colon].allSatisfy({ $0.isUppercase || $0.isNumber || $0 == "_" }) {
                entries.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            } else if !entries.isEmpty {
                entries[entries.count - 1].value += " " + line
            }
        }
        return Dictionary(entries.map { entry in
            var value = entry.value
            if value == "''" { value = "" }
            if value.hasPrefix("'") && value.hasSuffix("'") { value = String(value.dropFirst().dropLast()) }
            return (entry.key, value)
        }, uniquingKeysWith: { $1 })
    }

    func command(of service: String) -> [String] {
        block("command", of: service).map { line in
            let item = line.dropFirst(2)
            return item.hasPrefix("'") && item.hasSuffix("'") ? String(item.dropFirst().dropLast()) : String(item)
        }
    }
}
