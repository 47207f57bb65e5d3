import Foundation
import LocalServers
import ManagementMessaging
import ManagementTypes
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// supervisor-service and cluster-node as real processes over a real broker.
@Suite("Supervisor", .timeLimit(.minutes(3)))
struct SupervisorTests {
    /// A broker, a supervisor for instance `agent-t`, and a client playing its agent.
    struct Host {
        let broker: LocalBroker
        let supervisor: ServiceProcess
        let agent: TestAgent
        let baseDirectory: URL
        /// The node program written for this host (`nodeScript`), removed with the host.
        let nodeScript: URL?

        /// With `nodeScript`, the nodes are that shell script (real processes for failure cases)
        /// instead of the stand-in.
        static func start(nodeScript body: String? = nil, extraArguments: [String] = []) async throws -> Host {
            let broker = try await LocalBroker.start()
            let name = "supervisor-test-\(UUID().uuidString)"
            let base = FileManager.default.temporaryDirectory.appendingPathComponent(name)
            var arguments = ["--brokers", broker.address, "--instance", "agent-t", "--base-dir", base.path, "--kill-after", "3", "--stop-interval", "1"]
            var script: URL?
            if let body {
                let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-node.sh")
                try "#!/bin/sh\n\(body)\n".write(to: url, atomically: true, encoding: .utf8)
                chmod(url.path, 0o755)
                arguments += ["--node-command", url.path]
                script = url
            }
            let supervisor = try ServiceProcess("supervisor-service", arguments: arguments + extraArguments)
            try await supervisor.waitForOutput("supervisor-service ready")
            let agent = try await TestAgent(broker: broker, instance: "agent-t")
            return Host(broker: broker, supervisor: supervisor, agent: agent, baseDirectory: base, nodeScript: script)
        }

        func create(_ config: Supervisor.NodeConfig) async throws -> String {
            try await agent.request(SupervisorControl.CreateRequest(reqid: reqid(), node: config), expecting: SupervisorControl.CreateResponse.self).result
        }

        func status(_ node: String = "") async throws -> Supervisor.Status {
            try await agent.request(SupervisorControl.StatusRequest(reqid: reqid(), node: node), expecting: SupervisorControl.StatusResponse.self).result
        }

        func pid(of node: String) async throws -> Int {
            guard let pid = try await status(node).nodes[node]?.pid else { throw ServiceProcessError("no pid for \(node)") }
            return pid
        }

        func stop() async throws {
            if try await supervisor.stop() != 0 { Issue.record("supervisor exit status non-zero:\n\(supervisor.text)") }
            await agent.shutdown()
            broker.stop()
            try? FileManager.default.removeItem(at: baseDirectory)
            if let nodeScript { try? FileManager.default.removeItem(at: nodeScript) }
        }
    }

    static let layout: [String: Supervisor.ClusterEndpoint] = [
        "manager": Supervisor.ClusterEndpoint(role: .manager, host: .loopback, port: ZeekPort(2200)),
        "worker-1": Supervisor.ClusterEndpoint(role: .worker, host: .loopback),
        "worker-2": Supervisor.ClusterEndpoint(role: .worker, host: .loopback, interface: "eth0"),
    ]

    @Test func createStatusRestartDestroy() async throws {
        let host = try await Host.start()
        #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
        try await host.agent.waitFor(NodeAPI.NodeHello.self) { $0.node == "worker-1" }
        let pid = try await host.pid(of: "worker-1")
        #expect(isAlive(pid))
        #expect(host.agent.all(SupervisorNotification.NodeStatus.self).map(\.pid) == [pid])
        #expect(try await host.status("nope").nodes.isEmpty)
        #expect(try await host.status().nodes["worker-1"]?.node.cluster == Self.layout)

        let restarted = try await host.agent.request(SupervisorControl.RestartRequest(reqid: reqid(), node: "worker-1"), expecting: SupervisorControl.RestartResponse.self)
        #expect(restarted.result)
        let newPid = try await host.pid(of: "worker-1")
        #expect(newPid != pid && isAlive(newPid) && !isAlive(pid))
        try await host.agent.waitFor(SupervisorNotification.NodeStatus.self) { $0.pid == newPid }
        try await host.agent.waitFor(NodeAPI.NodeHello.self, count: 2) { $0.node == "worker-1" }

        let destroyed = try await host.agent.request(SupervisorControl.DestroyRequest(reqid: reqid(), node: "worker-1"), expecting: SupervisorControl.DestroyResponse.self)
        #expect(destroyed.result)
        #expect(!isAlive(newPid))
        #expect(try await host.status().nodes.isEmpty)
        try await host.agent.waitFor(SupervisorNotification.NodeExit.self, count: 2) { $0.node == "worker-1" }
        try await host.stop()
    }

