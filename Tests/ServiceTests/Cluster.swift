import Foundation
import LocalServers
import ManagementMessaging
import ManagementTypes
import Synchronization
import Testing

/// A whole local cluster as separate processes: a broker, controller-service(s), and
/// agent-service + supervisor-service pairs whose supervisors launch real cluster-node processes.
final class Cluster: Sendable {
    let broker: LocalBroker
    let baseDirectory: URL
    let controllerArguments: [String]
    /// Extra arguments of every host's supervisor-service and agent-service (e.g. real Zeek).
    let hostArguments: (supervisor: [String], agent: [String])
    /// Topic prefix of every process and client of this cluster (clusters sharing a broker).
    let prefix: String
    /// Extra arguments of every zeek-mgmt run (e.g. the operator's `--kafka-options-file`).
    let cliArguments: [String]
    private let ownsBroker: Bool
    private let processes = ProcessList()
    /// A command the supervisors run under (e.g. `setpriv` taking capabilities away); none: run directly.
    private let supervisorLauncher: [String]

    /// Fast timings so failure paths are tested in seconds: agents check in every second and
    /// are lost after `agentTimeout`, the controller times requests out after `requestTimeout`.
    static func start(instances: [String] = ["agent-a", "agent-b"], requestTimeout: Int = 10, agentTimeout: Int = 15, controllers: Int = 1,
                      prefix: String = "", sharing sharedBroker: LocalBroker? = nil, controllerArguments extra: [String] = [],
                      supervisorArguments: [String] = [], agentArguments: [String] = [], cliArguments: [String] = [],
                      supervisorLauncher: [String] = []) async throws -> Cluster {
        let broker: LocalBroker
        if let sharedBroker { broker = sharedBroker } else { broker = try await LocalBroker.start() }
        let cluster = Cluster(broker: broker, ownsBroker: sharedBroker == nil, prefix: prefix, cliArguments: cliArguments,
                              controllerArguments: ["--request-timeout", "\(requestTimeout)", "--agent-timeout", "\(agentTimeout)"] + extra,
                              hostArguments: (supervisorArguments, agentArguments), supervisorLauncher: supervisorLauncher)
        // The first becomes active; the others stand by.
        for index in 0..<controllers { try await cluster.startController(waitUntilActive: index == 0) }
        for instance in instances { try await cluster.startHost(instance) }
        try await cluster.waitForInstances(Set(instances))
        return cluster
    }

    /// Runs `body` against a fresh cluster and stops every process afterwards, also when it throws.
    static func run(instances: [String] = ["agent-a", "agent-b"], requestTimeout: Int = 10, agentTimeout: Int = 15, controllers: Int = 1,
                    controllerArguments: [String] = [], supervisorArguments: [String] = [], agentArguments: [String] = [],
                    supervisorLauncher: [String] = [], _ body: (Cluster) async throws -> Void) async throws {
        let cluster = try await start(instances: instances, requestTimeout: requestTimeout, agentTimeout: agentTimeout,
                                      controllers: controllers, controllerArguments: controllerArguments,
                                      supervisorArguments: supervisorArguments, agentArguments: agentArguments, supervisorLauncher: supervisorLauncher)
        do {
            try await body(cluster)
        } catch {
            try? await cluster.stop()
            throw error
        }
        try await cluster.stop()
    }

    private init(broker: LocalBroker, ownsBroker: Bool, prefix: String, cliArguments: [String] = [], controllerArguments: [String],
                 hostArguments: (supervisor: [String], agent: [String]) = ([], []), supervisorLauncher: [String] = []) {
        self.supervisorLauncher = supervisorLauncher
        self.broker = broker
        self.ownsBroker = ownsBroker
        self.prefix = prefix
        self.cliArguments = cliArguments
        self.controllerArguments = controllerArguments
        self.hostArguments = hostArguments
        baseDirectory = FileManager.default.temporaryDirectory.appendingPathComponent("cluster-test-\(UUID().uuidString)")
    }

    /// Starts one more controller; `arguments` are added to the cluster's `controllerArguments`.
    @discardableResult
    func startController(waitUntilActive: Bool = true, arguments: [String] = []) async throws -> ServiceProcess {
        let controller = try ServiceProcess("controller-service", arguments: ["--brokers", broker.address] + prefixArguments + controllerArguments + arguments)
        processes.add(controller, role: "controller")
        try await controller.waitForOutput(waitUntilActive ? "controller active" : "controller-service ready")
        return controller
    }

