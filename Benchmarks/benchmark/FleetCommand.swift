import ArgumentParser
import CRdKafka
import Foundation
import KafkaTransport
import LocalServers
import Logging
import ManagementKafka
import ManagementMessaging
import MessageSigning
import ManagementTypes
import Synchronization

/// The real controller-service against a fleet of simulated agents: what deploy, get-nodes
/// and the controller cost as the number of hosts grows.
///
/// The agents are simulated in this process, one per host name, and read what real agents
/// read under contract 2.0: the partition of their instance of `Management.Agent.API` (the
/// benchmark fetches every such partition once, as each agent in it would). They answer the
/// controller's requests as real agents do, without supervisors or nodes, and check in every
/// 5 s. Their traffic with supervisors and nodes (`Supervisor.API`, `Management.Node.API`) is
/// per host, in that host's partition, and not simulated.
struct FleetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleet",
        abstract: "controller-service with N simulated agents: stage, deploy and get-nodes times, controller RSS, bytes one agent reads, idle requests."
    )

    @OptionGroup var broker: BrokerOption

    @Option(help: "Fleet sizes to measure, comma-separated.")
    var agents: String = "100,1000,5000"

    @Option(help: "Nodes per agent.")
    var nodesPerAgent: Int = 10

    @Option(help: "Partitions of the per-host topics.")
    var partitions: Int = TopicNamespace.defaultPartitions

    @Option(help: "get-nodes round trips per fleet size.")
    var rounds: Int = 20

    @Option(help: "linger.ms of the simulated agents' one producer: how long it gathers answers into a batch.")
    var linger: Int = 5

    @Flag(inversion: .prefixedNo, help: "Also measure each fleet size with every message unsigned, alternating with the signed run, to show what signing costs.")
    var compareUnsigned = true

    @Option(help: "fetch.wait.max.ms of the controller and the simulation. The embedded broker spends its CPU on the idle fetches of many partitions at the tests' 10 ms.")
    var fetchWait: Int = Int(LocalBroker.clientOptions["fetch.wait.max.ms"] ?? "10") ?? 10

    func run() async throws {
        let logger = bootstrapBenchmark()
        let sizes = agents.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !sizes.isEmpty, sizes.allSatisfy({ $0 > 0 }) else { throw ValidationError("--agents takes sizes such as 100,1000,5000") }
        var reports: [FleetReport] = []
        var unsignedReports: [FleetReport] = []
        for (index, size) in sizes.enumerated() {
            let variants = !compareUnsigned ? [true] : index.isMultiple(of: 2) ? [true, false] : [false, true]
            for signed in variants {
                BenchmarkSigning.isEnabled = signed
                defer { BenchmarkSigning.isEnabled = true }
                let report = try await broker.withBroker { servers, brokerProcess in
                    try await measure(agents: size, servers: servers, brokerProcess: brokerProcess, logger: logger)
                }
                print((signed ? "signed: " : "unsigned: ") + report.lines.joined(separator: "\n"))
                if signed { reports.append(report) } else { unsignedReports.append(report) }
            }
        }
        let idle = try await broker.withBroker { servers in try await idleFetchRate(servers: servers, logger: logger) }
        print("")
        print("\(nodesPerAgent) nodes per agent, \(partitions) partitions, fetch.wait.max.ms=\(fetchWait)")
        print("agents  stage      deploy     get-nodes  controller RSS (peak)  deployed config  one agent reads per deploy: median / most (x config)")
        for report in reports { print(report.row) }
        if !unsignedReports.isEmpty {
            print("every message unsigned (--insecure-unsigned), in the same run:")
            for report in unsignedReports { print(report.row) }
            for (signed, unsigned) in zip(reports, unsignedReports) {
                func cost(_ a: Duration, _ b: Duration) -> String { String(format: "%+.1f%%", (seconds(a) / seconds(b) - 1) * 100) }
                print("  \(signed.agents) agents: signing costs deploy \(cost(signed.deploy, unsigned.deploy)), get-nodes \(cost(signed.getNodes, unsigned.getNodes)); controller CPU for one get-nodes \(signed.getNodesCPU) signed, \(unsigned.getNodesCPU) unsigned")
            }
        }
        print(String(format: "idle: one consumer with the services' settings sends %.1f fetch requests/s", idle))
        print(String(format: "      a host with an agent, a supervisor and %d stand-in nodes: %d consumers, %.0f requests/s (+0.4/s heartbeats)", nodesPerAgent, nodesPerAgent + 2, idle * Double(nodesPerAgent + 2)))
        for report in reports {
            print(String(format: "      %d hosts: %.0f requests/s (Zeek nodes, relayed by the supervisor: %.0f/s)", report.agents,
                         idle * Double(report.agents * (nodesPerAgent + 2)), idle * Double(report.agents * 2)))
        }
    }

    private func measure(agents count: Int, servers: String, brokerProcess: Int32?, logger: Logger) async throws -> FleetReport {
        let options = LocalBroker.clientOptions.merging(["fetch.wait.max.ms": "\(fetchWait)"]) { _, new in new }
        let names = (1...count).map { "host-\($0)" }
        // The simulated hosts' keys are in the trust file before the controller starts.
        let signing = try FleetSigning(names: names, logger: logger)
        let kafka = KafkaConfiguration(bootstrapServers: servers.split(separator: ",").map(String.init), clientID: "bench-fleet", overrides: options)
        try await KafkaAdmin(configuration: kafka, logger: logger).ensureTopics([.agentAPI, .agentAPI.notify, .agentAPI.replies].map(TopicNamespace(partitions: partitions).specification))
        let controller = try launchService("controller-service", ["--request-timeout", "120", "--agent-timeout", "30", "--partitions", "\(partitions)"],
                                           servers: servers, kafkaOptions: options)
        defer {
            controller.terminate()
            controller.waitForExit()
        }
        /// CPU used so far by the controller, the broker (when local) and this process (the
        /// simulated agents and the client).
        func cpu() -> CPUShares {
            CPUShares(controller: cpuTime(of: controller.processIdentifier), broker: brokerProcess.map { cpuTime(of: $0) }, fleet: cpuTime(of: nil))
        }
        let fleet = try await SimulatedFleet.start(names: names, nodesPerAgent: nodesPerAgent, partitions: partitions, kafka: kafka, lingerMs: linger,
                                                   signing: signing, logger: logger)
        let client = try await ManagementClient.connect(name: "bench-fleet-client", kafka: kafka, namespace: TopicNamespace(), topics: [.controllerAPI],
                                                    security: try BenchmarkSigning.security(.client, keyPath: LocalKeys.shared.deployer), logger: logger)
        func ask<Request: ManagementRequest>(_ request: Request) async throws -> Request.Response {
            try await client.request(request, on: .controllerAPI, target: "controller", timeout: .seconds(180))
        }
        do {
            // Every agent checked in.
            let started = ContinuousClock.now
            let deadline = started + .seconds(120)
            while true {
                let listed = try? await ask(ControllerAPI.GetInstancesRequest(reqid: UUID().uuidString)).result.data?.decode(as: [Management.Instance].self)
                if listed?.count == count {
                    progress("\(count) agents: all checked in after \(format(ContinuousClock.now - started))")
                    break
                }
                guard ContinuousClock.now < deadline else { throw BenchmarkError("the controller saw \(listed?.count ?? 0) of \(count) agents within 120 s") }
                try await Task.sleep(for: .milliseconds(500))
            }
            let config = Management.Configuration(
                instances: Set(names.map { Management.Instance(name: $0) }),
                nodes: Set(names.flatMap { name in (1...nodesPerAgent).map { Management.Node(name: "\(name)-w\($0)", instance: name, role: .worker) } })
            )

            var start = ContinuousClock.now
            let staged = try await ask(ControllerAPI.StageConfigurationRequest(reqid: UUID().uuidString, config: config))
            let stageTime = ContinuousClock.now - start
            guard staged.results.allSatisfy(\.success) else { throw BenchmarkError("staging failed: \(staged.results.prefix(3))") }
            progress("\(count) agents: staged \(config.nodes.count) nodes in \(format(stageTime))")

            fleet.resetCounts()
            let beforeDeploy = cpu()
            start = ContinuousClock.now
            let deployed = try await ask(ControllerAPI.DeployRequest(reqid: UUID().uuidString))
            let deployTime = ContinuousClock.now - start
            let deployCPU = cpu() - beforeDeploy
            let read = fleet.bytesReadPerAgent()
            // What the agents were sent: the staged configuration with hosts and ports filled in.
            let deployedConfig = try await ask(ControllerAPI.GetConfigurationRequest(reqid: UUID().uuidString, deployed: true)).result.data
            let configSize = try deployedConfig.map { try ZeekJSON.encode($0).count } ?? 0
            let acknowledged = Set(deployed.results.compactMap(\.instance))
            guard deployed.results.allSatisfy(\.success), acknowledged.count == count, deployed.results.filter({ $0.node != nil }).count == count * nodesPerAgent else {
                throw BenchmarkError("deploy failed: \(deployed.results.filter { !$0.success }.prefix(3)); \(acknowledged.count) of \(count) agents answered")
            }

            progress("\(count) agents: deployed in \(format(deployTime))")
            var getNodes: [Duration] = []
            let beforeGetNodes = cpu()
            for round in 1...rounds {
                start = ContinuousClock.now
                let response = try await ask(ControllerAPI.GetNodesRequest(reqid: UUID().uuidString))
                getNodes.append(ContinuousClock.now - start)
                progress("\(count) agents: get-nodes \(round)/\(rounds) in \(format(getNodes[round - 1]))")
                guard response.results.count == count, response.results.allSatisfy(\.success) else {
                    throw BenchmarkError("get-nodes failed: \(response.results.count) of \(count) agents, \(response.results.filter { !$0.success }.prefix(3))")
                }
            }
            let getNodesCPU = (cpu() - beforeGetNodes) / rounds
            let pid = controller.processIdentifier
            let footprint = (current: memory(of: pid, file: "status", field: "VmRSS:"), peak: memory(of: pid, file: "status", field: "VmHWM:"))
            await client.close()
            await fleet.stop()
            return FleetReport(agents: count, stage: stageTime, deploy: deployTime, getNodes: percentile(getNodes, 0.5),
                               rss: footprint.current, peakRSS: footprint.peak, configSize: configSize,
                               medianRead: read.sorted()[read.count / 2], mostRead: read.max() ?? 0,
                               deployCPU: deployCPU, getNodesCPU: getNodesCPU)
        } catch {
            await client.close()
            await fleet.stop()
            throw error
        }
    }

    /// Fetch requests per second of one idle consumer with the services' own settings (not the
    /// short wait the local broker's clients use), from librdkafka's statistics. Written against
    /// librdkafka directly, as the bare floors are: the project's clients expose no statistics.
    private func idleFetchRate(servers: String, logger: Logger) async throws -> Double {
        let kafka = KafkaConfiguration(bootstrapServers: servers.split(separator: ",").map(String.init), clientID: "bench-idle")
        let topic = TopicSpecification(name: "bench-idle-\(UUID().uuidString)", partitions: 1)
        try await KafkaAdmin(configuration: kafka, logger: logger).ensureTopics([topic])
        let properties = kafka.properties(role: KafkaConfiguration.Tuning.consumer + KafkaConfiguration.Tuning.standalone(groupID: "bench-idle-\(UUID())"))
            + [("statistics.interval.ms", "1000")]
        return try await Task.detached { try IdleFetches.measure(properties: properties, topic: topic.name, seconds: 7) }.value
    }
}

