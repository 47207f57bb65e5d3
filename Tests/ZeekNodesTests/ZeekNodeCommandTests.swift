import Foundation
import ManagementTypes
import MessageSigning
import Testing
@testable import ZeekNodes

@Suite("How a Zeek node is started")
struct ZeekNodeCommandTests {
    let zeek = ZeekInstallation(executable: "/opt/zeek/bin/zeek", scriptPath: ".:/opt/zeek/share/zeek:/opt/zeek/share/zeek/policy")
    let layout: [String: Supervisor.ClusterEndpoint] = [
        "manager": .init(role: .manager, host: IPAddress("10.0.0.1")!, port: ZeekPort(2200)),
        "logger": .init(role: .logger, host: IPAddress("10.0.0.1")!, port: ZeekPort(2201), metricsPort: ZeekPort(9001)),
        "worker-1": .init(role: .worker, host: IPAddress("fd00::2")!, interface: "af_packet::eth0"),
    ]

    @Test("cluster-layout.zeek names every node's type, address, port, manager and metrics port")
    func layoutFile() {
        let text = ZeekNodeCommand.layout(layout)
        #expect(text.contains("redef Cluster::manager_is_logger = F;"))
        #expect(text.contains("[\"manager\"] = [$node_type=Cluster::MANAGER, $ip=10.0.0.1, $p=2200/tcp],"))
        #expect(text.contains("[\"logger\"] = [$node_type=Cluster::LOGGER, $ip=10.0.0.1, $p=2201/tcp, $manager=\"manager\", $metrics_port=9001/tcp],"))
        #expect(text.contains("[\"worker-1\"] = [$node_type=Cluster::WORKER, $ip=[fd00::2], $manager=\"manager\"],"), "workers do not listen; IPv6 in brackets")
        #expect(ZeekNodeCommand.layout(["manager": layout["manager"]!]).contains("manager_is_logger = T"), "without a logger the manager logs")
    }

