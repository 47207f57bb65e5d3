import Foundation
import Crypto
import Logging
import ManagementMessaging
import ManagementTypes
import LocalPorts
import ZeekNodes

/// The supervisor's state: every node it runs, restarting those that die.
///
/// Requests change state in arrival order (each entry point does its bookkeeping before its
/// first suspension); slow parts — stopping a process that takes seconds to exit — run in the
/// background, so one slow node never holds up requests for the others.
public actor NodeSupervisor {
    public struct Settings: Sendable {
        public var launch: NodeLaunch.Context
        /// Between repeated SIGTERMs while stopping a node.
        public var stopInterval: Duration = .seconds(2)
        /// When a node still running gets SIGKILL.
        public var killAfter: Duration = .seconds(26)
        /// A node up this long that dies is respawned at once, with its back-off reset.
        public var stableUptime: Duration = .seconds(30)
        /// Upper bound of the crash-loop back-off.
        public var maximumBackoff: Duration = .seconds(60)
        /// Output lines kept per stream for `notify_node_exit`.
        public var outputLines = 100
        /// How long Zeek may take to parse a node's scripts in a check.
        public var checkTimeout: Duration = .seconds(60)
        /// Checks (`zeek --parse-only`) run at once: each is a Zeek parsing every script, which
        /// takes a core and about 100 MB for a fraction of a second; more wait their turn. One
        /// per core, 2 to 8: every node of a deploy is checked on its own.
        public var concurrentChecks = max(2, min(8, ProcessInfo.processInfo.activeProcessorCount))
        /// Checks that may wait for their turn; more are refused, so requests cannot pile up
        /// processes and memory without end.
        public var waitingChecks = 256
        /// Whether a check is skipped when the same check passed before and nothing its parse
        /// reads has changed since (``ParseInputFingerprints``).
        public var reusesPassedChecks = true
        /// How long ago the newest of those inputs must have changed for a passed check to be
        /// remembered (``ParseInputFingerprints/settledAfter``).
        public var checkInputsSettleAfter: Duration = .seconds(2)
        /// The most nodes the supervisor runs; creating more is refused. Each is a process, and
        /// names come from the wire.
        public var maximumNodes = 1_000

        public init(launch: NodeLaunch.Context, stopInterval: Duration = .seconds(2), killAfter: Duration = .seconds(26), stableUptime: Duration = .seconds(30)) {
            self.launch = launch
            self.stopInterval = stopInterval
            self.killAfter = killAfter
            self.stableUptime = stableUptime
        }
    }

    private struct SupervisedNode {
        /// Tells this node apart from a later one of the same name.
        let id: UInt64
        let launch: NodeLaunch
        /// Incremented for every process started; events of older processes are ignored.
        var generation = 0
        var process: ChildProcess?
        /// The last pid reported; kept after the process died, as Zeek does.
        var pid: Int?
        var lastSpawn: ContinuousClock.Instant?
        /// Premature exits in a row since the node was last stable.
        var failures = 0
        /// Set while a restart is stopping the old process.
        var restarting = false
    }

    private let settings: Settings
    private let bus: any MessageBus
    /// Where the process watchers, respawn timers and check bookkeeping run: in the
    /// supervisor service's task group, ending with it.
    private let work: BackgroundWork
    private let logger: Logger
    /// Speaks for Zeek nodes on Kafka; nil with the stand-in, which speaks for itself.
    let relay: ZeekNodeRelay?
    private var nodes: [String: SupervisedNode] = [:]
    private var nextNodeID: UInt64 = 0
    /// Checks running or waiting now, by what decides their outcome, so the same check asked
    /// twice at once runs once.
    private var checks: [String: Task<String, Never>] = [:]
    /// Checks running now (at most ``Settings/concurrentChecks``), and those waiting for one
    /// to end, first come first served.
    private var runningChecks = 0
    private var checksWaiting: [CheckedContinuation<Void, Never>] = []
    /// Checks that passed, by key, with the fingerprint of what their parse read.
    private var passedChecks = PassedChecks()
    private let parseInputFingerprints: ParseInputFingerprints
    /// Nodes serving Zeek's WebSocket API to the relay: their process and port, and whether
    /// they are the manager (the carrier preferred for nodes that cannot serve it).
    private var relayEndpoints: [String: (pid: Int, port: Int, isManager: Bool)] = [:]
    /// Carried nodes (``ZeekNodeCommand/isCarried(_:installation:)``): their process, and the
    /// node whose WebSocket the relay reaches them through, once one of this host runs.
    private var carriedNodes: [String: (pid: Int, carrier: String?)] = [:]
    /// The host's WebSocket carrier (``ZeekNodeCommand/carrier(for:installation:directory:websocketPort:curveKeys:)``),
    /// while a carried node has no node of this host to be reached through: a host that runs
    /// only a logger on ZeroMQ. Stopped once no node needs it.
    private var hostCarrier: (process: ChildProcess, pid: Int, port: Int)?
    private var hostCarrierStarting: Task<Int?, Never>?
    private var hostCarrierStartedAt: ContinuousClock.Instant?
    /// What ``carriedNodes`` names as the carrier of a node the host carrier carries.
    private static let hostCarrierKey = ZeekNodeCommand.carrierName

    /// Times restarts, back-offs and stops, so tests can move time instead of waiting for it.
    private let clock: any ManagementClock

    init(settings: Settings, bus: any MessageBus, work: BackgroundWork, relay: ZeekNodeRelay?, clock: any ManagementClock, logger: Logger) {
        self.settings = settings
        self.clock = clock
        parseInputFingerprints = ParseInputFingerprints(settledAfter: settings.checkInputsSettleAfter)
        self.bus = bus
        self.work = work
        self.relay = relay
        self.logger = logger
    }

    // MARK: Requests

    /// Registers a node at once (so requests keep their arrival order) and starts its process in
    /// the background, so several nodes start in parallel; the task returns `""` once the process
    /// runs, or the reason the node was refused or could not start.
    func create(_ config: Supervisor.NodeConfig) -> Task<String, Never> {
        let launch: NodeLaunch
        do {
            launch = try NodeLaunch(config, context: settings.launch)
        } catch {
            return Task { error.description }
        }
        guard nodes[config.name] == nil else { return Task { "node with name '\(config.name)' already exists" } }
        guard nodes.count < settings.maximumNodes else {
            let refusal = "node '\(config.name)' refused: this supervisor already runs \(nodes.count) nodes, the most it runs"
            return Task { refusal }
        }
        do {
            try FileManager.default.createDirectory(at: launch.directory, withIntermediateDirectories: true)
        } catch {
            return Task { "failed to create working directory \(launch.directory.path): \(error.localizedDescription)" }
        }
        nextNodeID += 1
        let id = nextNodeID
        nodes[config.name] = SupervisedNode(id: id, launch: launch)
        return Task {
            guard let failure = await spawn(config.name) else { return "" }
            // Unless it was destroyed (and perhaps created anew) meanwhile.
            if nodes[config.name]?.id == id { nodes[config.name] = nil }
            return "failed to start node '\(config.name)': \(failure)"
        }
    }

    /// Whether `config` would start: its launch is valid and, for Zeek, Zeek parses the
    /// scripts the node would load (`zeek --parse-only` with the node's environment and
    /// generated files, in a scratch directory). Returns `""` or what is wrong, in Zeek's words.
    ///
    /// Nothing running is touched, so an agent can check a whole configuration before it
    /// stops the nodes it replaces.
    ///
    /// At most ``Settings/concurrentChecks`` run at once; the others wait their turn, and
    /// beyond ``Settings/waitingChecks`` waiting a check is refused.
    func check(_ config: Supervisor.NodeConfig) -> Task<String, Never> {
        let launch: NodeLaunch
        do {
            launch = try NodeLaunch(config, context: settings.launch)
        } catch {
            return Task { error.description }
        }
        let key = launch.checkKey
        if let running = checks[key] { return running }
        guard checks.count < settings.concurrentChecks + settings.waitingChecks else {
            let refusal = "node '\(config.name)' not checked: \(checks.count) checks are running or waiting on this host, "
                + "the most it takes (\(settings.concurrentChecks) at once); try again later"
            logger.warning("\(refusal)")
            return Task { refusal }
        }
        let scratch = settings.launch.baseDirectory.appendingPathComponent(".zeek-mgmt/check-\(UUID().uuidString)")
        let logger = self.logger, limit = settings.checkTimeout, clock = clock
        let inputs = settings.reusesPassedChecks ? launch.parseInputs : nil, fingerprints = parseInputFingerprints
        let task = Task<String, Never> {
            // Taken before the parse: a file changed while Zeek reads it changes the next one.
            let fingerprint = if let inputs { await fingerprints.take(inputs) } else { SHA256Digest?.none }
            if let fingerprint, self.passedChecks.passed(key, with: fingerprint) {
                logger.debug("node \(config.name) not checked again: the same check passed, and nothing it reads has changed since")
                return ""
            }
            await self.startCheckWhenItsTurn()
            defer { try? FileManager.default.removeItem(at: scratch) }
            let verdict: String
            do {
                if let spec = try launch.checkSpec(in: scratch) {
                    verdict = await ZeekCheck.run(spec, node: config.name, timeout: limit, clock: clock, logger: logger)
                } else {
                    verdict = ""
                }
            } catch {
                verdict = "cannot check node '\(config.name)': \(error)"
            }
            checkEnded()
            if verdict.isEmpty, let fingerprint { self.passedChecks.remember(key, with: fingerprint) }
            return verdict
        }
        checks[key] = task
        work.submit {
            _ = await task.value
            await self.checkFinished(key)
        }
        return task
    }

    private func checkFinished(_ key: String) {
        checks[key] = nil
    }

    /// Returns once fewer than ``Settings/concurrentChecks`` checks run, counting this one in.
    private func startCheckWhenItsTurn() async {
        guard runningChecks >= settings.concurrentChecks else {
            runningChecks += 1
            return
        }
        // The check that ends hands its place over: `runningChecks` stays as it is.
        await withCheckedContinuation { checksWaiting.append($0) }
    }

    private func checkEnded() {
        if checksWaiting.isEmpty {
            runningChecks -= 1
        } else {
            checksWaiting.removeFirst().resume()
        }
    }

    /// The Zeek this host runs `config` with and the cluster backend it would use: the one the
    /// configuration names, else the default of this Zeek. Nil for the stand-in node.
    nonisolated func zeek(for config: Supervisor.NodeConfig) -> (version: String, backend: ClusterBackend.Name)? {
        guard case .zeek(let installation, _) = settings.launch.program else { return nil }
        return (installation.version, ClusterBackend.name(of: config.clusterBackend, onZeek: installation.version))
    }

    /// Status of one node (empty if unknown) or, for `""`, of all.
    func status(_ name: String) -> Supervisor.Status {
        let selected = name.isEmpty ? nodes : nodes.filter { $0.key == name }
        return Supervisor.Status(nodes: selected.mapValues { Supervisor.NodeStatus(node: $0.launch.config, pid: $0.pid) })
    }

    /// Forgets the named nodes (all for `""`) at once and returns a task that stops their
    /// processes; nil if the name is unknown.
    func destroy(_ name: String) -> Task<Void, Never>? {
        let names = name.isEmpty ? Array(nodes.keys) : (nodes[name] == nil ? [] : [name])
        guard !names.isEmpty || name.isEmpty else { return nil }
        var stopping: [(process: ChildProcess?, launch: NodeLaunch)] = []
        for name in names {
            guard let node = nodes.removeValue(forKey: name) else { continue }
            stopping.append((node.process, node.launch))
            logger.info("destroying node \(name)")
        }
        let stopInterval = settings.stopInterval, killAfter = settings.killAfter, clock = clock
        return Task {
            await withTaskGroup(of: Void.self) { group in
                for (process, launch) in stopping {
                    group.addTask {
                        await process?.stop(interval: stopInterval, killAfter: killAfter, clock: clock)
                        launch.removeCgroup()
                    }
                }
            }
        }
    }

    /// Kills the named nodes (all for `""`) and starts them again; the task finishes once the
    /// new processes run. Nil if the name is unknown.
    func restart(_ name: String) -> Task<Void, Never>? {
        let names = name.isEmpty ? Array(nodes.keys) : (nodes[name] == nil ? [] : [name])
        guard !names.isEmpty || name.isEmpty else { return nil }
        var stopping: [(name: String, id: UInt64, process: ChildProcess?)] = []
        for name in names {
            guard let node = nodes[name] else { continue }
            nodes[name]?.restarting = true
            stopping.append((name, node.id, node.process))
        }
        let stopInterval = settings.stopInterval, killAfter = settings.killAfter, clock = clock
        return Task {
            await withTaskGroup(of: Void.self) { group in
                for (name, id, process) in stopping {
                    group.addTask {
                        await process?.stop(interval: stopInterval, killAfter: killAfter, clock: clock)
                        await self.finishRestart(name, id: id)
                    }
                }
            }
        }
    }

    /// Stops every node (for shutdown) and waits until all have exited.
    func stopAll() async {
        await destroy("")?.value
        if let carrier = hostCarrier {
            hostCarrier = nil
            _ = await carrier.process.stop(interval: settings.stopInterval, killAfter: settings.killAfter, clock: clock)
        }
    }

    // MARK: Processes

    /// Starts the restarted node again, unless it was destroyed (and perhaps created anew) meanwhile.
    private func finishRestart(_ name: String, id: UInt64) async {
        guard nodes[name]?.id == id, nodes[name]?.restarting == true else { return }
        nodes[name]?.restarting = false
        nodes[name]?.failures = 0
        logger.info("restarting node \(name)")
        if let failure = await spawn(name) { logger.error("restart of node \(name) failed: \(failure)") }
    }

    /// The node's directory and files, written off the actor: the nodes of a deploy are
    /// created one request after the other, and none waits for another's files.
    private nonisolated static func prepare(_ launch: NodeLaunch, logger: Logger) async throws -> NodeLaunch.Prepared {
        try launch.prepare(logger: logger)
    }

    /// Starts a process for `name`; returns why it could not, or nil.
    private func spawn(_ name: String) async -> String? {
        guard var node = nodes[name] else { return nil }
        node.generation += 1
        let id = node.id, generation = node.generation
        node.process = nil
        nodes[name] = node
        let process: ChildProcess
        let prepared: NodeLaunch.Prepared
        do {
            prepared = try await Self.prepare(node.launch, logger: logger)
            do {
                process = try await ChildProcess.start(prepared.spec)
            } catch {
                prepared.outputs?.close()
                throw error
            }
        } catch {
            nodes[name]?.lastSpawn = clock.now
            processEnded(name, id: id, generation: generation, how: "failed to start: \(error)")
            return "\(error)"
        }
        guard nodes[name]?.id == id, nodes[name]?.generation == generation else {
            // Destroyed or restarted while it was being started.
            process.signal(SIGKILL)
            prepared.outputs?.close()
            return nil
        }
        nodes[name]?.process = process
        nodes[name]?.pid = Int(process.pid)
        nodes[name]?.lastSpawn = clock.now
        bus.enqueue(SupervisorNotification.NodeStatus(node: name, pid: Int(process.pid)), to: .supervisorAPI.notify)
        logger.info("node \(name) running (pid \(process.pid))")
        if let port = prepared.websocketPort {
            relayEndpoints[name] = (Int(process.pid), port, node.launch.config.cluster[name]?.role == .manager)
            await relay?.attach(node: name, pid: Int(process.pid), port: port)
            // Nodes waiting for a carrier, or carried by this node's earlier process.
            for (carried, entry) in carriedNodes where entry.carrier == nil || entry.carrier == name || entry.carrier == Self.hostCarrierKey {
                await carry(carried)
            }
        } else if prepared.carried {
            carriedNodes[name] = (Int(process.pid), nil)
            await carry(name)
        }
        let files = prepared.outputs ?? OutputFiles(stdout: nil, stderr: nil, logger: logger)
        let bus = self.bus, limit = settings.outputLines, relay = self.relay
        let memory = MemoryWatch(confinement: prepared.spec.confinement, memoryMax: node.launch.config.limits?.memoryMax)
        work.submit {
            var stdout = RecentLines(limit: limit), stderr = RecentLines(limit: limit)
            for await event in process.events {
                switch event {
                case .stdout(let line):
                    stdout.append(line)
                    files.stdout?.write(line)
                    bus.enqueue(SupervisorNotification.StdoutLine(node: name, msg: line), to: .supervisorAPI.notify)
                case .stderr(let line):
                    stderr.append(line)
                    files.stderr?.write(line)
                    bus.enqueue(SupervisorNotification.StderrLine(node: name, msg: line), to: .supervisorAPI.notify)
                case .exited(let status):
                    files.close()
                    await relay?.detach(node: name, pid: Int(process.pid))
                    await self.relayLost(name, pid: Int(process.pid))
                    let (how, reason) = memory.verdict(status, stderr: stderr.lines)
                    bus.enqueue(SupervisorNotification.NodeExit(
                        node: name, outputs: Management.NodeOutputs(stdout: stdout.joined, stderr: stderr.joined),
                        exit: how, pid: Int(process.pid), reason: reason
                    ), to: .supervisorAPI.notify)
                    await self.processEnded(name, id: id, generation: generation, how: how)
                }
            }
        }
        return nil
    }

    /// Has the relay reach carried node `name` through a WebSocket of this host, the
    /// manager's if it runs here, else another node's; where no node of this host serves one,
    /// through the host's own WebSocket carrier, started for it.
    private func carry(_ name: String) async {
        guard let entry = carriedNodes[name] else { return }
        if let carrier = relayEndpoints.sorted(by: { ($0.value.isManager ? 0 : 1, $0.key) < ($1.value.isManager ? 0 : 1, $1.key) }).first {
            carriedNodes[name]?.carrier = carrier.key
            await relay?.attach(node: name, pid: entry.pid, port: carrier.value.port)
            retireHostCarrierIfUnused()
            return
        }
        carriedNodes[name]?.carrier = nil
        guard let port = await hostCarrierPort(launchingFor: name) else { return }
        // Unless the node's process changed, or a node's WebSocket came up, meanwhile.
        guard carriedNodes[name]?.pid == entry.pid, carriedNodes[name]?.carrier == nil, hostCarrier?.port == port else {
            retireHostCarrierIfUnused()
            return
        }
        carriedNodes[name]?.carrier = Self.hostCarrierKey
        await relay?.attach(node: name, pid: entry.pid, port: port)
    }

    /// The port of the host's WebSocket carrier, started (as `name`'s user, with its cluster's
    /// backend settings) if none runs; nil if it cannot be started.
    private func hostCarrierPort(launchingFor name: String) async -> Int? {
        if let hostCarrier { return hostCarrier.port }
        if let starting = hostCarrierStarting { return await starting.value }
        guard let launch = nodes[name]?.launch else { return nil }
        let task = Task { await self.startHostCarrier(launch) }
        hostCarrierStarting = task
        let port = await task.value
        hostCarrierStarting = nil
        return port
    }

    private func startHostCarrier(_ launch: NodeLaunch) async -> Int? {
        // At most one start a second, should it keep ending.
        if let last = hostCarrierStartedAt, clock.now < last + .seconds(1) { try? await clock.sleep(until: last + .seconds(1)) }
        hostCarrierStartedAt = clock.now
        do {
            let port = try freeLoopbackPort()
            let process = try await ChildProcess.start(try launch.carrierSpec(websocketPort: port))
            let pid = Int(process.pid)
            hostCarrier = (process, pid, port)
            logger.info("WebSocket carrier running (pid \(pid), port \(port)): no node of this host serves Zeek's WebSocket API to the relay")
            let logger = self.logger
            work.submit {
                for await event in process.events {
                    switch event {
                    case .stderr(let line): logger.notice("WebSocket carrier: \(line)")
                    case .stdout(let line): logger.debug("WebSocket carrier: \(line)")
                    case .exited(let status): await self.hostCarrierEnded(pid: pid, status: "\(status)")
                    }
                }
            }
            return port
        } catch {
            logger.error("cannot start the WebSocket carrier of this host: \(error)")
            return nil
        }
    }

    /// The carrier ended: the nodes it carried get another (a node's WebSocket, or a new carrier).
    private func hostCarrierEnded(pid: Int, status: String) async {
        guard hostCarrier?.pid == pid else { return }
        hostCarrier = nil
        let carried = carriedNodes.filter { $0.value.carrier == Self.hostCarrierKey }.keys.sorted()
        guard !carried.isEmpty else { return }
        logger.warning("the WebSocket carrier ended (\(status)); starting another for \(carried.joined(separator: ", "))")
        for name in carried { await carry(name) }
    }

    /// Stops the host's carrier once no node is reached through it.
    private func retireHostCarrierIfUnused() {
        guard let carrier = hostCarrier, !carriedNodes.values.contains(where: { $0.carrier == Self.hostCarrierKey }) else { return }
        hostCarrier = nil
        logger.info("WebSocket carrier (pid \(carrier.pid)) stopped: no node needs it")
        let interval = settings.stopInterval, killAfter = settings.killAfter, clock = clock
        work.submit { _ = await carrier.process.stop(interval: interval, killAfter: killAfter, clock: clock) }
    }

    /// Process `pid` of `name` ended: it serves the relay no more, and nodes it carried move
    /// to another carrier (or wait for one).
    private func relayLost(_ name: String, pid: Int) async {
        if carriedNodes[name]?.pid == pid {
            carriedNodes[name] = nil
            retireHostCarrierIfUnused()
        }
        guard relayEndpoints[name]?.pid == pid else { return }
        relayEndpoints[name] = nil
        for (carried, entry) in carriedNodes where entry.carrier == name { await carry(carried) }
    }

    /// A process of `name` ended. Unless it was stopped on purpose, schedules the next one:
    /// after a stable run at once (or after the node's `restart_interval_sec`), else with
    /// Zeek's back-off from that interval (1, 1, 1, 2, 2, 2, 4, ... s from the previous start
    /// by default), so a crash loop never spins.
    ///
    /// The node's `id` and `generation` name the process: the exit of a node destroyed and
    /// created anew under the same name — its old process stopping in the background — is not
    /// the new node's, whose generations count from the start again.
    private func processEnded(_ name: String, id: UInt64, generation: Int, how: String) {
        guard var node = nodes[name], node.id == id, node.generation == generation, !node.restarting else { return }
        node.process = nil
        let now = clock.now
        let uptime = node.lastSpawn.map { now - $0 } ?? .zero
        if uptime >= settings.stableUptime { node.failures = 0 }
        node.failures += 1
        let delay = node.failures == 1 && uptime >= settings.stableUptime
            ? Duration.seconds(node.launch.config.limits?.restartIntervalSec ?? 0)
            : Self.backoff(failures: node.failures, interval: node.launch.config.limits?.restartIntervalSec, maximum: settings.maximumBackoff)
        let wait = max(.zero, (node.lastSpawn ?? now) + delay - now)
        logger.warning("node \(name) (pid \(node.pid.map(String.init) ?? "-")) \(how) after \(uptime); starting it again in \(wait)")
        work.submit {
            guard (try? await self.clock.sleep(for: wait)) != nil else { return }
            await self.respawn(name, id: id, after: generation)
        }
        nodes[name] = node
    }

    /// The wait before the next start after `failures` premature exits in a row: the restart
    /// interval (1 s unless the node sets one) for the first three, doubling every three
    /// after, up to `maximum` (or the interval itself, if longer). An interval of 0 restarts
    /// at once three times, then backs off from 1 s: a crash loop never spins.
    static func backoff(failures: Int, interval: Int?, maximum: Duration) -> Duration {
        let base = interval ?? 1
        if failures <= 3 { return .seconds(base) }
        let doubled = Duration.seconds(max(base, 1)) * (1 << min((failures - 1) / 3, 30))
        return min(max(maximum, .seconds(base)), doubled)
    }

    /// Starts `name` again unless, since its process ended, it was destroyed (and perhaps
    /// created anew), restarted, or started by someone else.
    private func respawn(_ name: String, id: UInt64, after generation: Int) async {
        guard let node = nodes[name], node.id == id, node.generation == generation, !node.restarting else { return }
        if let failure = await spawn(name) { logger.error("node \(name) could not be started again: \(failure)") }
    }

}