struct FleetReport {
    var agents: Int
    var stage: Duration
    var deploy: Duration
    var getNodes: Duration
    var rss: Int
    var peakRSS: Int
    var configSize: Int
    var medianRead: Int
    var mostRead: Int
    var deployCPU: CPUShares
    var getNodesCPU: CPUShares

    var lines: [String] {
        ["\(agents) agents: stage \(format(stage)), deploy \(format(deploy)), get-nodes p50 \(format(getNodes)), controller RSS \(mebibytes(rss)) (peak \(mebibytes(peakRSS)))",
         String(format: "  one agent reads per deploy: median %@ (%.2fx the configuration's %@), most %@ (%.2fx)", mebibytes(medianRead),
                Double(medianRead) / Double(configSize), mebibytes(configSize), mebibytes(mostRead), Double(mostRead) / Double(configSize)),
         "  CPU for the deploy: \(deployCPU); for one get-nodes: \(getNodesCPU)"]
    }

    var row: String {
        String(format: "%6d  %9@  %9@  %9@  %10@ (%@)  %9@  %@ / %@ (%.2fx / %.2fx)",
               agents, format(stage), format(deploy), format(getNodes), mebibytes(rss), mebibytes(peakRSS), mebibytes(configSize),
               mebibytes(medianRead), mebibytes(mostRead), Double(medianRead) / Double(configSize), Double(mostRead) / Double(configSize))
    }