    @Test func unknownNodesAndBadConfigurationsAreRefused() async throws {
        let host = try await Host.start()
        #expect(try await host.create(Supervisor.NodeConfig(name: "w")) == "")
        #expect(try await host.create(Supervisor.NodeConfig(name: "w")) == "node with name 'w' already exists")
        #expect(try await host.create(Supervisor.NodeConfig(name: "")) == "node names must not be an empty string")
        #expect(try await host.create(Supervisor.NodeConfig(name: "a b")) == "node names must not contain spaces: 'a b'")
        #expect(try await host.create(Supervisor.NodeConfig(name: "x", interface: "eth0", pcapFile: "t.pcap")) == "node with name 'x' has interface and pcap_file set")
        let outside = "escape-\(UUID().uuidString)"
        let escape = try await host.create(Supervisor.NodeConfig(name: "x", directory: "../\(outside)"))
        #expect(escape == "node 'x' directory '../\(outside)' must be a relative path inside \(host.baseDirectory.path)")
        #expect(try await host.create(Supervisor.NodeConfig(name: "x", directory: "/etc")).contains("must be a relative path"))
        #expect(try await host.create(Supervisor.NodeConfig(name: "x", stdoutFile: "../../out")).contains("stdout_file '../../out' must be a relative path"))
        #expect(try await host.create(Supervisor.NodeConfig(name: "x", cpuAffinity: 5000)) == "node 'x' has invalid cpu_affinity 5000")
        let missingCPU = try await host.create(Supervisor.NodeConfig(name: "x", cpuAffinity: 1000))
        #expect(missingCPU.hasPrefix("failed to start node 'x': sched_setaffinity"), "\(missingCPU)")
        #expect(!FileManager.default.fileExists(atPath: host.baseDirectory.deletingLastPathComponent().appendingPathComponent(outside).path))

        let restart = try await host.agent.request(SupervisorControl.RestartRequest(reqid: reqid(), node: "nope"), expecting: SupervisorControl.RestartResponse.self)
        #expect(!restart.result)
        let destroy = try await host.agent.request(SupervisorControl.DestroyRequest(reqid: reqid(), node: "nope"), expecting: SupervisorControl.DestroyResponse.self)
        #expect(!destroy.result)
        #expect(Set(try await host.status().nodes.keys) == ["w"])
        try await host.stop()
    }

    @Test func aCommandThatCannotStartIsAnError() async throws {
        let host = try await Host.start(nodeScript: "exit 0")
        // The command exists at start-up; make it vanish so the spawn itself fails.
        let command = host.supervisor.text.components(separatedBy: "nodes run ").last?.components(separatedBy: " in ").first ?? ""
        try FileManager.default.removeItem(atPath: command)
        let result = try await host.create(Supervisor.NodeConfig(name: "ghost"))
        #expect(result.hasPrefix("failed to start node 'ghost': exec \(command): No such file or directory"), "\(result)")
        #expect(try await host.status().nodes.isEmpty)
        try await host.stop()
    }

    @Test func killedNodeComesBackWithANewPid() async throws {
        let host = try await Host.start()
        #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
        try await host.agent.waitFor(NodeAPI.NodeHello.self) { $0.node == "worker-1" }
        let pid = try await host.pid(of: "worker-1")
        kill(Int32(pid), SIGKILL)
        let statuses = try await host.agent.waitFor(SupervisorNotification.NodeStatus.self, count: 2) { $0.node == "worker-1" }
        #expect(statuses[1].pid != pid && isAlive(statuses[1].pid))
        let exit = try await host.agent.waitFor(SupervisorNotification.NodeExit.self) { $0.node == "worker-1" }
        #expect(exit[0].exit == "killed by signal 9")
        #expect(try await host.pid(of: "worker-1") == statuses[1].pid)
        try await host.agent.waitFor(NodeAPI.NodeHello.self, count: 2) { $0.node == "worker-1" }
        try await host.stop()
    }

