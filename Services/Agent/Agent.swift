#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ManagementMessaging
import ManagementTypes

/// The agent of one instance: turns its part of a deployed configuration into nodes run by
/// the instance's supervisor, and answers the controller about them.
///
/// Every request is answered by a task of its own (a deploy waits seconds for nodes to check
/// in, and must not hold up the hellos it is waiting for); state changes happen on this actor.
public actor Agent {
    public struct Settings: Sendable {
        public var instance: String
        /// How long the agent waits for its supervisor and its nodes (Zeek's agent: 5 s); also
        /// the lifetime of the controller's requests (see ``RequestResponder``).
        public var requestTimeout: Duration
        /// Between check-ins (`notify_agent_hello`), by which the controller tells the agent is alive.
        public var heartbeat: Duration
        /// The address peers see this host at, reported in every check-in.
        public var host: IPAddress
        /// Between checks that what the supervisor runs matches what is deployed.
        public var reconcileInterval: Duration
        /// The most node dispatches (`get_id_value`) waiting for nodes at once; more are
        /// refused until some are answered, so a flood of requests cannot grow memory without end.
        public var maximumDispatches: Int

        public init(instance: String, requestTimeout: Duration = .seconds(5), heartbeat: Duration = .seconds(5), host: IPAddress = .loopback,
                    reconcileInterval: Duration = .seconds(10), maximumDispatches: Int = 1_000) {
            self.instance = instance
            self.requestTimeout = requestTimeout
            self.heartbeat = heartbeat
            self.host = host
            self.reconcileInterval = reconcileInterval
            self.maximumDispatches = maximumDispatches
        }
    }

    /// One node of this instance, as the agent tracks it.
    struct OwnNode: Sendable {
        var config: Management.Node
        var state: Management.State = .pending
        /// The node's current process: the latest reported by the supervisor or by a hello.
        var pid: Int?
        /// The process that last said hello.
        var helloPID: Int?
        /// Output of the node's last process that ended.
        var outputs: Management.NodeOutputs?
        /// How the node's last process ended, as the supervisor tells it (get-nodes' `last_exit`).
        var lastExit: String?
        /// How many of the node's processes ended, as the supervisor told: a start can tell a
        /// process that ended while starting from one that ended before.
        var exits = 0
        /// Why the supervisor refused (or did not answer) the node's last create, as told in
        /// `notify_error`, while no process of it is known: the node's Result carries it instead
        /// of an output. Any sign of a process (its start, its hello, its exit) clears it.
        var refusal: String?
    }

    let settings: Settings
    let bus: any MessageBus
    let requester: Requester
    let clock: any ManagementClock
    let metrics: AgentMetrics
    let logger: Logger
    private var configID = Management.Configuration.uniqueID()
    /// Whether the controller told this agent what is deployed on its instance (a deploy or a
    /// standby). Until then the agent does not know, which is not the same as "nothing": an
    /// agent that restarted leaves the nodes it finds running alone until it is told.
    private var knowsDeployment = false
    private var layout: [String: Supervisor.ClusterEndpoint] = [:]
    /// The deployed configuration's cluster backend, handed to every node.
    private var clusterBackend: ClusterBackend?
    /// This instance's log archiver in the deployed configuration, if it runs one.
    private var archiver: LogArchiver?
    private(set) var nodes: [String: OwnNode] = [:]
    /// Dispatches in flight: the nodes still expected and the results so far, by child reqid.
    private var dispatches: [String: (expected: Set<String>, results: [String: Management.Result])] = [:]
    private let changes: ChangeSignal
    /// Deploys, restarts and reconciliations under way; a reconciliation waits for none.
    private var operations = 0
    /// While a reconciliation runs, its count in ``operations``; else 0.
    private var reconciling = 0
    /// Why to reconcile once more after the running reconciliation.
    private var reconcileAgain: String?

    var instance: String { settings.instance }

    init(settings: Settings, bus: any MessageBus, clock: any ManagementClock, metrics: AgentMetrics, logger: Logger) {
        self.settings = settings
        self.bus = bus
        self.clock = clock
        requester = Requester(bus: bus, clock: clock)
        changes = ChangeSignal(clock: clock)
        self.metrics = metrics
        self.logger = logger
        metrics.record(nodes: [:])
    }

    // MARK: Deploy

    /// The order in which an agent starts its nodes, each role once the previous checked in:
    /// workers peer with proxies, the manager and loggers at start and may give up on ones
    /// that are not listening yet.
    static let startOrder: [Supervisor.ClusterRole] = [.logger, .manager, .proxy, .worker, .none]

    /// On ZeroMQ the manager comes first: it runs the proxy every other node talks through,
    /// the relay's requests and the nodes' answers included.
    static func startOrder(for backend: ClusterBackend.Name?) -> [Supervisor.ClusterRole] {
        backend == .zeromq ? [.manager, .logger, .proxy, .worker, .none] : startOrder
    }

    /// The Zeek this host's supervisor runs and the backend its nodes would use, as its last
    /// check told (nil for the stand-in): decides the start order on this host.
    private var hostZeek: (version: String, backend: ClusterBackend.Name)?

    /// The configuration last checked successfully, so a deploy right after its check does
    /// not parse every script again.
    private var checkedConfiguration: Management.Configuration?

    /// What the supervisor ran, asked for alongside the last successful check: the deploy that
    /// follows the check starts from it instead of asking again, one round trip less between
    /// the controller's go and the first node starting. Forgotten at every report that could
    /// change it (a node started or ended, the supervisor started) and once used.
    private var supervisorView: [String: Supervisor.NodeStatus]?

    /// Asks the supervisor whether each of this instance's nodes of `config` would start
    /// (Zeek parses what the node would load). One failed Result per node that would not,
    /// with Zeek's error text; one successful Result for the instance when all would.
    func check(_ config: Management.Configuration, reqid: String) async -> [Management.Result] {
        let layout = Self.layout(of: config)
        let mine = ownNodes(of: config)
        let archiver = config.archivers[instance]
        supervisorView = nil
        async let status = supervisorStatus()
        let (refused, answers) = await askSupervisor(about: mine) {
            SupervisorManagement.CheckRequest(reqid: UUID().uuidString, node: nodeConfig(for: $0, layout: layout, backend: config.clusterBackend, archiver: archiver))
        }
        let view = await status
        let zeek = answers.lazy.compactMap { answer in answer.zeekVersion.flatMap { version in answer.clusterBackend.map { (version: version, backend: $0) } } }.first
        let failures = refused.keys.sorted().map { failure(of: $0, saying: refused[$0]!, reqid: reqid) }
        guard failures.isEmpty else {
            for failure in failures { notifyError("node \(failure.node ?? "-") of configuration \(config.id) fails its check: \(failure.error ?? "")", node: failure.node ?? "") }
            return failures
        }
        checkedConfiguration = config
        supervisorView = view
        if let zeek { hostZeek = zeek }
        // Which Zeek runs here and on which backend, so the controller can refuse a cluster
        // whose hosts disagree before any of them changes anything.
        let runtime: JSONValue? = zeek.map { .object(["zeek_version": .string($0.version), "cluster_backend": .string($0.backend.rawValue)]) }
        return [Management.Result(reqid: reqid, instance: instance, data: runtime)]
    }

    /// Deploys the configuration of `id` this agent checked last (``check(_:reqid:)``); if it
    /// holds none of that id, one failed Result that asks for the whole configuration.
    func deployChecked(_ id: String, reqid: String, force: Bool) async -> [Management.Result] {
        guard let checked = checkedConfiguration, checked.id == id else {
            return [Management.Result(reqid: reqid, success: false, instance: instance, error: AgentAPI.DeployCheckedRequest.notChecked(id))]
        }
        return await deploy(checked, reqid: reqid, force: force)
    }

    /// Adopts `config` and runs this instance's nodes of it; one Result per node.
    ///
    /// Nothing running is stopped unless every node of the configuration passed its check;
    /// nodes then start role by role (``startOrder``), each role once the previous one
    /// checked in, ended while starting, or `requestTimeout` passed.
    func deploy(_ config: Management.Configuration, reqid: String, force: Bool) async -> [Management.Result] {
        if config.id == configID && !force {
            return [Management.Result(reqid: reqid, instance: instance)]
        }
        if checkedConfiguration?.id != config.id {
            let checked = await check(config, reqid: reqid)
            if checked.contains(where: { !$0.success }) {
                return checked + [Management.Result(reqid: reqid, success: false, instance: instance,
                                                     error: "configuration \(config.id) not deployed: the nodes running before were left as they were")]
            }
        }
        checkedConfiguration = nil
        configID = config.id
        knowsDeployment = true
        layout = Self.layout(of: config)
        clusterBackend = config.clusterBackend
        archiver = config.archivers[instance]
        let mine = ownNodes(of: config)
        operations += 1
        defer { operations -= 1 }

        // Keep what already runs as wanted (an agent that restarted, the same nodes deployed
        // again), unless forced; stop the rest; start what is missing.
        let wanted = Dictionary(mine.map { ($0.name, nodeConfig(for: $0, layout: layout, backend: clusterBackend, archiver: archiver)) }, uniquingKeysWith: { first, _ in first })
        var running = force ? nil : supervisorView
        supervisorView = nil
        if running == nil && !force { running = await supervisorStatus() }
        let adopted = (running ?? [:]).filter { $0.value.pid != nil && wanted[$0.key] == $0.value.node }
        await stopOnSupervisor(running.map { Set($0.keys).subtracting(adopted.keys) }, before: config.id)
        for name in nodes.keys where !mine.contains(where: { $0.name == name }) {
            change(name, to: .stopped)
        }
        let previous = nodes
        nodes = Dictionary(mine.map { ($0.name, OwnNode(config: $0)) }, uniquingKeysWith: { first, _ in first })
        for (name, status) in adopted.sorted(by: { $0.key < $1.key }) {
            if var known = previous[name], known.pid == status.pid {
                // The same process as before: what the agent knows of it still holds.
                known.config = nodes[name]?.config ?? known.config
                known.refusal = nil
                nodes[name] = known
            } else {
                nodes[name]?.pid = status.pid
                change(name, to: .running)
            }
        }
        if !adopted.isEmpty { notifyLog("kept \(adopted.count) running node(s) of configuration \(config.id): \(adopted.keys.sorted().joined(separator: ", "))") }
        metrics.record(nodes: nodes)
        guard !mine.isEmpty else {
            notifyLog("deployed configuration \(config.id): no nodes on this instance")
            return [Management.Result(reqid: reqid, instance: instance)]
        }

        let completed = await start(mine.filter { adopted[$0.name] == nil })
        var results: [Management.Result] = []
        if !completed {
            results.append(Management.Result(reqid: reqid, success: false, instance: instance, error: "request timed out"))
        }
        for node in mine {
            if nodes[node.name]?.state == .running {
                results.append(Management.Result(reqid: reqid, instance: instance, node: node.name))
            } else if let refusal = nodes[node.name]?.refusal {
                // Never created, so without output: the Result says why instead.
                results.append(failure(of: node.name, saying: refusal, reqid: reqid))
            } else {
                let outputs = nodes[node.name]?.outputs.flatMap { try? JSONValue(encoding: $0) }
                results.append(Management.Result(reqid: reqid, success: false, instance: instance, data: outputs, node: node.name))
            }
        }
        let runningCount = results.filter { $0.success && $0.node != nil }.count
        notifyLog("deployed configuration \(config.id): \(runningCount) of \(mine.count) nodes running")
        return results
    }

    /// Creates `nodes` on the supervisor role by role (``startOrder``), each role once the
    /// previous one checked in, ended while starting, or `requestTimeout` passed. Returns
    /// whether every node that was created checked in in time.
    ///
    /// A node whose new process ended before it said hello (a bad option, a missing
    /// interface) does not hold up the next roles: it would not check in before the
    /// supervisor's back-off, and the agent's answer must come before the controller's timeout
    /// (twice the agent's by default) with every node's outcome in it. Such a node has until
    /// one `requestTimeout` after the first create to check in, as every node has in Zeek's
    /// agent; then the answer says `request timed out` and carries the node's output.
    private func start(_ nodes: [Management.Node]) async -> Bool {
        let began = clock.now
        let exitsBefore = Dictionary(nodes.map { ($0.name, self.nodes[$0.name]?.exits ?? 0) }, uniquingKeysWith: { first, _ in first })
        var failed: Set<String> = []
        var endedWhileStarting: [Management.Node] = []
        var completed = true
        let roles = Self.startOrder(for: hostZeek?.backend).filter { role in nodes.contains { $0.role == role } }
        for role in roles {
            let group = nodes.filter { $0.role == role }
            failed.formUnion(await create(group))
            let created = group.filter { [failed] in !failed.contains($0.name) }
            let waitingFor = { (agent: isolated Agent) in
                created.filter { agent.nodes[$0.name]?.state != .running && !agent.hasEnded($0.name, since: exitsBefore) }
            }
            if await !waitUntil(timeout: settings.requestTimeout, { waitingFor($0).isEmpty }) {
                completed = false
                notifyLog("\(role.rawValue.lowercased()) nodes \(waitingFor(self).map(\.name).joined(separator: ", ")) did not check in within \(settings.requestTimeout); starting the next nodes anyway")
            }
            let ended = created.filter { self.nodes[$0.name]?.state != .running && hasEnded($0.name, since: exitsBefore) }
            endedWhileStarting += ended
            if !ended.isEmpty, role != roles.last {
                notifyLog("\(role.rawValue.lowercased()) nodes \(ended.map(\.name).joined(separator: ", ")) ended while starting; starting the next nodes without waiting for them")
            }
        }
        // Only those: a node that said hello and ended later is reported as it is, as before.
        let cameBack = await changes.wait(until: max(began + settings.requestTimeout, clock.now)) { [endedWhileStarting] in
            endedWhileStarting.allSatisfy { self.nodes[$0.name]?.state == .running }
        }
        return completed && cameBack
    }

    /// A failed Result for node `name` that has no output of its own (it failed its check, or
    /// was never created): `text` as its error, and also as its stderr, where zeek-client shows
    /// a node's output.
    private func failure(of name: String, saying text: String, reqid: String) -> Management.Result {
        let output = try? JSONValue(encoding: Management.NodeOutputs(stdout: "", stderr: text))
        return Management.Result(reqid: reqid, success: false, instance: instance, data: output, error: text, node: name)
    }

    /// Whether a process of `name` ended since `exitsBefore`, a start's snapshot of every
    /// node's ``OwnNode/exits``: the one test both the wait for a role and the report of the
    /// nodes that ended while starting use, so the two always split the nodes alike.
    private func hasEnded(_ name: String, since exitsBefore: [String: Int]) -> Bool {
        (nodes[name]?.exits ?? 0) > (exitsBefore[name] ?? 0)
    }

    /// Stops `names` on the supervisor (everything it runs when nil: its state is unknown).
    private func stopOnSupervisor(_ names: Set<String>?, before configID: String) async {
        let requests = names.map { $0.sorted().map { SupervisorControl.DestroyRequest(reqid: UUID().uuidString, node: $0) } }
            ?? [SupervisorControl.DestroyRequest(reqid: UUID().uuidString, node: "")]
        await withTaskGroup(of: Void.self) { group in
            for request in requests {
                group.addTask {
                    do throws(RequestFailure) {
                        let destroyed = try await self.supervisor(request)
                        if !destroyed.result { await self.notifyError("supervisor could not stop \(request.node.isEmpty ? "the previous nodes" : "node \(request.node)")") }
                    } catch {
                        await self.notifyError("failed to stop \(request.node.isEmpty ? "the previous nodes" : "node \(request.node)") before deploying \(configID): \(error)")
                    }
                }
            }
        }
    }

    /// What the supervisor runs now, by node name; nil if it did not answer.
    private func supervisorStatus() async -> [String: Supervisor.NodeStatus]? {
        try? await supervisor(SupervisorControl.StatusRequest(reqid: UUID().uuidString, node: "")).result.nodes
    }

    // MARK: Reconciliation

    /// Makes what the supervisor runs match what is deployed on this instance: starts the
    /// deployed nodes it does not run (or runs with another configuration), stops those it
    /// runs that are not deployed. Each correction is reported (`notify_log`, `notify_change`,
    /// a metric). Skipped while a deploy, a restart or another reconciliation is under way.
    ///
    /// Run when the supervisor announces a start (its nodes died with its predecessor), and
    /// periodically, for nodes that vanished without a report and messages that were missed.
    ///
    /// One asked for while a reconciliation runs (the supervisor announcing its start while the
    /// agent still waits for its predecessor) runs right after it.
    func reconcile(because reason: String) async {
        guard operations == 0 else {
            if operations == reconciling { reconcileAgain = reason }
            return
        }
        var reason = reason
        while true {
            operations += 1
            reconciling = operations
            await reconcileOnce(because: reason)
            reconciling = 0
            operations -= 1
            guard let again = reconcileAgain else { return }
            reconcileAgain = nil
            reason = again
        }
    }

    private func reconcileOnce(because reason: String) async {
        guard knowsDeployment else {
            logger.debug("not reconciling (\(reason)): the controller has not said yet what is deployed on \(instance)")
            return
        }
        guard let running = await supervisorStatus() else {
            logger.warning("cannot reconcile (\(reason)): the supervisor of \(instance) did not answer")
            return
        }
        let own = nodes.values.map(\.config).sorted()
        var missing: [Management.Node] = []
        var stale: Set<String> = Set(running.keys).subtracting(nodes.keys)
        for node in own {
            let wanted = nodeConfig(for: node, layout: layout, backend: clusterBackend, archiver: archiver)
            guard let status = running[node.name], status.node == wanted else {
                if running[node.name] != nil { stale.insert(node.name) }
                missing.append(node)
                continue
            }
            if let pid = status.pid, nodes[node.name]?.pid != pid { nodes[node.name]?.pid = pid }
        }
        guard !missing.isEmpty || !stale.isEmpty else { return }
        if !stale.isEmpty {
            notifyLog("\(reason): stopping node(s) that are not deployed here as they run: \(stale.sorted().joined(separator: ", "))")
            metrics.corrected(action: "stopped", count: stale.count)
            await stopOnSupervisor(stale, before: configID)
        }
        if !missing.isEmpty {
            notifyLog("\(reason): starting node(s) the supervisor does not run: \(missing.map(\.name).joined(separator: ", "))")
            metrics.corrected(action: "started", count: missing.count)
            for node in missing {
                nodes[node.name]?.pid = nil
                change(node.name, to: .pending)
            }
            _ = await start(missing)
        }
    }

    /// Asks the supervisor to create `group` in parallel; returns the nodes it refused.
    private func create(_ group: [Management.Node]) async -> Set<String> {
        let (refused, _) = await askSupervisor(about: group) {
            SupervisorControl.CreateRequest(reqid: UUID().uuidString, node: nodeConfig(for: $0, layout: layout, backend: clusterBackend, archiver: archiver))
        }
        let refusals = Dictionary(uniqueKeysWithValues: refused.map { name, reason in (name, "failed to create node \(name): \(reason)") })
        for node in group where nodes[node.name]?.pid == nil {
            // A create that timed out may still have started a process: if one was reported
            // meanwhile, what it says (hello, exit, output) is the node's story, not this.
            nodes[node.name]?.refusal = refusals[node.name]
        }
        for name in refusals.keys.sorted() { notifyError(refusals[name]!, node: name) }
        return Set(refused.keys)
    }

    /// Sends the supervisor one request per node, all at once, and returns the nodes it
    /// refused with its reason (no answer in time counts as a refusal).
    private func askSupervisor<Request: ManagementRequest>(
        about nodes: [Management.Node], _ makeRequest: (Management.Node) -> Request
    ) async -> (refused: [String: String], answers: [Request.Response]) where Request.Response: SupervisorVerdict {
        await withTaskGroup(of: (String, String?, Request.Response?).self) { tasks in
            for node in nodes {
                let request = makeRequest(node)
                tasks.addTask {
                    do {
                        let response = try await self.supervisor(request)
                        return (node.name, response.result.isEmpty ? nil : response.result, response)
                    } catch {
                        return (node.name, "the supervisor did not answer: \(error)", nil)
                    }
                }
            }
            var refused: [String: String] = [:]
            var answers: [Request.Response] = []
            for await (name, reason, response) in tasks {
                refused[name] = reason
                if let response { answers.append(response) }
            }
            return (refused, answers)
        }
    }

    /// Every node's place in the cluster, as each node is told it.
    private static func layout(of config: Management.Configuration) -> [String: Supervisor.ClusterEndpoint] {
        let hosts = Dictionary(config.instances.map { ($0.name, $0.host) }, uniquingKeysWith: { first, _ in first })
        return Dictionary(config.nodes.map { node in
            (node.name, Supervisor.ClusterEndpoint(
                role: node.role, host: hosts[node.instance] ?? .unspecified, port: node.port ?? .none,
                interface: node.interface, metricsPort: node.metricsPort
            ))
        }, uniquingKeysWith: { first, _ in first })
    }

    /// The name under which an instance's log archiver runs beside its nodes (as Zeek's
    /// systemd generator names its unit `zeek-archiver`).
    static let archiverName = "zeek-archiver"

    /// This instance's nodes of `config`, and its log archiver as a node of no cluster role:
    /// supervised, checked, reconciled and reported (get-nodes) like a node, started last.
    private func ownNodes(of config: Management.Configuration) -> [Management.Node] {
        var mine = config.nodes.filter { $0.instance == instance }.sorted()
        if config.archivers[instance] != nil {
            // It runs as the host's logging nodes do (zeek.conf's user and group are the host's).
            let logging = mine.first { $0.role == .logger } ?? mine.first { $0.role == .manager } ?? mine.first
            mine.append(Management.Node(name: Self.archiverName, instance: instance, role: .none, user: logging?.user, group: logging?.group))
        }
        return mine
    }

    /// The supervisor's view of a node: the whole cluster layout, its scripts after the user's,
    /// and — beyond Zeek — its options, which the node applies. Nodes that write the cluster's
    /// logs (loggers, or the manager of a cluster without one) rotate them into the host's log
    /// queue where the host runs an archiver.
    private func nodeConfig(for node: Management.Node, layout: [String: Supervisor.ClusterEndpoint], backend: ClusterBackend?,
                            archiver: LogArchiver?) -> Supervisor.NodeConfig {
        if node.role == .none, node.name == Self.archiverName, let archiver {
            // With the layout, so the supervisor runs it as the nodes whose logs it takes.
            return Supervisor.NodeConfig(name: node.name, directory: node.name, env: archiver.env, cluster: layout, limits: archiver.limits,
                                         user: node.user, group: node.group, archiver: archiver)
        }
        var env = node.env
        if let options = node.options, !options.isEmpty {
            env[Management.Option.environmentVariable] = try? ZeekJSON.encodeString(options.sorted())
        }
        let logs = node.role == .logger || (node.role == .manager && !layout.values.contains { $0.role == .logger })
        return Supervisor.NodeConfig(
            name: node.name, interface: node.interface, directory: node.name,
            addlUserScripts: node.scripts ?? [], env: env, cpuAffinity: node.cpuAffinity, cluster: layout,
            limits: node.limits, clusterBackend: backend, user: node.user, group: node.group,
            archived: archiver != nil && logs ? true : nil
        )
    }

    // MARK: get_nodes, dispatch, restart

    /// The status of every node of this instance, plus the agent's own entry.
    ///
    /// Answered from what the agent tracks (the supervisor reports every start and exit, nodes
    /// report their check-ins) rather than by asking the supervisor: half the round trips, and
    /// the agent destroys everything else the supervisor ran when it deploys.
    func nodeStatuses(reqid: String) -> Management.Result {
        var statuses = nodes.keys.sorted().map { name -> Management.NodeStatus in
            let node = nodes[name]!
            let endpoint = layout[name]
            return Management.NodeStatus(
                node: name, state: node.state, clusterRole: node.config.role, pid: node.pid,
                port: endpoint.flatMap { $0.port == .none ? nil : $0.port }, metricsPort: endpoint?.metricsPort,
                lastExit: node.lastExit
            )
        }
        statuses.append(Management.NodeStatus(node: instance, state: .running, mgmtRole: .agent, pid: Int(getpid())))
        return Management.Result(reqid: reqid, instance: instance, data: try? JSONValue(encoding: statuses))
    }

    /// The nodes a request names that are this agent's (all of its Zeek nodes for an empty
    /// set). The archiver is no Zeek node: nothing is relayed to it, and it restarts only when
    /// named.
    private func targets(_ requested: Set<String>, namingArchiver: Bool = false) -> [String] {
        let archiver = nodes.filter { $0.value.config.role == .none && $0.key == Self.archiverName }.keys
        if requested.isEmpty { return Set(nodes.keys).subtracting(archiver).sorted() }
        let named = requested.intersection(nodes.keys)
        return (namingArchiver ? named : named.subtracting(archiver)).sorted()
    }

    /// Relays `action` to the named nodes and collects one Result per node.
    func dispatch(_ action: [String], to requested: Set<String>, reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result] {
        let targets = targets(requested)
        var results: [String: Management.Result] = [:]
        for name in targets where nodes[name]?.state != .running {
            results[name] = Management.Result(reqid: reqid, success: false, instance: instance, error: "cluster node \(name) not in running state", node: name)
        }
        let expected = Set(targets).subtracting(results.keys)
        if !expected.isEmpty, dispatches.count >= settings.maximumDispatches {
            let error = "\(settings.maximumDispatches) dispatches are already waiting for nodes of \(instance), the most it takes at once; try again later"
            logger.warning("refused a dispatch: \(error)")
            return targets.map { results[$0] ?? Management.Result(reqid: reqid, success: false, instance: instance, error: error, node: $0) }
        }
        if !expected.isEmpty {
            let child = UUID().uuidString
            dispatches[child] = (expected, [:])
            bus.enqueue(NodeAPI.DispatchRequest(reqid: child, action: action, nodes: requested), to: .nodeAPI, target: instance)
            _ = await changes.wait(until: bounded(deadline)) {
                self.dispatches[child].map { $0.results.count >= $0.expected.count } ?? true
            }
            let answered = dispatches.removeValue(forKey: child)?.results ?? [:]
            for name in expected {
                results[name] = answered[name] ?? Management.Result(
                    reqid: reqid, success: false, instance: instance,
                    error: "cluster node \(name) did not answer within \(settings.requestTimeout)", node: name
                )
            }
        }
        return targets.compactMap { results[$0] }
    }

    /// Restarts the named running nodes and waits until they have checked in again.
    func restart(_ requested: Set<String>, reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result] {
        let targets = targets(requested, namingArchiver: true)
        guard !targets.isEmpty else { return [] }
        operations += 1
        defer { operations -= 1 }
        for name in targets {
            nodes[name]?.pid = nil // its process is going away on purpose
            change(name, to: .pending)
        }
        var restarted: Set<String> = []
        await withTaskGroup(of: (String, Bool).self) { group in
            for name in targets {
                group.addTask {
                    let ok = (try? await self.supervisor(SupervisorControl.RestartRequest(reqid: UUID().uuidString, node: name)).result) ?? false
                    return (name, ok)
                }
            }
            for await (name, ok) in group {
                if ok { restarted.insert(name) } else { notifyError("failed to restart node \(name)", node: name) }
            }
        }
        let completed = await changes.wait(until: bounded(deadline)) {
            restarted.allSatisfy { self.nodes[$0]?.state == .running }
        }
        var results = targets.map { name in
            restarted.contains(name) && nodes[name]?.state == .running
                ? Management.Result(reqid: reqid, instance: instance, node: name)
                : Management.Result(reqid: reqid, success: false, instance: instance, error: "could not restart node \(name)", node: name)
        }
        if !completed {
            results.append(Management.Result(reqid: reqid, success: false, instance: instance, error: "request timed out"))
        }
        for name in restarted where nodes[name]?.state == .running { notifyLog("restarted node \(name)", node: name) }
        return results
    }

    // MARK: What the nodes and the supervisor report

    /// Hellos and the supervisor's start reports travel on different topics, so either may
    /// come first; the pids tie them together.
    func nodeSaidHello(_ name: String, pid: Int?) {
        guard nodes[name] != nil else { return }
        nodes[name]?.refusal = nil
        nodes[name]?.helloPID = pid
        if let pid { nodes[name]?.pid = pid }
        change(name, to: .running)
    }

    func nodeStarted(_ name: String, pid: Int) {
        supervisorView = nil
        nodes[name]?.refusal = nil
        guard let node = nodes[name], node.pid != pid else { return }
        nodes[name]?.pid = pid
        // The archiver is no Zeek node and says no hello: started is running.
        if node.config.role == .none, name == Self.archiverName {
            change(name, to: .running)
        } else if node.helloPID != pid {
            change(name, to: .pending)
        }
    }

    /// The supervisor (re)started: it runs nothing of what it ran before.
    func supervisorStarted() {
        supervisorView = nil
    }

    /// Only an exit of the node's current process counts; reports about a process the agent
    /// replaced on purpose (restart, redeploy) arrive late and are ignored.
    ///
    /// A node killed at its memory limit is also told on the notify topic, as an error: the
    /// operator must raise the limit or find the leak, and the supervisor restarts it with
    /// back-off meanwhile.
    func nodeExited(_ name: String, pid: Int?, outputs: Management.NodeOutputs, exit: String? = nil, reason: SupervisorNotification.NodeExit.Reason? = nil) {
        supervisorView = nil
        guard let current = nodes[name]?.pid, pid == nil || pid == current else { return }
        nodes[name]?.refusal = nil
        nodes[name]?.outputs = outputs
        nodes[name]?.lastExit = exit
        nodes[name]?.exits += 1
        change(name, to: .crashed)
        if reason == .memory {
            notifyError("node \(name) \(exit ?? "was killed at its memory limit"); it is started again with back-off. "
                + "Raise its memory_max or find what grows", node: name)
        }
    }

    func dispatchAnswered(_ childReqid: String, result: Management.Result) {
        guard let node = result.node, dispatches[childReqid]?.expected.contains(node) == true else { return }
        var result = result
        result.instance = instance
        dispatches[childReqid]?.results[node] = result
        signalChange()
    }

    // MARK: Helpers

    /// A request's deadline, but no later than one request timeout from now: a request
    /// stamped in the future (a wrong clock, or hostile) would otherwise be waited for for
    /// years. One that arrived in time has an earlier deadline anyway.
    private func bounded(_ deadline: ContinuousClock.Instant) -> ContinuousClock.Instant {
        min(deadline, clock.now + settings.requestTimeout)
    }

    private func change(_ name: String, to state: Management.State) {
        guard let node = nodes[name], node.state != state else { return }
        nodes[name]?.state = state
        bus.enqueue(AgentAPI.NotifyChange(instance: instance, n: node.config, old: node.state, new: state), to: .agentAPI.notify)
        logger.info("node \(name): \(node.state.rawValue) -> \(state.rawValue)")
        metrics.record(nodes: nodes)
        signalChange()
    }

    func notifyError(_ message: String, node: String = "") {
        logger.warning("\(message)")
        bus.enqueue(AgentAPI.NotifyError(instance: instance, msg: message, node: node), to: .agentAPI.notify)
    }

    /// A notable event, for those watching the notify topic (and the log).
    func notifyLog(_ message: String, node: String = "") {
        logger.info("\(message)")
        bus.enqueue(AgentAPI.NotifyLog(instance: instance, msg: message, node: node), to: .agentAPI.notify)
    }

    /// Asks this host's supervisor; it has the agent's request timeout to answer.
    private func supervisor<Request: ManagementRequest>(_ request: Request) async throws(RequestFailure) -> Request.Response {
        try await requester.request(request, on: .supervisorAPI, target: instance, until: clock.now + settings.requestTimeout)
    }

    /// Waits until `condition` holds (re-checked after every state change) or `timeout` passes.
    private func waitUntil(timeout: Duration, _ condition: (isolated Agent) -> Bool) async -> Bool {
        await changes.wait(until: clock.now + timeout) { condition(self) }
    }

    private func signalChange() {
        changes.signal()
    }
}

/// A supervisor's answer that is `""` when it did what was asked, else the reason it did not.
protocol SupervisorVerdict: ManagementResponse {
    var result: String { get }
}

extension SupervisorControl.CreateResponse: SupervisorVerdict {}
extension SupervisorManagement.CheckResponse: SupervisorVerdict {}