    private func mebibytes(_ bytes: Int) -> String { String(format: "%.2f MiB", Double(bytes) / 1_048_576) }
}

/// CPU time each party used for an operation: what the machine's cores were shared between.
struct CPUShares: CustomStringConvertible {
    var controller: Duration
    var broker: Duration?
    var fleet: Duration

    static func - (after: CPUShares, before: CPUShares) -> CPUShares {
        CPUShares(controller: after.controller - before.controller, broker: after.broker.flatMap { a in before.broker.map { a - $0 } }, fleet: after.fleet - before.fleet)
    }

    static func / (shares: CPUShares, count: Int) -> CPUShares {
        CPUShares(controller: shares.controller / count, broker: shares.broker.map { $0 / count }, fleet: shares.fleet / count)
    }

    var description: String {
        "controller \(format(controller)), broker \(broker.map(format) ?? "not measured"), simulated agents and client \(format(fleet))"
    }
}

/// Simulated agents answering the controller from one process; see ``FleetCommand``.
struct SimulatedFleet {
    private let responder: FleetResponder
    private let producer: KafkaProducer
    private let consumer: KafkaConsumer
    private let work: Task<Void, Never>

    static func start(names: [String], nodesPerAgent: Int, partitions: Int, kafka: KafkaConfiguration, lingerMs: Int, signing: FleetSigning?,
                      logger: Logger) async throws -> SimulatedFleet {
        let byPartition = Dictionary(grouping: names) { Murmur2Partitioner.partition(of: $0, among: partitions) }
        // One producer answers for every agent; a short linger puts one request's answers in a
        // few batches. Real agents send one batch each, which Apache Kafka indexes; the embedded
        // broker lists every batch of a partition on each fetch, so a batch per answer would
        // measure that listing (it grows with every round) rather than the control plane.
        var producing = kafka
        producing.overrides["linger.ms"] = "\(lingerMs)"
        let producer = try KafkaProducer(configuration: producing, logger: logger)
        let consumer = try await KafkaConsumer(
            configuration: kafka,
            subscription: .assigned(byPartition.values.map { PartitionSelection(topic: Topic.agentAPI.name, key: $0[0]) }, committedIn: nil),
            bufferLimits: .init(lowWatermark: 1_000, highWatermark: 10_000), logger: logger
        )
        let responder = FleetResponder(agentsByPartition: byPartition, producer: producer, signing: signing, logger: logger)
        let work = Task {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    // Check-ins every 5 s, as agent-service's default heartbeat.
                    let id = UUID().uuidString
                    while !Task.isCancelled {
                        for name in names {
                            let hello = Envelope(event: AgentAPI.NotifyAgentHello(instance: name, id: id, host: IPAddress("192.0.2.1")), sender: name)
                            guard var record = try? hello.kafkaRecord(topic: Topic.agentAPI.notify.name) else { continue }
                            signing?.sign(&record, as: name)
                            _ = try? producer.enqueue(record)
                        }
                        try? await Task.sleep(for: .seconds(5))
                    }
                }
                group.addTask {
                    for await message in consumer.messages { responder.handle(message) }
                }
            }
        }
        return SimulatedFleet(responder: responder, producer: producer, consumer: consumer, work: work)
    }

    func resetCounts() { responder.resetCounts() }

    /// Per agent: the bytes of its partition fetched since ``resetCounts()``.
    func bytesReadPerAgent() -> [Int] { responder.bytesReadPerAgent() }

    func stop() async {
        work.cancel()
        await consumer.shutdown()
        await producer.shutdown()
    }
}