    @Test func stableNodeIsRestartedAtOnce() async throws {
        let host = try await Host.start(extraArguments: ["--stable-after", "1"])
        #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
        try await host.agent.waitFor(NodeAPI.NodeHello.self) { $0.node == "worker-1" }
        try await Task.sleep(for: .milliseconds(1500)) // now it counts as stable
        let pid = try await host.pid(of: "worker-1")
        let killed = Date().timeIntervalSince1970
        kill(Int32(pid), SIGKILL)
        let restarted = try await host.agent.waitFor(SupervisorNotification.NodeStatus.self, count: 2) { $0.node == "worker-1" }
        let respawnedAt = host.agent.timestamps(of: SupervisorNotification.NodeStatus.self).last!
        #expect(restarted[1].pid != pid)
        #expect(respawnedAt - killed < 0.9, "no back-off after a stable run: \(respawnedAt - killed) s")
        try await host.stop()
    }

    @Test func crashLoopBacksOffAndReportsItsOutput() async throws {
        let host = try await Host.start(nodeScript: "echo starting; echo \"fatal: no such interface $1$2\" >&2; exit 3")
        #expect(try await host.create(Supervisor.NodeConfig(name: "broken", interface: "eth9")) == "")
        let exits = try await host.agent.waitFor(SupervisorNotification.NodeExit.self, count: 4, timeout: .seconds(20)) { $0.node == "broken" }
        #expect(exits[0].exit == "exited with status 3")
        #expect(exits[0].outputs == Management.NodeOutputs(stdout: "starting", stderr: "fatal: no such interface -ieth9"))
        try await host.agent.waitFor(SupervisorNotification.StderrLine.self) { $0.node == "broken" && $0.msg == "fatal: no such interface -ieth9" }
        try await host.agent.waitFor(SupervisorNotification.StdoutLine.self) { $0.node == "broken" && $0.msg == "starting" }

        // Starts at t0, t0+1, t0+2, t0+3, t0+5: Zeek's 1, 1, 1, 2 s back-off, never a spin.
        let starts = try await host.agent.waitFor(SupervisorNotification.NodeStatus.self, count: 5, timeout: .seconds(20)) { $0.node == "broken" }
        #expect(Set(starts.map(\.pid)).count == starts.count, "every start is a new process")
        let times = host.agentTimes(of: SupervisorNotification.NodeStatus.self)
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
        #expect(gaps.count >= 4)
        #expect(gaps.prefix(3).allSatisfy { $0 >= 0.9 }, "gaps \(gaps)")
        #expect(gaps[3] >= 1.9, "gaps \(gaps)")
        try await host.stop()
    }

    @Test func nodeConfigurationIsApplied() async throws {
        let node = """
            echo "pwd=$(pwd) x=$X cluster=$CLUSTER_NODE args=$*"
            grep Cpus_allowed_list /proc/self/status >&2
            exec sleep 600
            """
        let host = try await Host.start(nodeScript: node)
        let cpu = ProcessInfo.processInfo.activeProcessorCount - 1
        let config = Supervisor.NodeConfig(
            name: "worker-2", directory: "spool-w2", stdoutFile: "out.log", stderrFile: "err.log", bareMode: true,
            addlBaseScripts: ["base.zeek"], addlUserScripts: ["user.zeek"], env: ["X": "42"], cpuAffinity: cpu, cluster: Self.layout
        )
        #expect(try await host.create(config) == "")
        let directory = host.baseDirectory.appendingPathComponent("spool-w2").path
        let line = try await host.agent.waitFor(SupervisorNotification.StdoutLine.self) { $0.node == "worker-2" }[0].msg
        #expect(line == "pwd=\(directory) x=42 cluster=worker-2 args=-b -- base.zeek user.zeek")
        try await host.agent.waitFor(SupervisorNotification.StderrLine.self) { $0.msg == "Cpus_allowed_list:\t\(cpu)" }
        let pid = try await host.pid(of: "worker-2")
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        #expect(status.contains("Cpus_allowed_list:\t\(cpu)\n"))
        #expect(try String(contentsOfFile: directory + "/out.log", encoding: .utf8) == line + "\n")
        #expect(try String(contentsOfFile: directory + "/err.log", encoding: .utf8) == "Cpus_allowed_list:\t\(cpu)\n")
        let mode = try FileManager.default.attributesOfItem(atPath: directory + "/out.log")[.posixPermissions] as? Int
        #expect(mode == 0o600)
        try await host.stop()
    }

