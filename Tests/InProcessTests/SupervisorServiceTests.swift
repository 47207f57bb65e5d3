import Foundation
import Logging
import ManagementMessaging
import ManagementTesting
import ManagementTypes
import NodeSupervision
import Testing
import ZeekNodes
#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's logic (``SupervisorService`` over ``NodeSupervisor``) on the in-memory bus,
/// with real node processes: shell scripts standing in for the node program. The same
/// user-visible behaviour as `ServiceTests/SupervisorTests`, without Kafka or executables.
@Suite("Supervisor service in process", .timeLimit(.minutes(1)))
struct SupervisorServiceTests {
    static let instance = "agent-t"

    /// A node that says who it is on both streams, then waits to be stopped.
    static let nodeScript = """
        echo "started $CLUSTER_NODE"
        echo "complaint from $CLUSTER_NODE" >&2
        exec sleep 60
        """

    static let layout: [String: Supervisor.ClusterEndpoint] = [
        "worker-1": Supervisor.ClusterEndpoint(role: .worker, host: .loopback),
        "worker-2": Supervisor.ClusterEndpoint(role: .worker, host: .loopback),
    ]

    /// A supervisor for `agent-t` running in a task, its node program in a fresh temporary
    /// directory, and a probe (`agent-x`) playing its agent.
    final class Host: Sendable {
        let bus: InMemoryBus
        let probe: BusProbe
        let endpoint: InMemoryBus.Endpoint
        /// Holds the node script and the base directory (so `..` of the base is still ours).
        let root: URL
        let baseDirectory: URL
        let running: Task<Void, any Error>

        /// - Parameters:
        ///   - zeek: a script to run as Zeek instead of the stand-in node (for checks).
        ///   - configure: changes the supervisor's settings.
        /// - policy: the host policy (nodes run as the test's user: switching users is the
        ///   live tier's, with real Zeek).
        init(script: String = SupervisorServiceTests.nodeScript, requestTimeout: Duration = .seconds(30), zeek: String? = nil,
             policy: HostPolicy = HostPolicy(), clock: any ManagementClock = SystemClock(),
             configure: (inout NodeSupervisor.Settings) -> Void = { _ in }) throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("supervisor-inprocess-\(UUID().uuidString)")
            baseDirectory = root.appendingPathComponent("base")
            try FileManager.default.createDirectory(at: baseDirectory, withIntermediateDirectories: true)
            let scriptPath = root.appendingPathComponent("node.sh").path
            try "#!/bin/sh\n\(script)\n".write(toFile: scriptPath, atomically: true, encoding: .utf8)
            chmod(scriptPath, 0o755)

            // The probe reads from the end: connect it before anything is published.
            let bus = InMemoryBus()
            self.bus = bus
            probe = BusProbe(bus, name: "agent-x", topics: [.supervisorAPI, .supervisorAPI.notify])
            var program = NodeProgram.standIn(path: scriptPath)
            if let zeek {
                let zeekPath = root.appendingPathComponent("zeek").path
                try "#!/bin/sh\n\(zeek)\n".write(toFile: zeekPath, atomically: true, encoding: .utf8)
                chmod(zeekPath, 0o755)
                // Zeek's script directory, which a check's fingerprint walks.
                try FileManager.default.createDirectory(at: root.appendingPathComponent("share/site"), withIntermediateDirectories: true)
                program = .zeek(ZeekInstallation(executable: zeekPath, scriptPath: ".:\(root.path)/share:\(root.path)/share/site"),
                                nodeScript: root.appendingPathComponent("node.zeek").path)
            }
            let endpoint = bus.connect(SupervisorServiceTests.instance,
                                   participating: SupervisorService.participation(instance: SupervisorServiceTests.instance, program: program),
                                   security: TestIdentities.shared.security(.host(instance: SupervisorServiceTests.instance),
                                                                            key: TestIdentities.shared.host(SupervisorServiceTests.instance)))
            var settings = NodeSupervisor.Settings(
                launch: NodeLaunch.Context(baseDirectory: baseDirectory, program: program, environment: ProcessInfo.processInfo.environment,
                                           identities: try NodeIdentities(policy: policy, effectiveUID: 1)),
                stopInterval: .milliseconds(100), killAfter: .seconds(2), stableUptime: .seconds(30)
            )
            configure(&settings)
            var logger = Logger(label: "supervisor-in-process")
            logger.logLevel = .critical
            let service = SupervisorService(instance: SupervisorServiceTests.instance, settings: settings,
                                            requestTimeout: requestTimeout, clock: clock, logger: logger)
            self.endpoint = endpoint
            running = Task { try await service.run(on: endpoint) }
        }