/// Answers, for every simulated agent of a record's partition, what a real agent answers.
final class FleetResponder: Sendable {
    private struct State {
        /// Bytes of every record fetched per partition since the last reset (value, key, headers).
        var bytes: [Int32: Int] = [:]
        /// The configurations of recent requests, decoded once for all agents, by reqid and by id.
        var configurations: [String: (config: Management.Configuration, nodes: [String: [Management.Node]])] = [:]
        /// Per agent, the node statuses it reports (computed once per deploy: the simulation
        /// shares the controller's cores, real agents do not).
        var running: [String: JSONValue?] = [:]
        /// The last request read, parsed: a broadcast's copies in other partitions are the same bytes.
        var lastParsed: InboundMessage?
    }

    private let agentsByPartition: [Int32: [String]]
    private let producer: KafkaProducer
    private let signing: FleetSigning?
    private let logger: Logger
    private let state = Mutex(State())

    init(agentsByPartition: [Int32: [String]], producer: KafkaProducer, signing: FleetSigning?, logger: Logger) {
        self.agentsByPartition = agentsByPartition
        self.producer = producer
        self.signing = signing
        self.logger = logger
    }

    func resetCounts() {
        state.withLock { $0.bytes = [:] }
    }

    func bytesReadPerAgent() -> [Int] {
        let bytes = state.withLock { $0.bytes }
        return agentsByPartition.flatMap { partition, agents in agents.map { _ in bytes[partition] ?? 0 } }
    }