    /// The whole configuration, cluster layout included, reaches a node as a file in its
    /// working directory; the environment carries the node's own configuration only. A layout
    /// of thousands of nodes in the environment would make execve fail (E2BIG past 128 KiB).
    @Test func aLargeLayoutReachesTheNodeThroughAFileInItsDirectory() async throws {
        let node = """
            echo "file=$(wc -c < supervised-node.json)"
            exec sleep 600
            """
        let host = try await Host.start(nodeScript: node)
        var layout = Self.layout
        for index in 3..<3_000 { layout["worker-\(index)"] = Supervisor.ClusterEndpoint(role: .worker, host: .loopback) }
        let config = Supervisor.NodeConfig(name: "worker-1", cluster: layout)
        #expect(try await host.create(config) == "")

        let line = try await host.agent.waitFor(SupervisorNotification.StdoutLine.self) { $0.node == "worker-1" }[0].msg
        let fileSize = Int(line.dropFirst("file=".count).trimmingCharacters(in: .whitespaces)) ?? 0
        #expect(fileSize > 128 * 1024, "\(line)")
        let file = host.baseDirectory.appendingPathComponent("worker-1/supervised-node.json")
        let written = try ZeekJSON.decode(Supervisor.NodeConfig.self, from: Data(contentsOf: file))
        #expect(written.name == "worker-1" && written.cluster == layout)

        let pid = try await host.pid(of: "worker-1")
        let environment = try Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")).split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        let variable = try #require(environment.first { $0.hasPrefix("ZEEK_SUPERVISED_NODE=") })
        let own = try ZeekJSON.decode(Supervisor.NodeConfig.self, from: Data(variable.dropFirst("ZEEK_SUPERVISED_NODE=".count).utf8))
        #expect(own.name == "worker-1" && own.cluster.isEmpty)
        try await host.stop()
    }

    @Test func nodeIgnoringSIGTERMIsKilled() async throws {
        let host = try await Host.start(nodeScript: "trap '' TERM\nwhile true; do sleep 0.1; done")
        #expect(try await host.create(Supervisor.NodeConfig(name: "stubborn")) == "")
        let pid = try await host.pid(of: "stubborn")
        let started = ContinuousClock.now
        let destroyed = try await host.agent.request(SupervisorControl.DestroyRequest(reqid: reqid(), node: "stubborn"), expecting: SupervisorControl.DestroyResponse.self)
        #expect(destroyed.result)
        #expect(ContinuousClock.now - started >= .seconds(2.5), "SIGKILL only after --kill-after 3")
        #expect(!isAlive(pid))
        let exit = try await host.agent.waitFor(SupervisorNotification.NodeExit.self) { $0.node == "stubborn" }
        #expect(exit[0].exit == "killed by signal 9")
        try await host.stop()
    }