    @Test("capture, local, the node's scripts, its options and the node script, in Zeek's order; ZEEKPATH starts at the node")
    func commandLine() throws {
        let node = Supervisor.NodeConfig(name: "worker-1", interface: "af_packet::eth0", addlUserScripts: ["site-extra.zeek"], cluster: layout)
        let command = try ZeekNodeCommand(node: node, options: [.init(name: "AF_Packet::fanout_id", value: "21")], installation: zeek,
                                          nodeScript: "/nodes/.zeek-mgmt/zeek-mgmt-node.zeek", directory: "/nodes/worker-1", websocketPort: 40001)
        #expect(command.arguments == ["-i", "af_packet::eth0", "local", "site-extra.zeek", "/nodes/worker-1/zeek-mgmt-options.zeek",
                                      "/nodes/.zeek-mgmt/zeek-mgmt-node.zeek"])
        #expect(command.environment["ZEEKPATH"] == "/nodes/worker-1:.:/opt/zeek/share/zeek:/opt/zeek/share/zeek/policy")
        #expect(command.environment["ZEEK_MGMT_WEBSOCKET_PORT"] == "40001")
        #expect(command.files["zeek-mgmt-options.zeek"]?.contains("redef AF_Packet::fanout_id = 21;\n") == true)
        #expect(command.files["cluster-layout.zeek"] == ZeekNodeCommand.layout(layout))
    }

    @Test("bare mode leaves out local; a standalone node gets no layout; a pcap is read with -r")
    func bareAndOffline() throws {
        let node = Supervisor.NodeConfig(name: "reader", pcapFile: "/data/trace.pcap", bareMode: true, addlBaseScripts: ["base/init-default"])
        let command = try ZeekNodeCommand(node: node, options: [], installation: zeek, nodeScript: "/n.zeek", directory: "/d", websocketPort: nil)
        #expect(command.arguments == ["-b", "-r", "/data/trace.pcap", "base/init-default", "/n.zeek"])
        #expect(command.files.isEmpty)
        #expect(command.environment["ZEEK_MGMT_WEBSOCKET_PORT"] == nil, "a check never serves the relay")
    }

    @Test("options that are not one Zeek expression are refused", arguments: [
        Management.Option(name: "Foo::bar; event zeek_init()", value: "1"),
        Management.Option(name: "", value: "1"),
        Management.Option(name: "Foo::bar", value: "1; redef Other::x = 2"),
        Management.Option(name: "Foo::bar", value: "1\nredef Other::x = 2"),
        Management.Option(name: "Foo::bar", value: ""),
    ])
    func invalidOptions(option: Management.Option) {
        #expect(throws: ZeekNodeCommand.Invalid.self) { try ZeekNodeCommand.redefs([option]) }
    }

    @Test("script entries that Zeek would read as a flag or a redef are refused, naming the entry", arguments: [
        ("-e", "script \"-e\" begins with '-': script entries are script names or paths, never flags"),
        ("--exec=print 1", "script \"--exec=print 1\" begins with '-': script entries are script names or paths, never flags"),
        ("Site::local_nets=set()", "script \"Site::local_nets=set()\" contains '=', which Zeek reads as a redef, not as a script to load"),
        ("", "a script entry is empty"),
    ])
    func flagLikeScripts(script: String, error: String) {
        for node in [Supervisor.NodeConfig(name: "w", addlUserScripts: ["ok.zeek", script]), Supervisor.NodeConfig(name: "w", addlBaseScripts: [script])] {
            #expect(throws: ZeekNodeCommand.Invalid(description: error)) {
                try ZeekNodeCommand(node: node, options: [], installation: zeek, nodeScript: "/n.zeek", directory: "/d", websocketPort: nil)
            }
        }
    }

    /// Zeek loads only the first file after `--` and passes the rest to it as script
    /// arguments, so the scripts must not follow one: the refusal of `-` entries is what keeps
    /// them from being read as flags.
    @Test("scripts follow the flags without --, each a script name")
    func scriptsFollowTheFlags() throws {
        let node = Supervisor.NodeConfig(name: "w", interface: "eth0", addlBaseScripts: ["base/x"], addlUserScripts: ["user/e.zeek"])
        let command = try ZeekNodeCommand(node: node, options: [.init(name: "A::b", value: "1")], installation: zeek, nodeScript: "/n.zeek",
                                          directory: "/d", websocketPort: nil)
        #expect(!command.arguments.contains("--"))
        #expect(command.arguments == ["-i", "eth0", "base/x", "local", "user/e.zeek", "/d/zeek-mgmt-options.zeek", "/n.zeek"])
        #expect(command.arguments.dropFirst(2).allSatisfy { !$0.hasPrefix("-") })
    }

    @Test("literal option values are accepted", arguments: [
        "21", "-1", "0x1f", "3.5e-2", "T", "F", "\"text with (parens) and f(x)\"", "\"escaped \\\" quote(\"", "80/tcp", "10.0.0.1",
        "[fe80::1]", "10.0.0.0/8", "[2001:db8::]/32", "5 mins", "1.5sec", "AF_Packet::FANOUT_HASH", "set(1, 2)", "{ 10.0.0.0/8, 192.168.0.0/16 }",
        "vector(\"a\", \"b\")", "table([1] = \"one\")", "{ [\"a\"] = 1 }", "[$a=1, $b=\"x\"]", "(1 + 2) * 3", "-(5)", "Log::ROTATE",
    ])
    func literalOptions(value: String) throws {
        let text = try ZeekNodeCommand.redefs([.init(name: "Site::x", value: value)])
        #expect(text.contains("redef Site::x = \(value);\n"))
    }

    @Test("option values that call a function are refused, naming the option", arguments: [
        ("(system(\"touch /tmp/x\")==0)", "it calls system(...)"),
        ("system (\"id\")", "it calls system(...)"),
        ("set(system_env(\"x\", table()))", "it calls system_env(...)"),
        ("function() { }", "it calls function(...)"),
        ("(f)(1)", "it calls the value before '('"),
        ("fs[0](1)", "it calls the value before '('"),
        ("\"a\"(1)", "it calls the value before '('"),
        ("1 # comment", "it contains '#'"),
        ("@load x", "it contains '@'"),
        ("\"unterminated", "a string is not terminated"),
    ])
    func callsAreRefused(value: String, problem: String) throws {
        let error = try #require(throws: ZeekNodeCommand.Invalid.self) { try ZeekNodeCommand.redefs([.init(name: "Site::x", value: value)]) }
        #expect(error.description.hasPrefix("option Site::x value \"\(value)\" is not a literal: \(problem); options take literal values only"))
    }

    @Test("options Zeek runs through the shell are refused, whatever their literal", arguments: [
        "Notice::sendmail", "Log::default_rotation_postprocessor_cmd", "Site::my_cmd", "Log::default_rotation_postprocessors",
    ])
    func commandOptionsAreRefused(name: String) throws {
        let error = try #require(throws: ZeekNodeCommand.Invalid.self) { try ZeekNodeCommand.redefs([.init(name: name, value: "\"touch /tmp/x\"")]) }
        #expect(error.description.hasPrefix("option \(name) names a command Zeek runs through the shell"))
        #expect(try ZeekNodeCommand.redefs([.init(name: "Notice::mail_dest", value: "\"soc@example.org\"")]).contains("redef Notice::mail_dest"))
    }

    @Test("the node script is part of the executable and speaks the Node API")
    func nodeScript() {
        #expect(ZeekNodeScript.text.contains("event Management::Node::API::node_dispatch_request"))
        #expect(ZeekNodeScript.text.contains(ZeekNodeCommand.websocketPortVariable))
        #expect(ZeekNodeScript.text.contains("\"zeek-mgmt/node/\" + Cluster::node + \"/request\""))
        #expect(ZeekNodeScript.requestTopic(node: "worker-1") == "zeek-mgmt/node/worker-1/request")
    }
}