    var controllers: [ServiceProcess] { processes.all(role: "controller") }

    /// - Parameter environment: added to the processes' own (a host key of the test's, say).
    func startHost(_ instance: String, environment: [String: String] = [:]) async throws {
        try await startSupervisor(instance, environment: environment)
        try await startAgent(instance, environment: environment)
    }

    /// Starts (or starts again) the supervisor of `instance`, on the same base directory.
    func startSupervisor(_ instance: String, environment: [String: String] = [:]) async throws {
        let arguments = [
            "--brokers", broker.address, "--instance", instance, "--base-dir", baseDirectory.appendingPathComponent(instance).path,
            "--kill-after", "3", "--stop-interval", "1",
        ] + prefixArguments + hostArguments.supervisor
        let supervisor = if let launcher = supervisorLauncher.first {
            try ServiceProcess("supervisor-service", arguments: supervisorLauncher.dropFirst() + [ServiceProcess.binDirectory.appendingPathComponent("supervisor-service").path] + arguments,
                               environment: environment, executable: URL(fileURLWithPath: launcher))
        } else {
            try ServiceProcess("supervisor-service", arguments: arguments, environment: environment)
        }
        processes.add(supervisor, role: "supervisor.\(instance)")
        try await supervisor.waitForOutput("supervisor-service ready")
    }

    /// Starts (or starts again) the agent of `instance`.
    func startAgent(_ instance: String, environment: [String: String] = [:]) async throws {
        let agent = try ServiceProcess("agent-service", arguments: ["--brokers", broker.address, "--instance", instance, "--heartbeat", "1"]
                                       + prefixArguments + hostArguments.agent, environment: environment)
        processes.add(agent, role: "agent.\(instance)")
        try await agent.waitForOutput("agent-service ready")
    }

    func agent(_ instance: String) -> ServiceProcess? { processes.all(role: "agent.\(instance)").last }

    func supervisor(_ instance: String) -> ServiceProcess? { processes.all(role: "supervisor.\(instance)").last }

    /// Runs zeek-mgmt against this cluster.
    func cli(_ arguments: String..., stdin: String? = nil) async throws -> CLIResult {
        try await cli(arguments: arguments, stdin: stdin)
    }

    func cli(arguments: [String], stdin: String? = nil, timeout: Duration = .seconds(60)) async throws -> CLIResult {
        try await CLIResult.run(arguments + prefixArguments + cliArguments, brokers: broker.address, stdin: stdin, timeout: timeout)
    }

    private var prefixArguments: [String] { prefix.isEmpty ? [] : ["--topic-prefix", prefix] }