        func create(_ config: Supervisor.NodeConfig) async throws -> String {
            try await probe.request(SupervisorControl.CreateRequest(reqid: newReqid(), node: config), on: .supervisorAPI, target: instance).result
        }

        func status(_ node: String = "") async throws -> Supervisor.Status {
            try await probe.request(SupervisorControl.StatusRequest(reqid: newReqid(), node: node), on: .supervisorAPI, target: instance).result
        }

        func restart(_ node: String) async throws -> Bool {
            try await probe.request(SupervisorControl.RestartRequest(reqid: newReqid(), node: node), on: .supervisorAPI, target: instance).result
        }

        func destroy(_ node: String) async throws -> Bool {
            try await probe.request(SupervisorControl.DestroyRequest(reqid: newReqid(), node: node), on: .supervisorAPI, target: instance).result
        }

        func check(_ config: Supervisor.NodeConfig) async throws -> String {
            try await probe.request(SupervisorManagement.CheckRequest(reqid: newReqid(), node: config), on: .supervisorAPI, target: instance).result
        }

        /// The first `node_status` of `node` that `condition` accepts.
        func announcement(of node: String, timeout: Duration = .seconds(5),
                          where condition: @escaping @Sendable (Int) -> Bool = { _ in true }) async -> Envelope<SupervisorNotification.NodeStatus>? {
            await probe.first(SupervisorNotification.NodeStatus.self, timeout: timeout) { $0.event.node == node && condition($0.event.pid) }
        }

        /// Every `node_status` the supervisor published so far (the bus's own log: complete,
        /// whatever the probe has read yet).
        var announcements: [SupervisorNotification.NodeStatus] {
            bus.messages(on: .supervisorAPI.notify).filter { $0.event == SupervisorNotification.NodeStatus.eventName }
                .compactMap { try? $0.decode(SupervisorNotification.NodeStatus.self).event }
        }

        /// Publishes a request as raw JSON from the probe, with the given envelope `ts`.
        func publishRaw(event: String, args: String, ts: Double) {
            let json = #"{"event":"\#(event)","args":\#(args),"sender":"agent-x","target":"\#(instance)","ts":\#(ts),"api_version":1}"#
            #expect(bus.publishRaw(json, on: .supervisorAPI), "the raw request parses as an envelope")
        }

        /// Sends `stop_request`, waits until `run` returned, and checks that no node process it
        /// ever started is left; leaves the bus and removes the temporary files.
        func stop(sourceLocation: SourceLocation = #_sourceLocation) async throws {
            try await probe.endpoint.publish(SupervisorControl.StopRequest(), to: .supervisorAPI, target: instance)
            try await running.value
            for status in announcements {
                #expect(isGone(status.pid), "node \(status.node) (pid \(status.pid)) outlived its supervisor", sourceLocation: sourceLocation)
            }
            endpoint.shutdown()
            probe.endpoint.shutdown()
            try? FileManager.default.removeItem(at: root)
        }