@Suite("Finding Zeek")
struct ZeekInstallationTests {
    @Test("each Zeek's default backend, as zeekctl chooses it: ZeroMQ from 8.1 on; Broker is refused where it cannot serve the relay", arguments: [
        ("8.0.10", ClusterBackend.Name.broker, false), ("8.1.0", .zeromq, false), ("9.0.2", .zeromq, false), ("9.1.0-dev", .zeromq, true),
        ("10.0.0", .zeromq, true), ("", .broker, false),
    ])
    func versions(version: String, backend: ClusterBackend.Name, brokerRefused: Bool) {
        #expect(ClusterBackend.defaultName(forZeek: version) == backend)
        let zeek = ZeekInstallation(executable: "/z/bin/zeek", scriptPath: ".", version: version)
        #expect((zeek.problem(with: .broker) != nil) == brokerRefused)
        if brokerRefused { #expect(zeek.problem(with: .broker)!.contains("deploy with backend = zeromq")) }
        #expect(zeek.problem(with: .zeromq)?.contains("has no ZeroMQ cluster backend") == true, "no ZeroMQ scripts on the script path \(zeek.scriptPath)")
    }

    @Test("the ZeroMQ layout: the manager runs the proxy on its address and the deployed ports; every node connects to it; IPv6 switched on")
    func zeromqSettings() throws {
        let cluster: [String: Supervisor.ClusterEndpoint] = [
            "manager": .init(role: .manager, host: IPAddress("2001:db8::1")!, port: ZeekPort(27760)),
            "logger": .init(role: .logger, host: IPAddress("192.0.2.2")!, port: ZeekPort(27761)),
            "worker-1": .init(role: .worker, host: IPAddress("192.0.2.3")!),
        ]
        let backend = ClusterBackend(name: .zeromq, xpubPort: ZeekPort(27758), xsubPort: ZeekPort(27759))
        let manager = try #require(try ZeekNodeCommand.backendSettings(.zeromq, for: Supervisor.NodeConfig(name: "manager", cluster: cluster, clusterBackend: backend)))
        #expect(manager.contains(#"listen_xpub_endpoint = "tcp://[2001:db8::1]:27758""#) && manager.contains(#"listen_xsub_endpoint = "tcp://[2001:db8::1]:27759""#))
        #expect(manager.contains(#"connect_xpub_endpoint = "tcp://[2001:db8::1]:27759""#) && manager.contains(#"connect_xsub_endpoint = "tcp://[2001:db8::1]:27758""#))
        #expect(manager.contains("@load frameworks/cluster/backend/zeromq") && manager.contains("ipv6 = T"))
        let worker = try #require(try ZeekNodeCommand.backendSettings(.zeromq, for: Supervisor.NodeConfig(name: "worker-1", cluster: cluster, clusterBackend: backend)))
        #expect(worker.contains(#"listen_xpub_endpoint = """#) && worker.contains(#"connect_xsub_endpoint = "tcp://[2001:db8::1]:27758""#), "only the manager listens")
        #expect(try ZeekNodeCommand.backendSettings(.broker, for: Supervisor.NodeConfig(name: "manager", cluster: cluster)) == nil)
        #expect(throws: ZeekNodeCommand.Invalid.self) { try ZeekNodeCommand.backendSettings(.zeromq, for: Supervisor.NodeConfig(name: "manager", cluster: cluster)) }
    }

    @Test("the host's WebSocket carrier: no cluster node, connected to the manager's proxy, knows the Node API, serves on 127.0.0.1; with client keys only where encrypted")
    func websocketCarrier() throws {
        let cluster: [String: Supervisor.ClusterEndpoint] = [
            "manager": .init(role: .manager, host: IPAddress("192.0.2.1")!, port: ZeekPort(27760)),
            "logger": .init(role: .logger, host: IPAddress("192.0.2.2")!, port: ZeekPort(27761)),
        ]
        let zeek9 = ZeekInstallation(executable: "/z/bin/zeek", scriptPath: "/z/share/zeek", version: "9.1.0-dev")
        var logger = Supervisor.NodeConfig(name: "logger", cluster: cluster,
                                           clusterBackend: ClusterBackend(name: .zeromq, encryption: .off, xpubPort: ZeekPort(27758), xsubPort: ZeekPort(27759)))
        let carrier = try ZeekNodeCommand.carrier(for: logger, installation: zeek9, directory: "/base/websocket-carrier", websocketPort: 4242)
        #expect(carrier.arguments == ["-b", "/base/websocket-carrier/zeek-mgmt-backend.zeek", "/base/websocket-carrier/zeek-mgmt-api.zeek",
                                      "policy/frameworks/cluster/websocket/server"])
        #expect(carrier.environment["ZEEK_WEBSOCKET_LISTEN_PORT"] == "4242" && carrier.environment["ZEEK_WEBSOCKET_LISTEN_ADDRESS"] == "127.0.0.1")
        #expect(carrier.environment["CLUSTER_NODE"] == nil, "no cluster node")
        let backend = try #require(carrier.files["zeek-mgmt-backend.zeek"])
        #expect(backend.contains(#"listen_xpub_endpoint = """#) && backend.contains(#"connect_xsub_endpoint = "tcp://192.0.2.1:27758""#), "\(backend)")
        #expect(carrier.files["zeek-mgmt-api.zeek"]?.contains("global node_dispatch_request: event") == true)