    /// Waits until get-instances lists exactly `instances`.
    func waitForInstances(_ instances: Set<String>, timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        var last = ""
        while ContinuousClock.now < deadline {
            let result = try await cli("get-instances")
            last = result.stdout + result.stderr
            if result.status == 0, case .object(let listed)? = result.json, Set(listed.keys) == instances { return }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw ServiceProcessError("get-instances did not list \(instances.sorted()) within \(timeout); last output: \(last)")
    }

    /// Writes a cluster configuration file and returns its path.
    func file(_ text: String) throws -> String {
        try FileManager.default.createDirectory(at: baseDirectory, withIntermediateDirectories: true)
        let url = baseDirectory.appendingPathComponent("config-\(UUID().uuidString).ini")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    func stop() async throws {
        for process in processes.all().reversed() {
            let status = try await process.stop()
            // A process killed earlier in the test (failover, restart) reports its signal as 128 + n.
            #expect(status == 0 || status == 128 + SIGKILL || status == 128 + SIGTERM, "\(process.name) exited with \(status):\n\(process.text)")
        }
        if ownsBroker { broker.stop() }
        // ZEEK_MGMT_KEEP_TEST_DIRECTORIES keeps the nodes' directories (Zeek's logs) and each
        // service's output (<name>.out) to look into.
        if ProcessInfo.processInfo.environment["ZEEK_MGMT_KEEP_TEST_DIRECTORIES"] == nil {
            try? FileManager.default.removeItem(at: baseDirectory)
        } else {
            for (index, process) in processes.all().enumerated() {
                try? Data(process.text.utf8).write(to: baseDirectory.appendingPathComponent("\(index)-\(process.name).out"))
            }
        }
    }

    /// Breaks every validation rule a cluster INI file can break (configparser itself rejects
    /// duplicate sections, so duplicate names are only reachable through the API).
    static let everyFileValidationError = """
        [instances]
        agent-a
        agent-b = 127.0.0.1:2151

        [agent-a]
        instance = agent-a
        role = worker

        [m]
        instance = agent-b
        role = manager
        port = 2151

        [p1]
        instance = agent-a
        role = proxy
        port = 2150

        [p2]
        instance = agent-a
        role = proxy
        port = 2150

        [w]
        instance = agent-c
        role = worker
        """

    /// The controller's errors for ``everyFileValidationError``, in Zeek's words and order.
    static let everyFileValidationErrorMessages: JSONValue = [
        "multiple nodes on instance 'agent-a' using port 2150/tcp",
        "node 'm' port 2151/tcp conflicts with agent port on instance 'agent-b'",
        "node 'p1' port 2150/tcp conflicts with controller port",
        "node 'p2' port 2150/tcp conflicts with controller port",
        "node 'w' has undeclared instance name 'agent-c'",
        "node and instance names collide: agent-a",
    ]

    static let example = """
        [instances]
        agent-a
        agent-b

        [manager]
        instance = agent-a
        role = manager

        [logger]
        instance = agent-a
        role = logger

        [worker-1]
        instance = agent-b
        role = worker

        [worker-2]
        instance = agent-b
        role = worker
        """
}

private final class ProcessList: Sendable {
    private let entries = Mutex<[(role: String, process: ServiceProcess)]>([])
    func add(_ process: ServiceProcess, role: String) { entries.withLock { $0.append((role, process)) } }
    func all(role: String? = nil) -> [ServiceProcess] {
        entries.withLock { $0.filter { role == nil || $0.role == role }.map(\.process) }
    }
}

/// One run of the zeek-mgmt client: exit status, stdout, stderr.
struct CLIResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String

    var json: JSONValue? { try? ZeekJSON.decode(JSONValue.self, from: Data(stdout.utf8)) }

    subscript(_ path: String...) -> JSONValue? {
        var value = json
        for key in path {
            guard case .object(let members)? = value else { return nil }
            value = members[key]
        }
        return value
    }

    static func run(_ arguments: [String], brokers: String, stdin: String? = nil, timeout: Duration = .seconds(60)) async throws -> CLIResult {
        try await run(executable: ServiceProcess.binDirectory.appendingPathComponent("zeek-mgmt"),
                      arguments: arguments + ["--brokers", brokers],
                      environment: ProcessInfo.processInfo.environment.merging(LocalKeys.shared.environment(forExecutable: "zeek-mgmt", arguments: arguments)) { $1 },
                      stdin: stdin, timeout: timeout)
    }

    /// Runs a program to completion, capturing its output.
    ///
    /// Foundation's Process can miss a child's exit when many children end at once (its
    /// SIGCHLD handling races with registration), leaving `isRunning` true forever; so once both
    /// output pipes have closed, the child is reaped here directly if Foundation has not.
    static func run(executable: URL, arguments: [String], environment: [String: String]? = nil,
                    stdin: String? = nil, timeout: Duration = .seconds(60)) async throws -> CLIResult {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        // Blocking reads on threads of their own: on the cooperative pool they would starve
        // every other test of the (two-core) machine.
        let stdout = PipeReader(out), stderr = PipeReader(err)
        let deadline = ContinuousClock.now + timeout
        var status: Int32?
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw ServiceProcessError("\(executable.lastPathComponent) \(arguments.joined(separator: " ")) did not finish within \(timeout); stdout: \(stdout.text) stderr: \(stderr.text)")
            }
            if stdout.isClosed && stderr.isClosed {
                var raw: Int32 = 0
                if waitpid(process.processIdentifier, &raw, WNOHANG) == process.processIdentifier {
                    status = Process.exitCode(waitStatus: raw)
                    break
                }
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        while !(stdout.isClosed && stderr.isClosed) {
            guard ContinuousClock.now < deadline else { throw ServiceProcessError("\(executable.lastPathComponent) exited but its output did not end") }
            try await Task.sleep(for: .milliseconds(5))
        }
        return CLIResult(status: status ?? process.waitForExit(), stdout: stdout.text, stderr: stderr.text)
    }
}

/// Reads a pipe to its end on a thread of its own.
final class PipeReader: Sendable {
    private let state = Mutex((data: Data(), closed: false))

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        Thread { [self] in
            while true {
                let chunk = handle.availableData
                self.state.withLock { state in
                    if chunk.isEmpty { state.closed = true } else { state.data.append(chunk) }
                }
                if chunk.isEmpty { break }
            }
        }.start()
    }

