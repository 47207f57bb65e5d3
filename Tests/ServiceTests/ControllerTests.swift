import Foundation
import LocalServers
import ManagementMessaging
import ManagementTypes
import Testing

/// controller-service with real agents, supervisors and nodes, driven through the zeek-mgmt CLI.
@Suite("Controller and CLI", .timeLimit(.minutes(3)))
struct ControllerTests {
    @Test func commandsEndToEnd() async throws {
        try await Cluster.run { cluster in

            var result = try await cluster.cli("get-instances")
            #expect(result.status == 0)
            #expect(result["agent-a"] != nil && result["agent-b"] != nil, "\(result.stdout)")

            result = try await cluster.cli("get-config")
            #expect(result.status == 1 && result.stderr == "error: no staged configuration available\n")
            result = try await cluster.cli("deploy")
            #expect(result.status == 1 && result["errors"] == ["no configuration available to deploy"])

            let path = try cluster.file(Cluster.example)
            result = try await cluster.cli("stage-config", path)
            #expect(result.status == 0 && result["errors"] == [], "\(result.stdout)\(result.stderr)")
            guard case .string(let id)? = result["results", "id"] else { Issue.record("no id: \(result.stdout)"); return }

            result = try await cluster.cli("get-config", "--as-json")
            #expect(result["id"] == .string(id))
            result = try await cluster.cli("get-config")
            #expect(result.stdout.hasPrefix("[instances]\nagent-a\nagent-b\n\n[logger]\ninstance = agent-a\nrole = LOGGER\n\n[manager]"), "staged as sent: \(result.stdout)")
            result = try await cluster.cli("get-config", "--deployed")
            #expect(result.status == 1 && result.stderr == "error: no deployed configuration available\n")

            result = try await cluster.cli("deploy")
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result["results", "id"] == .string(id))
            for (node, instance) in ["manager": "agent-a", "logger": "agent-a", "worker-1": "agent-b", "worker-2": "agent-b"] {
                #expect(result["results", "nodes", node] == ["instance": .string(instance), "success": true])
            }

            result = try await cluster.cli("get-config", "--deployed")
            #expect(result.stdout.contains("[manager]\ninstance = agent-a\nrole = MANAGER\nport = 2200\nmetrics_port = 9000\n"), "ports assigned: \(result.stdout)")

            result = try await cluster.cli("get-nodes")
            #expect(result.status == 0)
            #expect(result["results", "agent-a", "manager", "state"] == "RUNNING")
            #expect(result["results", "agent-a", "manager", "cluster_role"] == "MANAGER")
            #expect(result["results", "agent-a", "manager", "port"] == 2200)
            #expect(result["results", "agent-b", "worker-2", "state"] == "RUNNING")
            #expect(result["results", "agent-b", "agent-b", "mgmt_role"] == "AGENT")
            guard case .int(let managerPID)? = result["results", "agent-a", "manager", "pid"] else { Issue.record("no pid"); return }

            result = try await cluster.cli("get-id-value", "Cluster::node")
            #expect(result.status == 0)
            #expect(result["results"] == ["manager": "manager", "logger": "logger", "worker-1": "worker-1", "worker-2": "worker-2"])
            result = try await cluster.cli("get-id-value", "Cluster::node", "worker-1", "nosuchnode")
            #expect(result.status == 1)
            #expect(result["results"] == ["worker-1": "worker-1"])
            #expect(result["errors"] == [["source": "nosuchnode", "error": "unknown cluster node"]])
            result = try await cluster.cli("get-id-value", "No::such_id", "manager")
            #expect(result["errors"] == [["source": "manager", "error": "unknown id"]])

            result = try await cluster.cli("restart", "manager")
            #expect(result.status == 0 && result["results"] == ["manager": true], "\(result.stdout)")
            result = try await cluster.cli("get-nodes")
            #expect(result["results", "agent-a", "manager", "state"] == "RUNNING")
            #expect(result["results", "agent-a", "manager", "pid"] != .int(managerPID), "restarted with a new process")
            result = try await cluster.cli("restart", "foobar")
            #expect(result.status == 1 && result["errors"] == [["source": "foobar", "error": "unknown cluster node"]])

            // Deploying the same staged configuration again changes nothing; deploy-config restarts all.
            result = try await cluster.cli("deploy")
            #expect(result.status == 0 && result["results", "nodes"] == nil && result["results", "id"] == .string(id))
            result = try await cluster.cli("deploy-config", "-", stdin: "[instances]\nagent-a\nagent-b\n\n[solo]\ninstance = agent-b\nrole = manager\n")
            #expect(result.status == 0 && result["results", "nodes"] == ["solo": ["instance": "agent-b", "success": true]], "\(result.stdout)")
            result = try await cluster.cli("get-nodes")
            #expect(result["results", "agent-a", "manager"] == nil, "nodes no longer configured are stopped: \(result.stdout)")
            #expect(result["results", "agent-b", "solo", "state"] == "RUNNING")
        }
    }

    @Test func stageReportsEveryValidationError() async throws {
        try await Cluster.run(instances: ["agent-a"]) { cluster in
            let path = try cluster.file(Cluster.everyFileValidationError)
            let result = try await cluster.cli("stage-config", path)
            #expect(result.status == 1)
            #expect(result["errors"] == Cluster.everyFileValidationErrorMessages, "\(result.stdout)")
            #expect(result["results"] == [:])
            #expect(try await cluster.cli("get-config").status == 1, "nothing was staged")

            let broken = try await cluster.cli("stage-config", try cluster.file("[w]\nrole = janitor\n"))
            #expect(broken.status == 1 && broken.stdout.isEmpty)
            #expect(broken.stderr == "error: invalid node \"w\" configuration: role \"janitor\" is invalid\nerror: configuration has errors, not sending\n")
            let missing = try await cluster.cli("stage-config", "/nonexistent.ini")
            #expect(missing.status == 1 && missing.stderr == "error: please provide a cluster configuration file.\n")
        }
    }

    @Test func agentThatNeverAnswersTimesTheDeployOut() async throws {
        try await Cluster.run(instances: ["agent-a"], requestTimeout: 3) { cluster in
            let path = try cluster.file("[instances]\nagent-a\nagent-gone\n\n[w1]\ninstance = agent-a\nrole = worker\n\n[w2]\ninstance = agent-gone\nrole = worker\n")
            #expect(try await cluster.cli("stage-config", path).status == 0)
            let started = ContinuousClock.now
            let result = try await cluster.cli("deploy")
            #expect(result.status == 1)
            #expect(result["errors"] == ["request timed out"], "\(result.stdout)")
            #expect(ContinuousClock.now - started < .seconds(15), "answered by the controller's timeout, not the client's")
            let deployed = try await cluster.cli("get-config", "--deployed")
            #expect(deployed.status == 1, "a deploy that timed out leaves no deployed configuration")
            // test-timeout with state answers after the controller's timeout; without, not at all.
            let timeout = try await cluster.cli("test-timeout", "--with-state")
            #expect(timeout.status == 0 && timeout.json == ["error": "request timed out", "success": false])
            let silent = try await cluster.cli("test-timeout", "--set", "client.request_timeout_secs=1")
            #expect(silent.status == 1 && silent.stderr.hasPrefix("error: no response received"))
        }
    }

    @Test func restartedControllerKeepsItsConfigurations() async throws {
        try await Cluster.run { cluster in
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            let before = try await cluster.cli("get-nodes")
            let staged = try await cluster.cli("get-config", "--as-json")

            #expect(try await cluster.controllers[0].stop() == 0)
            try await cluster.startController()
            try await cluster.waitForInstances(["agent-a", "agent-b"])
            #expect(try await cluster.cli("get-config", "--as-json").stdout == staged.stdout)
            let deployed = try await cluster.cli("get-config", "--deployed", "--as-json")
            #expect(deployed["id"] == staged["id"])
            let after = try await cluster.cli("get-nodes")
            #expect(after.json == before.json, "same nodes, same pids: nothing was redeployed\n\(before.stdout)\n\(after.stdout)")
        }
    }

    @Test func standbyControllerTakesOver() async throws {
        try await Cluster.run(controllers: 1) { cluster in
            let standby = try await cluster.startController(waitUntilActive: false)
            // The standby's join rebalances the controller group (FailoverTests has what a client
            // sees meanwhile); this test is about the takeover that comes after.
            try await cluster.controllers[0].waitForOutput("kept the controller topics through a rebalance", timeout: .seconds(30))
            #expect(try await cluster.cli("deploy-config", try cluster.file(Cluster.example)).status == 0)
            let nodes = try await cluster.cli("get-nodes")

            // Whichever of the two is active now goes away without a goodbye.
            let active = cluster.controllers.first { $0.text.components(separatedBy: "controller active").count > $0.text.components(separatedBy: "standing by").count } ?? cluster.controllers[0]
            let survivor = active === standby ? cluster.controllers[0] : standby
            _ = try await active.stop(signal: SIGKILL)
            let observer = try await TestAgent(broker: cluster.broker, instance: "controller", name: "observer", consumes: [.controllerAPI.notify])
            defer { Task { await observer.shutdown() } }
            try await survivor.waitForOutput("controller active", timeout: .seconds(40))
            try await cluster.waitForInstances(["agent-a", "agent-b"])
            let deployed = try await cluster.cli("get-config", "--deployed")
            #expect(deployed.status == 0 && deployed.stdout.contains("[worker-2]"))
            #expect(try await cluster.cli("get-nodes").json == nodes.json, "the cluster kept running untouched")

            // The new active controller learns the nodes' states and says the cluster runs; a node
            // that crashes and comes back makes it say so again.
            try await observer.waitFor(ControllerAPI.NotifyClusterRunning.self, timeout: .seconds(30)) { $0.nodes == 4 }
            guard case .int(let worker)? = nodes["results", "agent-b", "worker-1", "pid"] else {
                Issue.record("no pid for worker-1: \(nodes.stdout)")
                return
            }
            kill(pid_t(worker), SIGKILL)
            try await observer.waitFor(ControllerAPI.NotifyClusterRunning.self, count: 2, timeout: .seconds(30))
        }
    }

    @Test func clientsAtOnceAndLostAgents() async throws {
        try await Cluster.run(agentTimeout: 3) { cluster in
            #expect(try await cluster.cli("stage-config", try cluster.file(Cluster.example)).status == 0)
            async let deploy = cluster.cli("deploy")
            async let nodes = cluster.cli("get-nodes")
            async let instances = cluster.cli("get-instances")
            let (deployed, listed, known) = try await (deploy, nodes, instances)
            #expect(deployed.status == 0, "\(deployed.stdout)")
            #expect(listed.status == 0 && known.status == 0)
            let again = try await cluster.cli("deploy")
            #expect(again.status == 0)

            // An agent that dies is lost after 3 s of silence (--agent-timeout) and reported.
            let observer = try await TestAgent(broker: cluster.broker, instance: "controller", name: "observer", consumes: [.controllerAPI.notify])
            _ = try await cluster.agent("agent-b")?.stop(signal: SIGKILL)
            try await cluster.waitForInstances(["agent-a"])
            try await observer.waitFor(AgentAPI.NotifyError.self) { $0.instance == "agent-b" && $0.msg.contains("lost") }
            let partial = try await cluster.cli("get-nodes")
            #expect(partial.status == 0 && partial["results", "agent-b"] == nil)
            await observer.shutdown()
        }
    }

    @Test func malformedAndHostileRequestsNeverStopTheController() async throws {
        try await Cluster.run(instances: []) { cluster in
            let client = try await TestAgent(broker: cluster.broker, instance: "controller", name: "hostile", consumes: [.controllerAPI, .legacyControllerAPI])
            // Stamped when sent: on a slow machine an old stamp would make the controller skip it as expired.
            func envelope(_ event: String, _ args: String) -> String {
                #"{"event": "\#(event)", "args": \#(args), "sender": "hostile", "target": "controller", "ts": \#(Date().timeIntervalSince1970), "api_version": 1}"#
            }
            // Wrong argument type, with a reqid: answered with an error.
            await client.expect("r1")
            try await client.sendRaw(envelope("Management::Controller::API::get_configuration_request", #"{"reqid": "r1", "deployed": "yes"}"#), to: .controllerAPI, target: "controller", broker: cluster.broker)
            let answer = try await client.response("r1").decode(ControllerAPI.GetConfigurationResponse.self).event
            #expect(!answer.result.success && answer.result.error?.contains("args.deployed") == true, "\(answer.result)")
            // A configuration of the wrong shape.
            await client.expect("r2")
            try await client.sendRaw(envelope("Management::Controller::API::stage_configuration_request", #"{"reqid": "r2", "config": {"id": 5, "nodes": "x"}}"#), to: .controllerAPI, target: "controller", broker: cluster.broker)
            let staged = try await client.response("r2").decode(ControllerAPI.StageConfigurationResponse.self).event
            #expect(staged.results.count == 1 && !staged.results[0].success)
            // Unknown events, bad reqids and non-JSON values are dropped.
            try await client.sendRaw(envelope("Management::Controller::API::self_destruct_request", #"{"reqid": "r3"}"#), to: .controllerAPI, target: "controller", broker: cluster.broker)
            try await client.sendRaw(envelope("Management::Controller::API::get_nodes_request", #"{"reqid": 17}"#), to: .controllerAPI, target: "controller", broker: cluster.broker)
            try await client.sendRaw("\u{0}not json", to: .controllerAPI, target: "controller", broker: cluster.broker)
            // A reqid of 900 kB: the response (which repeats it) is too large for Kafka, so it is logged and lost.
            try await client.sendRaw(envelope("Management::Controller::API::get_nodes_request", #"{"reqid": "\#(String(repeating: "x", count: 900_000))"}"#), to: .controllerAPI, target: "controller", broker: cluster.broker)
            // A long string inside a valid request is just data.
            let longName = String(repeating: "n", count: 500_000)
            let config = Management.Configuration(id: "big", instances: [Management.Instance(name: "i")], nodes: [Management.Node(name: longName, instance: "i", role: .worker)])
            let big = try await client.request(ControllerAPI.StageConfigurationRequest(reqid: "r4", config: config), on: .controllerAPI, target: "controller", expecting: ControllerAPI.StageConfigurationResponse.self)
            #expect(big.results.first?.success == true)

            // Still serving, also the legacy namespace.
            let instances = try await client.request(ClusterControllerAPI.GetInstancesRequest(reqid: "l1"), on: .legacyControllerAPI, target: "controller", expecting: ClusterControllerAPI.GetInstancesResponse.self)
            #expect(instances.result.success && instances.result.instance == "" && instances.result.data == [])
            let nodes = try await client.request(ClusterControllerAPI.GetNodesRequest(reqid: "l2"), on: .legacyControllerAPI, target: "controller", expecting: ClusterControllerAPI.GetNodesResponse.self)
            #expect(nodes.result.map(\.error) == ["no instances connected"])
            try await cluster.controllers[0].waitForOutput("ignoring unknown request Management::Controller::API::self_destruct_request")
            try await cluster.controllers[0].waitForOutput("skipping malformed message")
            await client.shutdown()
        }
    }

    @Test func legacyClientDeploysThroughSetConfiguration() async throws {
        try await Cluster.run(instances: ["agent-a"]) { cluster in
            let client = try await TestAgent(broker: cluster.broker, instance: "controller", name: "legacy-client", consumes: [.legacyControllerAPI])
            let config = ClusterController.Types.Configuration(id: "legacy-1", instances: [Management.Instance(name: "agent-a")], nodes: [
                ClusterController.Types.Node(name: "manager", instance: "agent-a", role: .manager, port: ZeekPort(2300)),
                ClusterController.Types.Node(name: "worker", instance: "agent-a", role: .worker),
            ])
            let response = try await client.request(ClusterControllerAPI.SetConfigurationRequest(reqid: "s1", config: config), on: .legacyControllerAPI,
                                                    target: "controller", expecting: ClusterControllerAPI.SetConfigurationResponse.self)
            #expect(response.result == [ClusterController.Types.Result(reqid: "s1", instance: "agent-a", success: true)])
            let nodes = try await client.request(ClusterControllerAPI.GetNodesRequest(reqid: "n1"), on: .legacyControllerAPI, target: "controller",
                                                 expecting: ClusterControllerAPI.GetNodesResponse.self)
            let statuses = try nodes.result.first?.data?.decode(as: [ClusterController.Types.NodeStatus].self) ?? []
            #expect(statuses.first { $0.node == "manager" }?.state == .running)
            #expect(statuses.first { $0.node == "agent-a" }?.mgmtRole == .agent)
            let modern = try await cluster.cli("get-config", "--deployed", "--as-json")
            #expect(modern["id"] == "legacy-1")
            await client.shutdown()
        }
    }

    @Test func settingsAndMonitor() async throws {
        try await Cluster.run(instances: ["agent-a"]) { cluster in
            let settingsFile = try cluster.file("[client]\npretty_json = false\n[controller]\nname = controller\n")
            let shown = try await cluster.cli("show-settings", "-c", settingsFile, "--set", "client.request_timeout_secs=7")
            #expect(shown.status == 0)
            #expect(shown.stdout == "[client]\nrequest_timeout_secs = 7\npretty_json = false\nverbosity = 0\n\n[controller]\nname = controller\n\n[kafka]\nbrokers = \(cluster.broker.address)\ntopic_prefix = \n")
            let compact = try await cluster.cli("get-instances", "-c", settingsFile)
            #expect(compact.stdout.hasPrefix("{\"agent-a\": {\"host\": "))
            let wrong = try await cluster.cli("get-instances", "--set", "client.colour=blue")
            #expect(wrong.status != 0 && wrong.stderr.contains("unknown setting client.colour"))

            let monitor = try ServiceProcess("zeek-mgmt", arguments: ["monitor", "--brokers", cluster.broker.address])
            try await monitor.waitForOutput("Management::Agent::API::notify_agent_hello")
            _ = try await cluster.cli("get-instances")
            try await monitor.waitForOutput("Management::Controller::API::get_instances_response")
            #expect(try await monitor.stop() == 0)
        }
    }

    @Test func twoClustersShareOneKafkaThroughTopicPrefixes() async throws {
        let siteA = try await Cluster.start(instances: ["agent-a"], prefix: "site-a.")
        let siteB = try await Cluster.start(instances: ["agent-a"], prefix: "site-b.", sharing: siteA.broker)
        do {
            #expect(try await siteA.cli("deploy-config", try siteA.file("[instances]\nagent-a\n\n[w1]\ninstance = agent-a\nrole = worker\n")).status == 0)
            #expect(try await siteB.cli("deploy-config", try siteB.file("[instances]\nagent-a\n\n[w2]\ninstance = agent-a\nrole = worker\n")).status == 0)
            let nodesA = try await siteA.cli("get-nodes"), nodesB = try await siteB.cli("get-nodes")
            #expect(nodesA["results", "agent-a", "w1", "state"] == "RUNNING" && nodesA["results", "agent-a", "w2"] == nil, "\(nodesA.stdout)")
            #expect(nodesB["results", "agent-a", "w2", "state"] == "RUNNING" && nodesB["results", "agent-a", "w1"] == nil, "\(nodesB.stdout)")
            #expect(try await siteA.cli("get-id-value", "Cluster::node")["results"] == ["w1": "w1"], "site A's nodes answer only site A")
        } catch {
            try? await siteB.stop()
            try? await siteA.stop()
            throw error
        }
        try await siteB.stop()
        try await siteA.stop()
    }
}