    @Test("no node outlives its supervisor", arguments: [SIGTERM, SIGKILL])
    func noOrphans(_ signal: Int32) async throws {
        let host = try await Host.start()
        for name in ["worker-1", "worker-2"] {
            #expect(try await host.create(Supervisor.NodeConfig(name: name, cluster: Self.layout)) == "")
        }
        let pids = [try await host.pid(of: "worker-1"), try await host.pid(of: "worker-2")]
        #expect(pids.allSatisfy(isAlive))
        let status = try await host.supervisor.stop(signal: signal)
        if signal == SIGTERM { #expect(status == 0) }
        try await waitUntilGone(pids)
        await host.agent.shutdown()
        host.broker.stop()
    }

    @Test func stopRequestEndsEverything() async throws {
        let host = try await Host.start()
        #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
        let pid = try await host.pid(of: "worker-1")
        try await host.agent.endpoint.publish(SupervisorControl.StopRequest(), to: .supervisorAPI, target: "agent-t")
        #expect(try await host.supervisor.waitForExit() == 0)
        try await waitUntilGone([pid])
        await host.agent.shutdown()
        host.broker.stop()
    }

    @Test func dispatchIsAnsweredByTheAddressedNodesOnly() async throws {
        let host = try await Host.start()
        let options = try ZeekJSON.encodeString([Management.Option(name: "Site::local_nets", value: "10.0.0.0/8")])
        for name in ["manager", "worker-1", "worker-2"] {
            #expect(try await host.create(Supervisor.NodeConfig(name: name, env: ["ZEEK_MGMT_NODE_OPTIONS": options], cluster: Self.layout)) == "")
        }
        try await host.agent.waitFor(NodeAPI.NodeHello.self, count: 3)

        func dispatch(_ action: [String], to nodes: Set<String>, expect count: Int) async throws -> [String: Management.Result] {
            let id = reqid()
            try await host.agent.endpoint.publish(NodeAPI.DispatchRequest(reqid: id, action: action, nodes: nodes), to: .nodeAPI, target: "agent-t")
            let responses = try await host.agent.waitFor(NodeAPI.DispatchResponse.self, count: count) { $0.reqid == id }
            return Dictionary(uniqueKeysWithValues: responses.map { ($0.result.node ?? "?", $0.result) })
        }

        let one = try await dispatch(["get_id_value", "Cluster::node"], to: ["worker-1"], expect: 1)
        #expect(one["worker-1"]?.data == .string(#""worker-1""#))
        let all = try await dispatch(["get_id_value", "Cluster::local_node_type"], to: [], expect: 3)
        #expect(all.mapValues(\.data) == ["manager": .string(#""Cluster::MANAGER""#), "worker-1": .string(#""Cluster::WORKER""#), "worker-2": .string(#""Cluster::WORKER""#)])
        let nodes = try await dispatch(["get_id_value", "Cluster::nodes"], to: ["manager"], expect: 1)
        #expect(nodes["manager"]?.data?.stringValue == #"{"manager":{"ip":"127.0.0.1","node_type":"Cluster::MANAGER","p":{"port":2200,"proto":"tcp"},"zone_id":""},"worker-1":{"ip":"127.0.0.1","manager":"manager","node_type":"Cluster::WORKER","p":{"port":0,"proto":"unknown"},"zone_id":""},"worker-2":{"interface":"eth0","ip":"127.0.0.1","manager":"manager","node_type":"Cluster::WORKER","p":{"port":0,"proto":"unknown"},"zone_id":""}}"#)
        let option = try await dispatch(["get_id_value", "Site::local_nets"], to: ["worker-2"], expect: 1)
        #expect(option["worker-2"]?.data == .string(#""10.0.0.0/8""#))

        let unknown = try await dispatch(["get_id_value", "No::such_id"], to: ["worker-1"], expect: 1)
        #expect(unknown["worker-1"]?.success == false && unknown["worker-1"]?.error == "unknown id")
        let badAction = try await dispatch(["launch_missiles"], to: ["worker-1"], expect: 1)
        #expect(badAction["worker-1"]?.error == "dispatch launch_missiles unknown")
        let noArgument = try await dispatch(["get_id_value"], to: ["worker-1"], expect: 1)
        #expect(noArgument["worker-1"]?.error == "get_id_value expects name of global identifier")
        let empty = try await dispatch([], to: ["worker-1"], expect: 1)
        #expect(empty["worker-1"]?.error == "no dispatch arguments provided")
        #expect(host.agent.all(NodeAPI.DispatchResponse.self).count == 10, "no node answered a dispatch that was not for it")
        try await host.stop()
    }
}

extension SupervisorTests.Host {
    /// Arrival times (epoch seconds) of the recorded events of a type.
    func agentTimes<Event: ManagementEvent>(of type: Event.Type) -> [Double] {
        agent.timestamps(of: type)
    }
}
