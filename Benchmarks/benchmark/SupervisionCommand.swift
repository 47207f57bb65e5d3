import ArgumentParser
import Foundation
import KafkaTransport
import LocalServers
import Logging
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Measures the supervisor: how long creating N nodes takes until every one has said hello,
/// against spawning the same `cluster-node` processes directly in the same run; and how long a
/// stable node that crashes takes to be running (hello included) again.
struct SupervisionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervision",
        abstract: "Node start-up through supervisor-service vs. direct spawning; crash-to-running latency."
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "Nodes started per round.")
    var nodes: Int = 32

    @Option(help: "Rounds of each start-up variant (alternating).")
    var rounds: Int = 7

    @Option(help: "Crashes of a stable node to time.")
    var crashes: Int = 10

    func run() async throws {
        let logger = bootstrapBenchmark()
        try await broker.withBroker { servers in try await measure(servers: servers, logger: logger) }
    }

    private func measure(servers: String, logger: Logger) async throws {
        let binaries = executableDirectory
        let instance = "bench-host"
        let observer = try await HelloObserver(servers: servers, instance: instance, logger: logger)
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("supervision-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: base) }

        let supervisor = Process()
        supervisor.executableURL = binaries.appendingPathComponent("supervisor-service")
        supervisor.arguments = ["--brokers", servers, "--instance", instance, "--base-dir", base.path,
                                "--stable-after", "1", "--log-level", "warning"]
        supervisor.environment = ProcessInfo.processInfo.environment
            .merging(BenchmarkSigning.environment(forExecutable: "supervisor-service", arguments: supervisor.arguments ?? [])) { $1 }
        supervisor.standardOutput = FileHandle.nullDevice
        supervisor.standardError = FileHandle.nullDevice // the crashes below are logged as warnings
        try supervisor.run()
        defer { supervisor.terminate(); supervisor.waitForExit() }
        try await observer.waitForSupervisor()
        print("\(nodes) nodes per round, \(rounds) rounds per variant; broker \(servers)")

        var direct: [Duration] = []
        var supervised: [Duration] = []
        for round in 1...rounds {
            for variant in round.isMultiple(of: 2) ? ["supervised", "direct"] : ["direct", "supervised"] {
                let names = (1...nodes).map { "r\(round)-\(variant)-\($0)" }
                if variant == "direct" {
                    direct.append(try await startDirectly(names, binaries: binaries, servers: servers, instance: instance, observer: observer))
                } else {
                    supervised.append(try await startSupervised(names, observer: observer))
                }
            }
            print("round \(round)/\(rounds): direct \(format(direct.last!)), through the supervisor \(format(supervised.last!))")
        }

        var crashSamples: [Duration] = []
        if crashes > 0 {
            let name = "stable"
            _ = try await startSupervised([name], observer: observer)
            for _ in 1...crashes {
                try await Task.sleep(for: .milliseconds(1200)) // up long enough (--stable-after 1) to count as stable
                let pid = try observer.lastPID(of: name)
                let hellos = observer.helloCount(name)
                let start = ContinuousClock.now
                kill(Int32(pid), SIGKILL)
                try await observer.waitForHellos([name: hellos + 1])
                crashSamples.append(ContinuousClock.now - start)
            }
        }

        await observer.shutdown()
        print("")
        print("start \(nodes) nodes until all said hello (median of \(rounds))")
        print("  spawned directly         \(pad(format(percentile(direct, 0.5))))")
        print("  through supervisor-service \(pad(format(percentile(supervised, 0.5))))")
        print(String(format: "  ratio %.2fx (supervised / direct)", seconds(percentile(supervised, 0.5)) / seconds(percentile(direct, 0.5))))
        if !crashSamples.isEmpty {
            print("stable node killed (SIGKILL) until running again, hello included (\(crashSamples.count) crashes)")
            print("  p50 \(format(percentile(crashSamples, 0.5)))   max \(format(crashSamples.max()!))")
        }
    }

    private func startSupervised(_ names: [String], observer: HelloObserver) async throws -> Duration {
        let start = ContinuousClock.now
        for name in names {
            observer.endpoint.enqueue(SupervisorControl.CreateRequest(reqid: UUID().uuidString, node: Supervisor.NodeConfig(name: name)),
                                      to: .supervisorAPI, target: observer.instance)
        }
        try await observer.waitForHellos(Dictionary(uniqueKeysWithValues: names.map { ($0, 1) }))
        let elapsed = ContinuousClock.now - start
        if names.count > 1 {
            observer.endpoint.enqueue(SupervisorControl.DestroyRequest(reqid: UUID().uuidString, node: ""), to: .supervisorAPI, target: observer.instance)
            try await observer.waitForDestroy()
        }
        return elapsed
    }
}