/// Tells a process that ended at its memory limit from one that ended otherwise: in a cgroup
/// by the kernel's count of memory kills, under `RLIMIT_DATA` by what the process said as its
/// allocations failed.
struct MemoryWatch: Sendable {
    let confinement: ProcessConfinement
    let memoryMax: Int?
    /// The cgroup's memory kills before the process started.
    private let killsBefore: Int

    init(confinement: ProcessConfinement, memoryMax: Int?) {
        self.confinement = confinement
        self.memoryMax = memoryMax
        killsBefore = confinement.cgroup.map(NodeConfinement.memoryKills) ?? 0
    }

    /// How the process ended, in words, and `memory` if it was at its limit.
    func verdict(_ status: ExitStatus, stderr: [String]) -> (String, SupervisorNotification.NodeExit.Reason?) {
        guard let memoryMax, status.code != 0 else { return (status.description, nil) }
        let limit = NodeLimits.memoryText(memoryMax)
        if let cgroup = confinement.cgroup, NodeConfinement.memoryKills(in: cgroup) > killsBefore {
            return ("killed at its memory limit of \(limit) (cgroup memory.max): \(status)", .memory)
        }
        if confinement.dataLimit != nil, NodeConfinement.saysOutOfMemory(stderr) {
            return ("ran out of memory at its memory limit of \(limit) (RLIMIT_DATA): \(status)", .memory)
        }
        return (status.description, nil)
    }
}