        // Encrypted: the client pair and the server's public key, never the server's secret.
        logger.clusterBackend?.encryption = .on
        let keys = CurveKeys(serverPublic: "SP", serverSecret: "SS", clientPublic: "CP", clientSecret: "CS")
        let encrypted = try ZeekNodeCommand.carrier(for: logger, installation: zeek9, directory: "/d", websocketPort: 1, curveKeys: keys)
        let secret = try #require(encrypted.secretFiles["zeek-mgmt-curve.zeek"])
        #expect(secret.contains(#"curve_client_secretkey = "CS""#) && !secret.contains("curve_server_secretkey"))
        #expect(encrypted.arguments.contains("/d/zeek-mgmt-curve.zeek"))
    }

    @Test("CURVE: on where the nodes span addresses (or asked for), with the keys a node needs in a secret file; refused without keys or on a Zeek before 8.2")
    func curve() throws {
        let share = FileManager.default.temporaryDirectory.appendingPathComponent("zeek-share-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: share) }
        try FileManager.default.createDirectory(at: share.appendingPathComponent("policy/frameworks/cluster/backend/zeromq"), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: share.appendingPathComponent("policy/frameworks/cluster/backend/zeromq/main.zeek").path, contents: Data())
        let zeek9 = ZeekInstallation(executable: "/z/bin/zeek", scriptPath: share.path, version: "9.1.0-dev")
        let oneHost: [String: Supervisor.ClusterEndpoint] = [
            "manager": .init(role: .manager, host: .loopback, port: ZeekPort(2)), "logger": .init(role: .logger, host: .loopback, port: ZeekPort(3)),
            "worker-1": .init(role: .worker, host: .loopback),
        ]
        var twoHosts = oneHost
        twoHosts["worker-1"] = .init(role: .worker, host: IPAddress("127.0.0.2")!)
        let backend = ClusterBackend(xpubPort: ZeekPort(5), xsubPort: ZeekPort(6))
        func command(_ name: String, _ cluster: [String: Supervisor.ClusterEndpoint], _ backend: ClusterBackend = backend, keys: CurveKeys? = nil,
                     zeek: ZeekInstallation = zeek9) throws -> ZeekNodeCommand {
            try ZeekNodeCommand(node: Supervisor.NodeConfig(name: name, cluster: cluster, clusterBackend: backend), options: [], installation: zeek,
                                nodeScript: "/n.zeek", directory: "/d", websocketPort: 1, curveKeys: keys)
        }
        #expect(try command("worker-1", oneHost).secretFiles.isEmpty, "one address: in the clear, as zeekctl")
        var off = backend
        off.encryption = .off
        #expect(try command("worker-1", twoHosts, off).secretFiles.isEmpty, "turned off explicitly")

        let keys = CurveKeys.generate()
        let worker = try command("worker-1", twoHosts, keys: keys)
        let text = try #require(worker.secretFiles[ZeekNodeCommand.curveFile])
        #expect(text.contains(keys.clientSecret) && text.contains(keys.serverPublic) && !text.contains(keys.serverSecret!), "a worker gets the client pair, not the server's secret")
        #expect(worker.arguments.contains("/d/\(ZeekNodeCommand.curveFile)") && worker.files[ZeekNodeCommand.curveFile] == nil)
        #expect(try command("logger", twoHosts, keys: keys).secretFiles[ZeekNodeCommand.curveFile]?.contains(keys.serverSecret!) == true, "a logger serves its log socket")

        #expect(throws: ZeekNodeCommand.Invalid.self) { try command("worker-1", twoHosts) }
        var workerOnly = keys
        workerOnly.serverSecret = nil
        #expect(throws: ZeekNodeCommand.Invalid.self) { try command("manager", twoHosts, keys: workerOnly) }
        var on = backend
        on.name = .zeromq
        on.encryption = .on
        let zeek81 = ZeekInstallation(executable: "/z/bin/zeek", scriptPath: share.path, version: "8.1.2")
        do {
            _ = try command("worker-1", oneHost, on, keys: keys, zeek: zeek81)
            Issue.record("Zeek 8.1 cannot encrypt")
        } catch {
            #expect("\(error)".contains("needs Zeek 8.2 or later; this host runs Zeek 8.1.2"))
        }
        // Zeek 8.0 has the ZeroMQ scripts, but the relay cannot reach its ZeroMQ nodes.
        let zeek80 = ZeekInstallation(executable: "/z/bin/zeek", scriptPath: share.path, version: "8.0.10")
        #expect(zeek80.problem(with: .zeromq)?.hasPrefix("Zeek 8.0.10 runs ZeroMQ nodes its relay cannot reach") == true)
        #expect(zeek81.problem(with: .zeromq) == nil)
    }

    @Test("a path that is not Zeek says what to pass")
    func missing() {
        #expect(throws: ZeekInstallation.NotFound.self) { try ZeekInstallation.locate("/nonexistent/zeek", environment: [:]) }
        #expect(throws: ZeekInstallation.NotFound.self) { try ZeekInstallation.locate("auto", environment: ["PATH": "/nonexistent"]) }
    }

    @Test("an install prefix, its bin/zeek and ZEEK_HOME find the same Zeek with its script path",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/opt/zeek-lts/bin/zeek"), "no test Zeek in /opt/zeek-lts (../shared/zeek/install)"))
    func installed() throws {
        let byPrefix = try ZeekInstallation.locate("/opt/zeek-lts", environment: [:])
        #expect(byPrefix.executable == "/opt/zeek-lts/bin/zeek")
        #expect(byPrefix.scriptPath.contains("/opt/zeek-lts/share/zeek"))
        #expect(byPrefix.version.hasPrefix("8."))
        #expect(try ZeekInstallation.locate("/opt/zeek-lts/bin/zeek", environment: [:]) == byPrefix)
        #expect(try ZeekInstallation.locate("auto", environment: ["ZEEK_HOME": "/opt/zeek-lts"]) == byPrefix)
    }
}

@Suite("The relay's messages to Zeek")
struct ZeekNodeRelayFrameTests {
    @Test("a dispatch goes to the node's request topic as Zeek's event, with its arguments in order")
    func dispatchFrame() throws {
        let frame = try ZeekNodeRelay.dispatchFrame(node: "worker-1", reqid: "r1", action: ["get_id_value", "Cluster::node"], nodes: ["worker-1"])
        #expect(frame == #"{"@data-type":"vector","data":[{"@data-type":"count","data":1},{"@data-type":"count","data":1},{"@data-type":"vector","data":[{"@data-type":"string","data":"Management::Node::API::node_dispatch_request"},{"@data-type":"vector","data":[{"@data-type":"string","data":"r1"},{"@data-type":"vector","data":[{"@data-type":"string","data":"get_id_value"},{"@data-type":"string","data":"Cluster::node"}]},{"@data-type":"set","data":[{"@data-type":"string","data":"worker-1"}]}]}]}],"topic":"zeek-mgmt/node/worker-1/request","type":"data-message"}"#)
    }
}