    var isClosed: Bool { state.withLock { $0.closed } }
    var text: String { String(decoding: state.withLock { $0.data }, as: UTF8.self) }
}

extension Cluster {
    /// The live processes working in this cluster's directories other than its services: the
    /// node processes its supervisors started, whether or not anyone still reports them.
    func nodeProcesses() -> Set<Int> {
        let services = Set(processes.all().map { Int($0.pid) })
        let base = baseDirectory.resolvingSymlinksInPath().path
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return Set(entries.compactMap(Int.init).filter { pid in
            guard !services.contains(pid), isAlive(pid),
                  let directory = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd") else { return false }
            return directory.hasPrefix(base + "/")
        })
    }

    /// The nodes of the deployed configuration by instance, as the controller reports it.
    func deployedNodes() async throws -> [String: Set<String>] {
        let result = try await cli("get-config", "--deployed", "--as-json")
        guard result.status == 0, case .array(let nodes)? = result["nodes"] else {
            throw ServiceProcessError("get-config --deployed failed: \(result.stdout)\(result.stderr)")
        }
        var byInstance: [String: Set<String>] = [:]
        for case .object(let node) in nodes {
            guard case .string(let name)? = node["name"], case .string(let instance)? = node["instance"] else { continue }
            byInstance[instance, default: []].insert(name)
        }
        return byInstance
    }

    /// The pid and state get-nodes reports for every node (agents left out), by instance.
    func runningNodes() async throws -> [String: [String: (pid: Int, state: String)]] {
        guard case .object(let instances)? = try await cli("get-nodes")["results"] else { return [:] }
        var found: [String: [String: (pid: Int, state: String)]] = [:]
        for (instance, nodes) in instances {
            guard case .object(let nodes) = nodes else { continue }
            for (name, node) in nodes {
                guard case .object(let fields) = node, fields["mgmt_role"] == nil || fields["mgmt_role"] == .null,
                      case .string(let state)? = fields["state"] else { continue }
                var pid = 0
                if case .int(let value)? = fields["pid"] { pid = Int(value) }
                found[instance, default: [:]][name] = (pid, state)
            }
        }
        return found
    }

    /// Waits until the cluster runs exactly its deployed configuration: every deployed node
    /// RUNNING with a live process, no other node reported, and no node process running that
    /// get-nodes does not report. Returns how long that took.
    ///
    /// A request that goes unanswered counts as not converged yet: one sent while the active
    /// controller is dead waits in Kafka for the standby, and is skipped if the failover takes
    /// longer than its deadline (contract §7.3).
    @discardableResult
    func waitUntilConverged(within timeout: Duration = .seconds(30)) async throws -> Duration {
        let start = ContinuousClock.now
        var last = ""
        while ContinuousClock.now < start + timeout {
            let deployed: [String: Set<String>], running: [String: [String: (pid: Int, state: String)]]
            do {
                deployed = try await deployedNodes()
                running = try await runningNodes()
            } catch {
                last = "\(error)"
                try await Task.sleep(for: .milliseconds(250))
                continue
            }
            let reported = Set(running.values.flatMap { $0.values.map(\.pid) })
            let matches = Set(deployed.keys).union(running.keys).allSatisfy { instance in
                Set(running[instance, default: [:]].keys) == deployed[instance, default: []]
                    && running[instance, default: [:]].values.allSatisfy { $0.state == "RUNNING" && isAlive($0.pid) }
            }
            let strays = nodeProcesses().subtracting(reported)
            if matches && strays.isEmpty { return ContinuousClock.now - start }
            last = "deployed \(deployed), get-nodes \(running), processes nobody reports: \(strays.sorted())"
            try await Task.sleep(for: .milliseconds(250))
        }
        for process in processes.all() {
            print("--- \(process.name), last lines:\n\(process.text.split(separator: "\n").suffix(30).joined(separator: "\n"))")
        }
        throw ServiceProcessError("the cluster did not converge within \(timeout): \(last)")
    }
}