/// The last lines of one output stream.
struct RecentLines: Sendable {
    let limit: Int
    private(set) var lines: [String] = []

    init(limit: Int) {
        self.limit = limit
    }

    mutating func append(_ line: String) {
        lines.append(line)
        if lines.count > limit { lines.removeFirst(lines.count - limit) }
    }

    var joined: String { lines.joined(separator: "\n") }
}

/// A node's `stdout_file` / `stderr_file`, truncated at each start, mode 0600, one line per write.
final class OutputFiles: Sendable {
    let stdout: LineFile?
    let stderr: LineFile?

    init(stdout: URL?, stderr: URL?, logger: Logger) {
        self.stdout = stdout.flatMap { LineFile($0, logger: logger) }
        self.stderr = stderr.flatMap { LineFile($0, logger: logger) }
    }

    func close() {
        stdout?.close()
        stderr?.close()
    }
}

final class LineFile: Sendable {
    private let fd: Int32

    /// Opens (creating) a node's output file in its directory, which the node's user owns: never
    /// through a link the node could have put there, never a file with another name (a hard
    /// link), and truncated only once it is known to be the node's own plain file.
    init?(_ url: URL, logger: Logger) {
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let fd = open(url.path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            logger.error("cannot open \(url.path): \(String(cString: strerror(errno)))")
            return nil
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1 else {
            logger.error("not writing \(url.path): not a plain file of its own (a link, a device or a pipe)")
            Foundation.close(fd)
            return nil
        }
        _ = ftruncate(fd, 0)
        self.fd = fd
    }

    func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(10)
        _ = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
    }

    func close() {
        Foundation.close(fd)
    }
}