/// The floor of starting nodes: spawn `cluster-node` processes directly and wait for their hellos.
func startDirectly(_ names: [String], binaries: URL, servers: String, instance: String, observer: HelloObserver) async throws -> Duration {
    let start = ContinuousClock.now
    var processes: [Process] = []
    for name in names {
        let process = Process()
        process.executableURL = binaries.appendingPathComponent("cluster-node")
        process.environment = ProcessInfo.processInfo.environment.merging([
            "ZEEK_MGMT_BROKERS": servers, "ZEEK_MGMT_INSTANCE": instance, "CLUSTER_NODE": name, "ZEEK_MGMT_LOG_LEVEL": "warning",
        ].merging(BenchmarkSigning.environment(forExecutable: "cluster-node", arguments: ["--instance", instance])) { $1 }) { $1 }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        processes.append(process)
    }
    try await observer.waitForHellos(Dictionary(uniqueKeysWithValues: names.map { ($0, 1) }))
    let elapsed = ContinuousClock.now - start
    processes.forEach { $0.terminate() }
    processes.forEach { $0.waitForExit() }
    return elapsed
}

/// Watches hellos, node status reports and supervisor responses for one instance.
final class HelloObserver: Sendable {
    let endpoint: ManagementEndpoint
    let instance: String
    private final class Counters: Sendable {
        let state = Mutex<(hellos: [String: Int], pids: [String: Int], destroys: Int)>(([:], [:], 0))
    }

    private let counters = Counters()
    private let reader: Task<Void, Never>

    init(servers: String, instance: String, logger: Logger) async throws {
        self.instance = instance
        let endpoint = try await ManagementEndpoint.connect(EndpointConfiguration(
            name: instance,
            kafka: KafkaConfiguration(bootstrapServers: servers.split(separator: ",").map(String.init), clientID: "benchmark", overrides: LocalBroker.clientOptions),
            namespace: TopicNamespace(),
            consumes: [Topic.nodeAPI.notify.whole, Topic.supervisorAPI.whole, Topic.supervisorAPI.notify.whole],
            creates: [.nodeAPI],
            membership: .fromEnd,
            addressing: .everything,
            security: try BenchmarkSigning.security(.observer, keyPath: LocalKeys.shared.host(instance))
        ), logger: logger)
        self.endpoint = endpoint
        let counters = self.counters
        reader = Task {
            for await message in endpoint.inbound {
                if let hello = try? message.decode(NodeAPI.NodeHello.self) {
                    counters.state.withLock { $0.hellos[hello.event.node, default: 0] += 1 }
                } else if let status = try? message.decode(SupervisorNotification.NodeStatus.self) {
                    counters.state.withLock { $0.pids[status.event.node] = status.event.pid }
                } else if message.event == SupervisorControl.DestroyResponse.eventName {
                    counters.state.withLock { $0.destroys += 1 }
                }
            }
        }
    }

    func shutdown() async {
        await endpoint.shutdown()
        await reader.value
    }

    func helloCount(_ node: String) -> Int { counters.state.withLock { $0.hellos[node] ?? 0 } }

    func lastPID(of node: String) throws -> Int {
        guard let pid = counters.state.withLock({ $0.pids[node] }) else { throw BenchmarkError("no pid reported for \(node)") }
        return pid
    }

    func waitForHellos(_ expected: [String: Int], timeout: Duration = .seconds(120)) async throws {
        try await poll(timeout, "hellos") { counters.state.withLock { seen in expected.allSatisfy { seen.hellos[$0.key, default: 0] >= $0.value } } }
    }

    func waitForDestroy() async throws {
        let before = counters.state.withLock { $0.destroys }
        try await poll(.seconds(60), "destroy response") { counters.state.withLock { $0.destroys > before } }
    }

    /// The supervisor answers a status request once it consumes its topic.
    func waitForSupervisor() async throws {
        let before = counters.state.withLock { $0.destroys }
        let deadline = ContinuousClock.now + .seconds(60)
        while counters.state.withLock({ $0.destroys }) == before {
            guard ContinuousClock.now < deadline else { throw BenchmarkError("supervisor-service did not answer within 60 s") }
            endpoint.enqueue(SupervisorControl.DestroyRequest(reqid: UUID().uuidString, node: "no-such-node"), to: .supervisorAPI, target: instance)
            try await Task.sleep(for: .milliseconds(500))
        }
    }

    private func poll(_ timeout: Duration, _ what: String, _ done: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !done() {
            guard ContinuousClock.now < deadline else { throw BenchmarkError("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
}

struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