        private var instance: String { SupervisorServiceTests.instance }
    }

    /// Runs `body` with a fresh host and stops it afterwards, also when `body` throws.
    static func withHost(script: String = nodeScript, requestTimeout: Duration = .seconds(30), zeek: String? = nil, policy: HostPolicy = HostPolicy(),
                         clock: any ManagementClock = SystemClock(), configure: (inout NodeSupervisor.Settings) -> Void = { _ in },
                         sourceLocation: SourceLocation = #_sourceLocation, _ body: (Host) async throws -> Void) async throws {
        let host = try Host(script: script, requestTimeout: requestTimeout, zeek: zeek, policy: policy, clock: clock, configure: configure)
        do {
            try await body(host)
        } catch {
            try? await host.stop(sourceLocation: sourceLocation)
            throw error
        }
        try await host.stop(sourceLocation: sourceLocation)
    }

    // MARK: Tests

    @Test func createAnnouncesTheNodeListsItAndForwardsItsOutput() async throws {
        try await Self.withHost { host in
            let config = Supervisor.NodeConfig(name: "worker-1", stdoutFile: "out.log", stderrFile: "err.log", cluster: Self.layout)
            #expect(try await host.create(config) == "")
            let announced = try #require(await host.announcement(of: "worker-1"))
            let pid = announced.event.pid
            #expect(announced.sender == Self.instance)
            #expect(announced.target == nil, "node_status is for everyone on the notify topic")
            #expect(isAlive(pid))

            let status = try await host.status()
            #expect(Set(status.nodes.keys) == ["worker-1"])
            #expect(status.nodes["worker-1"]?.pid == pid)
            #expect(status.nodes["worker-1"]?.node == config)
            #expect(try await host.status("worker-1").nodes["worker-1"]?.pid == pid)
            #expect(try await host.status("nope").nodes.isEmpty)

            let stdout = await host.probe.first(SupervisorNotification.StdoutLine.self, timeout: .seconds(5)) { $0.event.node == "worker-1" }
            #expect(stdout?.event.msg == "started worker-1")
            let stderr = await host.probe.first(SupervisorNotification.StderrLine.self, timeout: .seconds(5)) { $0.event.node == "worker-1" }
            #expect(stderr?.event.msg == "complaint from worker-1")

            // A line is in its file before it is announced on the bus.
            let directory = host.baseDirectory.appendingPathComponent("worker-1")
            #expect(try String(contentsOf: directory.appendingPathComponent("out.log"), encoding: .utf8) == "started worker-1\n")
            #expect(try String(contentsOf: directory.appendingPathComponent("err.log"), encoding: .utf8) == "complaint from worker-1\n")
            let mode = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("out.log").path)[.posixPermissions] as? Int
            #expect(mode == 0o600)
            #expect(host.announcements.map(\.pid) == [pid], "one start, one announcement")
        }
    }

    @Test func duplicateNameIsRefusedInZeeksWords() async throws {
        try await Self.withHost { host in
            #expect(try await host.create(Supervisor.NodeConfig(name: "w")) == "")
            let pid = try #require(try await host.status("w").nodes["w"]?.pid)
            #expect(try await host.create(Supervisor.NodeConfig(name: "w", env: ["X": "1"])) == "node with name 'w' already exists")
            let status = try await host.status()
            #expect(Set(status.nodes.keys) == ["w"])
            #expect(status.nodes["w"]?.pid == pid, "the running node is left alone")
            #expect(status.nodes["w"]?.node.env.isEmpty == true, "the first configuration stays")
            #expect(isAlive(pid))
            #expect(host.announcements.filter { $0.node == "w" }.count == 1)
        }
    }

    /// The node's user owns its directory: root walks no path through it. A directory or an
    /// output file is one plain name, and an output file the node replaced with a link (or a
    /// second name of another file) is not written.
    @Test func nodeDirectoriesAndOutputFilesAreOnePlainName() async throws {
        try await Self.withHost { host in
            for directory in ["a/b", ".", ".hidden", "a b"] {
                let refused = try await host.create(Supervisor.NodeConfig(name: "x", directory: directory))
                #expect(refused.hasSuffix("must be one name of letters, digits, '_', '-' and '.' (not first)") || refused.contains("must be a relative path"), "\(directory): \(refused)")
            }
            let nested = try await host.create(Supervisor.NodeConfig(name: "x", stdoutFile: "logs/out"))
            #expect(nested == "node 'x' output file 'logs/out' must be one name of letters, digits, '_', '-' and '.' (not first)")

            // A link where the node's stdout file goes, planted before its start.
            let victim = host.root.appendingPathComponent("victim")
            try "precious\n".write(to: victim, atomically: true, encoding: .utf8)
            let directory = host.baseDirectory.appendingPathComponent("linked")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("out.log"), withDestinationURL: victim)
            #expect(try await host.create(Supervisor.NodeConfig(name: "linked", stdoutFile: "out.log", cluster: Self.layout)) == "")
            _ = await host.announcement(of: "linked")
            #expect(try String(contentsOf: victim, encoding: .utf8) == "precious\n", "the link's target is neither truncated nor written")
        }
    }

    @Test func directoryOutsideTheBaseIsRefused() async throws {
        try await Self.withHost { host in
            let outside = "escape-\(UUID().uuidString)"
            let escape = try await host.create(Supervisor.NodeConfig(name: "x", directory: "../\(outside)"))
            #expect(escape == "node 'x' directory '../\(outside)' must be a relative path inside \(host.baseDirectory.path)")
            let absolute = try await host.create(Supervisor.NodeConfig(name: "x", directory: "/etc"))
            #expect(absolute == "node 'x' directory '/etc' must be a relative path inside \(host.baseDirectory.path)")
            #expect(!FileManager.default.fileExists(atPath: host.root.appendingPathComponent(outside).path), "nothing created outside the base")
            #expect(try await host.status().nodes.isEmpty)
            #expect(host.announcements.isEmpty, "no process started")
        }
    }

    @Test func killedNodeIsReportedAndComesBackWithANewPid() async throws {
        try await Self.withHost { host in
            #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
            let first = try #require(await host.announcement(of: "worker-1"))
            let pid = first.event.pid
            // Its output, to be reported with its exit.
            _ = await host.probe.first(SupervisorNotification.StderrLine.self, timeout: .seconds(5)) { $0.event.node == "worker-1" }
            #expect(kill(Int32(pid), SIGKILL) == 0)

            let exit = try #require(await host.probe.first(SupervisorNotification.NodeExit.self, timeout: .seconds(5)) { $0.event.pid == pid })
            #expect(exit.event.node == "worker-1")
            #expect(exit.event.exit == "killed by signal 9")
            #expect(exit.event.outputs == Management.NodeOutputs(stdout: "started worker-1", stderr: "complaint from worker-1"))

            // A premature exit: started again 1 s after the previous start, not at once.
            let second = try #require(await host.announcement(of: "worker-1") { $0 != pid })
            let newPid = second.event.pid
            #expect(isAlive(newPid))
            #expect(isGone(pid))
            #expect(second.timestamp - first.timestamp >= 0.9, "back-off after a premature exit: \(second.timestamp - first.timestamp) s")
            #expect(try await host.status("worker-1").nodes["worker-1"]?.pid == newPid)
        }
    }

    /// The back-off before a node that died starts again runs on the supervisor's clock: while
    /// the clock stands still the node stays down, and it starts once the clock has moved the
    /// second of its back-off.
    @Test func theBackOffAfterAPrematureExitRunsOnTheSupervisorsClock() async throws {
        let clock = TestClock()
        try await Self.withHost(clock: clock) { host in
            #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
            let pid = try #require(await host.announcement(of: "worker-1")).event.pid
            #expect(kill(Int32(pid), SIGKILL) == 0)
            _ = try #require(await host.probe.first(SupervisorNotification.NodeExit.self, timeout: .seconds(5)) { $0.event.pid == pid })
            try #require(await clock.waitForSleepers(1, within: .seconds(5)), "the supervisor does not wait out the back-off on its clock")
            // Longer than the back-off: a supervisor sleeping on the real clock would have started it.
            #expect(await host.announcement(of: "worker-1", timeout: .milliseconds(1500)) { $0 != pid } == nil,
                    "started again before its back-off passed on the supervisor's clock")
            clock.advance(by: .seconds(1))
            let second = try #require(await host.announcement(of: "worker-1") { $0 != pid })
            #expect(isAlive(second.event.pid))
        }
    }

    @Test func restartStartsANewProcess() async throws {
        try await Self.withHost { host in
            #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
            let pid = try #require(try await host.status("worker-1").nodes["worker-1"]?.pid)
            #expect(try await host.restart("worker-1"))
            // Answered once the new process runs.
            let newPid = try #require(try await host.status("worker-1").nodes["worker-1"]?.pid)
            #expect(newPid != pid)
            #expect(isAlive(newPid))
            #expect(isGone(pid))
            #expect(await host.announcement(of: "worker-1") { $0 == newPid } != nil)
            let exit = await host.probe.first(SupervisorNotification.NodeExit.self, timeout: .seconds(5)) { $0.event.pid == pid }
            #expect(exit?.event.node == "worker-1")
            #expect(host.announcements.map(\.pid) == [pid, newPid], "the restart started exactly one process")
        }
    }

    @Test func restartAndDestroyOfAnUnknownNodeAnswerFalse() async throws {
        try await Self.withHost { host in
            #expect(try await host.create(Supervisor.NodeConfig(name: "w")) == "")
            let pid = try #require(try await host.status("w").nodes["w"]?.pid)
            #expect(try await host.restart("nope") == false)
            #expect(try await host.destroy("nope") == false)
            let status = try await host.status()
            #expect(Set(status.nodes.keys) == ["w"])
            #expect(status.nodes["w"]?.pid == pid, "the known node is untouched")
            #expect(isAlive(pid))
        }
    }

    @Test func destroyStopsTheProcessAndForgetsTheNode() async throws {
        try await Self.withHost { host in
            #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
            #expect(try await host.create(Supervisor.NodeConfig(name: "worker-2", cluster: Self.layout)) == "")
            let before = try await host.status()
            let pid = try #require(before.nodes["worker-1"]?.pid)
            let other = try #require(before.nodes["worker-2"]?.pid)
            #expect(try await host.destroy("worker-1"))
            // Answered once the process is gone.
            #expect(isGone(pid))
            #expect(try await host.status("worker-1").nodes.isEmpty)
            let after = try await host.status()
            #expect(Set(after.nodes.keys) == ["worker-2"])
            #expect(after.nodes["worker-2"]?.pid == other)
            #expect(isAlive(other))
            let exit = await host.probe.first(SupervisorNotification.NodeExit.self, timeout: .seconds(5)) { $0.event.pid == pid }
            #expect(exit?.event.node == "worker-1")
            #expect(exit?.event.exit == "killed by signal \(SIGTERM)")
            #expect(try await host.destroy("worker-1") == false, "a destroyed node is unknown")
        }
    }

    /// A node destroyed and created again under the same name while its old process is still
    /// stopping (a Zeek node takes seconds; the agent that asked may have died or given up):
    /// the old process's exit is not the new node's, which keeps its one process.
    @Test func theExitOfADestroyedNodeDoesNotTouchItsSuccessor() async throws {
        // Deaf to SIGTERM: the old process lives until the SIGKILL after `killAfter` (10 s here,
        // so that it surely still lives when the successor has started, however busy the machine).
        try await Self.withHost(script: "trap '' TERM\n" + Self.nodeScript, configure: { $0.killAfter = .seconds(10) }) { host in
            #expect(try await host.create(Supervisor.NodeConfig(name: "w")) == "")
            let old = try #require(try await host.status("w").nodes["w"]?.pid)
            // Not waiting for its answer: that comes once the old process is gone.
            host.publishRaw(event: SupervisorControl.DestroyRequest.eventName, args: #"{"reqid":"destroy-1","node":"w"}"#,
                            ts: Date().timeIntervalSince1970)
            #expect(try await host.create(Supervisor.NodeConfig(name: "w")) == "")
            let new = try #require(try await host.status("w").nodes["w"]?.pid)
            #expect(new != old && isAlive(old))

            let destroyed = await host.probe.first(SupervisorControl.DestroyResponse.self, timeout: .seconds(20)) { $0.event.reqid == "destroy-1" }
            #expect(destroyed?.event.result == true)
            #expect(isGone(old))
            // A successor taking the old exit for its own would forget its process and start another.
            let another = await host.announcement(of: "w", timeout: .seconds(1)) { $0 != old && $0 != new }
            #expect(another == nil, "a second process was started for the new node: pid \(another?.event.pid ?? 0)")
            #expect(try await host.status("w").nodes["w"]?.pid == new)
            #expect(isAlive(new))
        }
    }

    @Test func stopRequestEndsRunAndEveryNode() async throws {
        let host = try Host()
        #expect(try await host.create(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout)) == "")
        #expect(try await host.create(Supervisor.NodeConfig(name: "worker-2", cluster: Self.layout)) == "")
        let pids = try await host.status().nodes.values.compactMap(\.pid)
        #expect(pids.count == 2 && pids.allSatisfy(isAlive))

        try await host.probe.endpoint.publish(SupervisorControl.StopRequest(), to: .supervisorAPI, target: Self.instance)
        try await host.running.value
        for pid in pids { #expect(isGone(pid), "pid \(pid) outlived run()") }
        #expect(host.announcements.count == 2)
        try await host.stop()
    }

    @Test func expiredRequestIsSkipped() async throws {
        try await Self.withHost(requestTimeout: .seconds(30)) { host in
            let now = Date().timeIntervalSince1970
            let request = SupervisorControl.CreateRequest.eventName
            host.publishRaw(event: request, args: #"{"reqid":"old-1","node":{"name":"stale"}}"#, ts: now - 60)
            // The same shape, in time: the raw requests are well-formed and would be served.
            host.publishRaw(event: request, args: #"{"reqid":"fresh-1","node":{"name":"fresh"}}"#, ts: now)
            // Requests are taken in arrival order: when this is answered, both were taken.
            let status = try await host.status()
            #expect(Set(status.nodes.keys) == ["fresh"], "the stale create created nothing")

            let fresh = await host.probe.first(SupervisorControl.CreateResponse.self, timeout: .seconds(5)) { $0.event.reqid == "fresh-1" }
            #expect(fresh?.event.result == "")
            #expect(fresh?.target == "agent-x")
            #expect(host.probe.events(SupervisorControl.CreateResponse.self).allSatisfy { $0.event.reqid != "old-1" }, "the stale create was not answered")
            #expect(!FileManager.default.fileExists(atPath: host.baseDirectory.appendingPathComponent("stale").path))
            #expect(host.announcements.map(\.node) == ["fresh"])
        }
    }

    @Test func malformedCreateIsAnsweredWithTheProblem() async throws {
        try await Self.withHost { host in
            host.publishRaw(event: SupervisorControl.CreateRequest.eventName, args: #"{"reqid":"bad-1"}"#, ts: Date().timeIntervalSince1970)
            let answer = try #require(await host.probe.first(SupervisorControl.CreateResponse.self, timeout: .seconds(5)) { $0.event.reqid == "bad-1" })
            #expect(answer.target == "agent-x")
            #expect(answer.event.result == "invalid SupervisorControl::create_request: args.node: missing required field")
            #expect(!answer.event.succeeded)
            // Nothing was created, and the supervisor goes on serving.
            #expect(try await host.status().nodes.isEmpty)
            #expect(try await host.create(Supervisor.NodeConfig(name: "w")) == "")
        }
    }

    @Test func checkValidatesWithoutStartingAnything() async throws {
        try await Self.withHost { host in
            let valid = try await host.check(Supervisor.NodeConfig(name: "worker-1", cluster: Self.layout))
            #expect(valid == "")
            let spaced = try await host.check(Supervisor.NodeConfig(name: "a b"))
            #expect(spaced == "node names must not contain spaces: 'a b'")
            let escaping = try await host.check(Supervisor.NodeConfig(name: "x", directory: "../up"))
            #expect(escaping == "node 'x' directory '../up' must be a relative path inside \(host.baseDirectory.path)")
            let status = try await host.status()
            #expect(status.nodes.isEmpty, "a check creates no node")
            #expect(host.announcements.isEmpty, "a check starts no process")
        }
    }
}

extension SupervisorServiceTests {
    /// The host decides what a configuration may put in a node's environment: a check names
    /// the rule and the policy, and nothing is created.
    @Test func theHostPolicyRefusesEnvironmentsBeforeAnythingStarts() async throws {
        let policyFile = "/etc/zeek-mgmt/host-policy"
        let policy = try HostPolicy(parsing: "preload-libraries = /usr/lib/libjemalloc.so.2\n", file: policyFile)
        try await Self.withHost(zeek: "exit 0", policy: policy) { host in
            func check(_ env: [String: String]) async throws -> String {
                try await host.check(Supervisor.NodeConfig(name: "worker-1", env: env, cluster: Self.layout))
            }
            let refusals: [([String: String], String)] = [
                (["ZEEK_MGMT_KAFKA_OPTIONS": "sasl.kerberos.kinit.cmd=touch /tmp/owned"], "ZEEK_MGMT_KAFKA_OPTIONS: set by the supervisor"),
                (["ZEEK_MGMT_BROKERS": "evil:9092"], "ZEEK_MGMT_BROKERS: set by the supervisor"),
                (["CLUSTER_NODE": "manager"], "CLUSTER_NODE: set by the supervisor"),
                (["ZEEKPATH": "/tmp"], "ZEEKPATH: set by the supervisor"),
                (["PATH": "/tmp"], "PATH: set by the supervisor"),
                (["LD_PRELOAD": "/tmp/evil.so"], "LD_PRELOAD may name only /usr/lib/libjemalloc.so.2 (preload-libraries), not /tmp/evil.so"),
                (["LD_LIBRARY_PATH": "/tmp"], "LD_LIBRARY_PATH: it can make the node load code"),
                (["BASH_ENV": "/tmp/x"], "BASH_ENV: it can make the node load code"),
                (["ZEEK_PLUGIN_PATH": "/tmp"], "ZEEK_PLUGIN_PATH: it can make the node load code"),
                (["A=B": "1"], "not a valid name"),
            ]
            for (env, expected) in refusals {
                let verdict = try await check(env)
                #expect(verdict.hasPrefix("node 'worker-1': environment variable "), "\(env): \(verdict)")
                #expect(verdict.contains(expected) && verdict.hasSuffix("(host policy \(policyFile))"), "\(env): \(verdict)")
            }
            #expect(try await check(["LD_PRELOAD": "/usr/lib/libjemalloc.so.2", "TZ": "UTC", Management.Option.environmentVariable: "[]"]) == "")
            let status = try await host.status()
            #expect(status.nodes.isEmpty && host.announcements.isEmpty, "a refused check creates and starts nothing")
        }
    }

    /// A Zeek that notes when each check starts and ends (in `$CHECK_LOG`, appended line by
    /// line), taking `seconds` in between.
    static func slowZeek(seconds: Double) -> String {
        "echo start >> \"$CHECK_LOG\"\nsleep \(seconds)\necho end >> \"$CHECK_LOG\"\nexit 0"
    }

    /// The most checks that ran at once, from such a log.
    static func mostAtOnce(in log: String) -> Int {
        var running = 0, most = 0
        for line in log.split(separator: "\n") {
            running += line == "start" ? 1 : -1
            most = max(most, running)
        }
        return most
    }

    /// Checks of `count` nodes that are not alike (each its own `zeek --parse-only`), sent at once.
    static func checkAtOnce(_ count: Int, on host: Host, log: URL) async throws -> [String] {
        try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<count {
                let node = Supervisor.NodeConfig(name: "worker-\(index)", env: ["CHECK_LOG": log.path, "N": "\(index)"], cluster: layout)
                group.addTask { try await host.check(node) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
    }

    @Test func checksRunTwoAtATimeAndTheOthersWaitTheirTurn() async throws {
        try await Self.withHost(zeek: Self.slowZeek(seconds: 0.3), configure: { $0.concurrentChecks = 2 }) { (host: Host) async throws in
            let log = host.root.appendingPathComponent("checks.log")
            let verdicts = try await Self.checkAtOnce(6, on: host, log: log)
            #expect(verdicts == Array(repeating: "", count: 6), "every check passed in the end")
            let text = try String(contentsOf: log, encoding: .utf8)
            #expect(text.split(separator: "\n").filter { $0 == "start" }.count == 6)
            #expect(Self.mostAtOnce(in: text) == 2, "\(text)")
        }
    }

    @Test func checksBeyondTheWaitingRoomAreRefused() async throws {
        try await Self.withHost(zeek: Self.slowZeek(seconds: 1), configure: { $0.concurrentChecks = 1; $0.waitingChecks = 1 }) { host in
            let log = host.root.appendingPathComponent("checks.log")
            let verdicts = try await Self.checkAtOnce(3, on: host, log: log)
            #expect(verdicts.filter(\.isEmpty).count == 2, "one ran, one waited: \(verdicts)")
            let refused = try #require(verdicts.first { !$0.isEmpty })
            #expect(refused.hasPrefix("node 'worker-") && refused.hasSuffix(
                "' not checked: 2 checks are running or waiting on this host, the most it takes (1 at once); try again later"), "\(refused)")
            #expect(Self.mostAtOnce(in: try String(contentsOf: log, encoding: .utf8)) == 1)
            // Once they are done, there is room again.
            let node = Supervisor.NodeConfig(name: "later", env: ["CHECK_LOG": log.path], cluster: Self.layout)
            #expect(try await host.check(node) == "")
        }
    }

    @Test func nodesBeyondTheMaximumAreRefused() async throws {
        try await Self.withHost(configure: { $0.maximumNodes = 2 }) { (host: Host) async throws in
            #expect(try await host.create(Supervisor.NodeConfig(name: "w1")) == "")
            #expect(try await host.create(Supervisor.NodeConfig(name: "w2")) == "")
            #expect(try await host.create(Supervisor.NodeConfig(name: "w3")) == "node 'w3' refused: this supervisor already runs 2 nodes, the most it runs")
            #expect(Set(try await host.status().nodes.keys) == ["w1", "w2"])
            #expect(!FileManager.default.fileExists(atPath: host.baseDirectory.appendingPathComponent("w3").path), "nothing created for it")
            #expect(try await host.destroy("w1"))
            #expect(try await host.create(Supervisor.NodeConfig(name: "w3")) == "", "room again")
        }
    }
}

private func newReqid() -> String { UUID().uuidString }

private func isAlive(_ pid: Int) -> Bool { kill(Int32(pid), 0) == 0 }

/// No such process (ours are reaped as they exit, so a dead node leaves no zombie).
private func isGone(_ pid: Int) -> Bool { kill(Int32(pid), 0) != 0 && errno == ESRCH }