    func handle(_ message: KafkaMessage) {
        let size = message.value.count + (message.key?.count ?? 0) + message.headers.reduce(0) { $0 + $1.name.utf8.count + ($1.value?.count ?? 0) }
        state.withLock { $0.bytes[message.partition, default: 0] += size }
        // Answers to the controller, in the partitions it shares with agents, are told by their header.
        guard message.header(EnvelopeHeader.event)?.stringValue?.hasSuffix("_request") == true else { return }
        // A broadcast comes once per partition: parsed once, as each real agent parses its one copy.
        let inbound: InboundMessage
        if let last = state.withLock({ $0.lastParsed }), last.record.value == message.value {
            inbound = last
        } else {
            guard let parsed = try? InboundMessage(parsing: message, on: .agentAPI) else { return }
            // Verified once, as each real agent verifies its one copy.
            if let signing, !signing.admits(parsed) { return }
            inbound = parsed
            state.withLock { $0.lastParsed = parsed }
        }
        let head = inbound.head
        let reqid = inbound.reqid ?? ""
        let agents = agentsByPartition[message.partition] ?? []
        let recipients = head.target.map { target in agents.contains(target) ? [target] : [] } ?? agents
        guard !recipients.isEmpty else { return }
        let replyTopic = inbound.replyTopic
        func answer<Response: ManagementEvent>(_ make: (String) -> Response?) {
            for agent in recipients {
                guard let response = make(agent) else { continue }
                let envelope = Envelope(event: response, sender: agent, target: head.sender)
                do {
                    var record = try envelope.kafkaRecord(topic: replyTopic.name)
                    signing?.sign(&record, as: agent)
                    _ = try producer.enqueue(record)
                } catch { logger.warning("\(agent): \(error)") }
            }
        }
        func configuration(of type: (some ConfigurationRequest).Type) -> (config: Management.Configuration, nodes: [String: [Management.Node]])? {
            if let known = self.state.withLock({ $0.configurations[reqid] }) { return known }
            guard let config = try? type.configuration(in: inbound) else { return nil }
            let decoded = (config, Dictionary(grouping: config.nodes, by: \.instance))
            self.state.withLock {
                $0.configurations[reqid] = decoded
                $0.configurations[config.id] = decoded
            }
            return decoded
        }
        /// Runs `own` on `agent`: one Result per node, as a real agent answers a deploy.
        func deploy(_ own: [Management.Node], on agent: String) -> AgentAPI.DeployResponse {
            // What get-nodes answers until the next deploy, as the agent's supervisor would report it.
            let statuses = [Management.NodeStatus(node: agent, state: .running, mgmtRole: .agent)]
                + own.map { Management.NodeStatus(node: $0.name, state: .running, clusterRole: $0.role, pid: 1) }
            let reported = try? JSONValue(encoding: statuses)
            self.state.withLock { $0.running[agent] = reported }
            let results = own.isEmpty ? [Management.Result(reqid: reqid, instance: agent)]
                : own.map { Management.Result(reqid: reqid, instance: agent, node: $0.name) }
            return AgentAPI.DeployResponse(reqid: reqid, results: results)
        }
        switch head.event {
        case AgentAPI.AgentWelcomeRequest.eventName:
            answer { AgentAPI.AgentWelcomeResponse(reqid: reqid, result: Management.Result(reqid: reqid, instance: $0)) }
        case AgentAPI.AgentStandbyRequest.eventName:
            answer { AgentAPI.AgentStandbyResponse(reqid: reqid, result: Management.Result(reqid: reqid, instance: $0)) }
        case AgentAPI.CheckRequest.eventName:
            guard let (config, _) = configuration(of: AgentAPI.CheckRequest.self) else { return }
            answer { agent -> AgentAPI.CheckResponse? in
                guard head.target != nil || config.instances.contains(where: { $0.name == agent }) else { return nil }
                return AgentAPI.CheckResponse(reqid: reqid, results: [Management.Result(reqid: reqid, instance: agent)])
            }
        case AgentAPI.DeployRequest.eventName:
            guard let (config, nodes) = configuration(of: AgentAPI.DeployRequest.self) else { return }
            answer { agent -> AgentAPI.DeployResponse? in
                guard head.target != nil || config.instances.contains(where: { $0.name == agent }) else { return nil }
                return deploy(nodes[agent] ?? [], on: agent)
            }
        case AgentAPI.DeployCheckedRequest.eventName:
            guard let request = try? inbound.decode(AgentAPI.DeployCheckedRequest.self).event else { return }
            let checked = self.state.withLock { $0.configurations[request.config_id] }
            answer { agent -> AgentAPI.DeployResponse? in
                guard let (config, nodes) = checked, config.instances.contains(where: { $0.name == agent }) else {
                    return AgentAPI.DeployResponse(reqid: reqid, results: [Management.Result(reqid: reqid, success: false, instance: agent,
                                                                                              error: AgentAPI.DeployCheckedRequest.notChecked(request.config_id))])
                }
                return deploy(nodes[agent] ?? [], on: agent)
            }
        case AgentAPI.GetNodesRequest.eventName:
            answer { agent -> AgentAPI.GetNodesResponse? in
                let statuses = self.state.withLock { $0.running[agent] } ?? nil
                return AgentAPI.GetNodesResponse(reqid: reqid, result: Management.Result(reqid: reqid, instance: agent, data: statuses))
            }
        default:
            break
        }
    }
}

/// A request that carries a configuration.
protocol ConfigurationRequest: ManagementRequest {
    static func configuration(in message: InboundMessage) throws -> Management.Configuration
}

extension AgentAPI.CheckRequest: ConfigurationRequest {
    static func configuration(in message: InboundMessage) throws -> Management.Configuration { try message.decode(Self.self).event.config }
}

extension AgentAPI.DeployRequest: ConfigurationRequest {
    static func configuration(in message: InboundMessage) throws -> Management.Configuration { try message.decode(Self.self).event.config }
}

/// One idle consumer's fetch requests, counted by librdkafka's statistics.
enum IdleFetches {
    /// Where the statistics callback, a C function, puts the cumulative Fetch count it reads.
    final class Samples: @unchecked Sendable {
        let lock = NSLock()
        var values: [(time: Double, fetches: Double)] = []
    }

    static func measure(properties: [(String, String)], topic: String, seconds: Double) throws -> Double {
        let samples = Samples()
        let box = Unmanaged.passRetained(samples)
        defer { box.release() }
        let handle = try BareKafka.handle(RD_KAFKA_CONSUMER, properties: properties) { conf in
            rd_kafka_conf_set_opaque(conf, box.toOpaque())
            rd_kafka_conf_set_stats_cb(conf) { _, json, length, opaque in
                guard let json, let opaque else { return 0 }
                let samples = Unmanaged<Samples>.fromOpaque(opaque).takeUnretainedValue()
                let data = Data(bytes: json, count: length)
                if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let brokers = object["brokers"] as? [String: Any] {
                    let fetches = brokers.values.compactMap { (($0 as? [String: Any])?["req"] as? [String: Any])?["Fetch"] as? Double }.reduce(0, +)
                    samples.lock.lock()
                    samples.values.append((Date().timeIntervalSince1970, fetches))
                    samples.lock.unlock()
                }
                return 0
            }
        }
        defer { BareKafka.close(handle, isConsumer: true) }
        try BareKafka.assignAtEnd(handle, topic: topic)
        let end = Date().addingTimeInterval(seconds)
        while Date() < end { _ = BareKafka.poll(handle, milliseconds: 100) }
        samples.lock.lock()
        let taken = samples.values
        samples.lock.unlock()
        guard let first = taken.dropFirst().first, let last = taken.last, last.time > first.time else { return .nan }
        return (last.fetches - first.fetches) / (last.time - first.time)
    }
}

/// The simulated agents' keys (enrolled in the benchmark's trust file) and the check every
/// agent makes of what it is sent; nil when the benchmark runs unsigned.
struct FleetSigning: Sendable {
    private let keys: [String: SigningKey]
    private let verifier: MessageGuard

    init?(names: [String], logger: Logger) throws {
        guard BenchmarkSigning.isEnabled else { return nil }
        var keys: [String: SigningKey] = [:]
        for name in names { keys[name] = try LocalKeys.shared.signingKey(LocalKeys.shared.host(name)) }
        self.keys = keys
        verifier = MessageGuard(security: EndpointSecurity(key: SigningKey.generate(), trust: try LocalKeys.shared.trustStore(),
                                                           policy: TrustPolicy([.agentAPI: [.controllers]])), logger: logger)
    }

    func sign(_ record: inout KafkaRecord, as agent: String) {
        guard let key = keys[agent] else { return }
        record.headers += SignedRecord(signing: record.value, topic: record.topic, key: record.key ?? Data(), with: key).kafkaHeaders
    }

    func admits(_ message: InboundMessage) -> Bool {
        if case .success = verifier.admit(message) { return true }
        return false
    }
}
