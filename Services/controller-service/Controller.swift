#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterConfiguration
import KafkaTransport
import Logging
import ManagementMessaging
import ManagementTypes

/// The cluster's controller: tracks the agents, owns the staged and deployed configurations,
/// and answers clients by fanning requests out to the agents.
///
/// Every client request runs in a task of its own (a deploy waits seconds for agents), so
/// requests from several clients proceed independently; state changes happen on this actor.
actor Controller {
    struct Settings: Sendable {
        var name: String
        /// How long a request may take before it is answered with "request timed out" (Zeek: 10 s).
        var requestTimeout: Duration = .seconds(10)
        /// An agent silent for this long is lost (3 heartbeats of 5 s).
        var agentTimeout: Duration = .seconds(15)
        var staging = StagingPolicy()
    }

    /// An agent that has checked in, as last heard from.
    struct KnownAgent: Sendable {
        var instance: Management.Instance
        /// The agent process's check-in id; a new one means the agent restarted.
        var id: String
        /// Publish time of its latest hello, epoch seconds.
        var lastSeen: Double
    }

    let settings: Settings
    let endpoint: ManagementEndpoint
    let store: ConfigurationStore
    let logger: Logger
    private let agentResponses = PendingResponses<InboundMessage>()
    private let changes = ChangeSignal()

    private var known: [String: KnownAgent] = [:]
    /// The instances of the configuration being or last deployed (Zeek's `g_instances`).
    private var configured: [String: Management.Instance] = [:]
    /// Configured agents that answered a welcome.
    private var ready: Set<String> = []
    private var welcomed: [String: ContinuousClock.Instant] = [:]
    private var sentStandby: Set<String> = []
    private var announcedReady = false
    private var pendingDeploy: String?
    private var staged: Management.Configuration?
    private var readyToDeploy: Management.Configuration?
    private var deployed: Management.Configuration?
    /// The last known state of each node of the deployed configuration: from the deploy's
    /// results, then from the agents' `notify_change`s.
    private var nodeStates: [String: Management.State] = [:]
    /// Whether `notify_cluster_running` was published since the cluster last ran in full.
    private var announcedRunning = false
    private var restoration: Task<Void, Never>?

    init(settings: Settings, endpoint: ManagementEndpoint, store: ConfigurationStore, logger: Logger) {
        self.settings = settings
        self.endpoint = endpoint
        self.store = store
        self.logger = logger
    }

    var name: String { settings.name }

    // MARK: Becoming active

    /// Restores the persisted configurations once per activation; every message waits for it.
    func prepare() async {
        if restoration == nil {
            restoration = Task { await self.restore() }
        }
        await restoration?.value
    }

    private func restore() async {
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            do {
                let restored = try await store.load()
                staged = restored.staged
                readyToDeploy = restored.staged.map { settings.staging.prepared($0, knownHosts: knownHosts) }
                deployed = restored.deployed
                configured = Dictionary(restored.deployed?.instances.map { ($0.name, $0) } ?? [], uniquingKeysWith: { first, _ in first })
                logger.notice("controller active", metadata: [
                    "staged": "\(staged?.id ?? "none")", "deployed": "\(deployed?.id ?? "none")",
                ])
                // Not awaited: it asks the agents, whose answers wait for this restoration.
                Task { await self.learnNodeStates() }
                return
            } catch {
                logger.warning("cannot read persisted configurations (attempt \(attempt)): \(error); retrying")
                try? await Task.sleep(for: .seconds(min(attempt, 5)))
            }
        }
    }

    /// Another controller took over: forget what it now owns, so nothing stale is acted on.
    func standBy() {
        restoration?.cancel()
        restoration = nil
        known = [:]
        configured = [:]
        ready = []
        welcomed = [:]
        sentStandby = []
        announcedReady = false
        logger.notice("standing by: another controller of the group is active")
    }

    // MARK: Agents

    private var knownHosts: [String: IPAddress] {
        known.compactMapValues { $0.instance.host == .unspecified ? nil : $0.instance.host }
    }

    func agentCheckedIn(_ hello: AgentAPI.NotifyAgentHello, publishedAt timestamp: Double) {
        let name = hello.instance
        guard hello.api_version == AgentAPI.NotifyAgentHello.apiVersion else {
            logger.warning("agent \(name) speaks API version \(hello.api_version), not \(AgentAPI.NotifyAgentHello.apiVersion); ignoring it")
            if configured.removeValue(forKey: name) != nil { sendStandby(to: name) }
            known[name] = nil
            return
        }
        guard Date().timeIntervalSince1970 - timestamp < settings.agentTimeout.timeInterval else { return }
        let previous = known[name]
        known[name] = KnownAgent(
            instance: Management.Instance(name: name, host: hello.host ?? .unspecified,
                                          listenPort: hello.connecting ? nil : previous?.instance.listenPort),
            id: hello.id, lastSeen: max(timestamp, previous?.lastSeen ?? 0)
        )
        if previous == nil {
            logger.info("agent \(name) checked in", metadata: ["host": "\(hello.host?.description ?? "-")"])
        } else if previous?.id != hello.id {
            logger.notice("agent \(name) restarted; welcoming it again")
            ready.remove(name)
            welcomed[name] = nil
            sentStandby.remove(name)
        }
        if configured[name] != nil {
            if !ready.contains(name) { welcome(name) }
        } else if deployed != nil || pendingDeploy != nil, !sentStandby.contains(name) {
            sendStandby(to: name)
        }
        changes.signal()
    }

    /// Marks agents silent for longer than the agent timeout as lost, and reports them.
    func sweepLostAgents() {
        let cutoff = Date().timeIntervalSince1970 - settings.agentTimeout.timeInterval
        for (name, agent) in known where agent.lastSeen < cutoff {
            known[name] = nil
            ready.remove(name)
            welcomed[name] = nil
            sentStandby.remove(name)
            if configured[name] != nil { announcedReady = false }
            let message = "agent \(name) lost: no check-in for \(settings.agentTimeout)"
            logger.warning("\(message)")
            endpoint.enqueue(AgentAPI.NotifyError(instance: name, msg: message), to: .controllerAPI.notify)
            changes.signal()
        }
    }

    private func welcome(_ name: String) {
        if let last = welcomed[name], ContinuousClock.now - last < .seconds(2) { return }
        welcomed[name] = .now
        let request = AgentAPI.AgentWelcomeRequest(reqid: UUID().uuidString)
        Task {
            guard let response = try? await askAgent(name, request, expecting: AgentAPI.AgentWelcomeResponse.self, deadline: .now + settings.requestTimeout) else {
                return
            }
            welcomeAnswered(name, result: response.result)
        }
    }

    private func welcomeAnswered(_ name: String, result: Management.Result) {
        guard result.success, configured[name] != nil, known[name] != nil else {
            sendStandby(to: name)
            return
        }
        ready.insert(name)
        logger.info("agent \(name) ready")
        changes.signal()
        if pendingDeploy == nil, let deployed {
            // Re-sync: an agent that restarted runs nothing; one that kept running ignores the same id.
            let request = AgentAPI.DeployRequest(reqid: UUID().uuidString, config: deployed)
            Task {
                let response = try? await askAgent(name, request, expecting: AgentAPI.DeployResponse.self, deadline: .now + settings.requestTimeout)
                let failures = response?.results.filter { !$0.success } ?? []
                if response == nil || !failures.isEmpty {
                    logger.warning("re-deploying \(deployed.id) to agent \(name) failed: \(failures.map(\.description).joined(separator: "; "))")
                }
            }
        }
        announceReadinessIfComplete()
    }

    private func announceReadinessIfComplete() {
        let names = Set(configured.keys)
        guard !names.isEmpty, names.isSubset(of: ready), !announcedReady else { return }
        announcedReady = true
        logger.info("agents ready: \(names.sorted().joined(separator: ", "))")
        endpoint.enqueue(ControllerAPI.NotifyAgentsReady(instances: names), to: .controllerAPI.notify)
    }

    private func sendStandby(to name: String) {
        sentStandby.insert(name)
        ready.remove(name)
        logger.info("sending agent \(name) to standby")
        endpoint.enqueue(AgentAPI.AgentStandbyRequest(reqid: ""), to: .agentAPI, target: name)
    }

    func agentResponded(_ message: InboundMessage, reqid: String) async {
        await agentResponses.deliver(message, for: reqid)
    }

    // MARK: Requests

    func instances(reqid: String) -> Management.Result {
        let instances = known.values.map(\.instance).sorted()
        return Management.Result(reqid: reqid, data: try? JSONValue(encoding: instances))
    }

    func stage(_ config: Management.Configuration, reqid: String, validate: Bool = true) async -> [Management.Result] {
        if validate {
            let problems = settings.staging.problems(in: config)
            guard problems.isEmpty else {
                return problems.map { Management.Result(reqid: reqid, success: false, error: $0) }
            }
        }
        do {
            try await store.save(config, as: .staged)
        } catch {
            return [Management.Result(reqid: reqid, success: false, error: "could not persist the configuration: \(error)")]
        }
        staged = config
        readyToDeploy = settings.staging.prepared(config, knownHosts: knownHosts)
        logger.info("staged configuration \(config.id)", metadata: ["instances": "\(config.instances.count)", "nodes": "\(config.nodes.count)"])
        return [Management.Result(reqid: reqid, data: .string(config.id))]
    }

    func configuration(deployed wantsDeployed: Bool, reqid: String) -> Management.Result {
        guard let config = wantsDeployed ? deployed : staged else {
            return Management.Result(reqid: reqid, success: false, error: "no \(wantsDeployed ? "deployed" : "staged") configuration available")
        }
        return Management.Result(reqid: reqid, data: try? JSONValue(encoding: config))
    }

    func deploy(reqid: String) async -> [Management.Result] {
        let deadline = ContinuousClock.now + settings.requestTimeout
        guard var prepared = readyToDeploy else {
            return [Management.Result(reqid: reqid, success: false, error: "no configuration available to deploy")]
        }
        if let pendingDeploy {
            return [Management.Result(reqid: reqid, success: false, error: "earlier deployment \(pendingDeploy) still pending")]
        }
        pendingDeploy = reqid
        defer { pendingDeploy = nil }
        // Addresses of agents that checked in since staging.
        prepared.instances = Set(prepared.instances.map { instance in
            var instance = instance
            if instance.host == .unspecified, let host = knownHosts[instance.name] { instance.host = host }
            return instance
        })
        let config = prepared
        if let refused = await check(config, reqid: reqid, deadline: deadline) { return refused }
        adoptInstances(of: config)
        logger.info("deploying configuration \(config.id) to \(configured.count) instances")

        var results: [Management.Result] = []
        if !configured.isEmpty {
            let names = Set(configured.keys)
            if let missing = await agentsMissing(names, from: { $0.ready }, for: config, reqid: reqid, deadline: deadline) { return missing }
            let answers = await fanOut(to: names.sorted(), deadline: deadline, expecting: AgentAPI.DeployResponse.self) {
                AgentAPI.DeployRequest(reqid: $0, config: config)
            }
            for answer in answers { results += answer.response?.results ?? [] }
            let silent = names.subtracting(answers.compactMap { $0.response == nil ? nil : $0.agent })
            guard silent.isEmpty else {
                logger.warning("deployment \(config.id) timed out waiting for \(silent.sorted().joined(separator: ", "))")
                return results + silent.sorted().map { Management.Result(reqid: reqid, success: false, instance: $0, error: "request timed out") }
            }
        }
        do {
            try await store.save(config, as: .deployed)
        } catch {
            return results + [Management.Result(reqid: reqid, success: false, error: "deployed, but could not persist the configuration: \(error)")]
        }
        deployed = config
        logger.info("deployed configuration \(config.id)")
        let running = Set(results.filter { $0.success }.compactMap(\.node))
        nodeStates = Dictionary(config.nodes.map { ($0.name, running.contains($0.name) ? .running : .pending) }, uniquingKeysWith: { first, _ in first })
        announcedRunning = false
        announceRunningIfComplete()
        return results + [Management.Result(reqid: reqid, data: .string(config.id))]
    }

    /// Asks every agent of `config` whether its nodes would start (Zeek parses their scripts)
    /// before any agent stops anything; nil when all would, else the deploy's failed results.
    /// A configuration that fails anywhere changes nothing anywhere.
    private func check(_ config: Management.Configuration, reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result]? {
        let names = Set(config.instances.map(\.name))
        guard !names.isEmpty else { return nil }
        if let missing = await agentsMissing(names, from: { Set($0.known.keys) }, for: config, reqid: reqid, deadline: deadline) { return missing }
        let answers = await fanOut(to: names.sorted(), deadline: deadline, expecting: AgentAPI.CheckResponse.self) {
            AgentAPI.CheckRequest(reqid: $0, config: config)
        }
        var refused = answers.flatMap { answer in (answer.response?.results ?? []).filter { !$0.success }.map { result in
            var result = result
            result.reqid = reqid
            return result
        } }
        refused += answers.filter { $0.response == nil }.map { Management.Result(reqid: reqid, success: false, instance: $0.agent, error: "request timed out") }
        guard !refused.isEmpty else { return nil }
        logger.warning("configuration \(config.id) not deployed: \(refused.count) problem(s) found by the agents' checks")
        return refused + [Management.Result(reqid: reqid, success: false,
                                            error: "configuration \(config.id) not deployed: it fails the check on \(Set(refused.compactMap(\.instance)).sorted().joined(separator: ", ")); the running cluster was left as it was")]
    }

    /// Waits until every agent of `names` is among `present` (the agents checked in, or those
    /// ready); nil once they are, else at `deadline` a timed-out Result for each one missing.
    private func agentsMissing(_ names: Set<String>, from present: (isolated Controller) -> Set<String>, for config: Management.Configuration,
                               reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result]? {
        guard await !changes.wait(until: deadline, for: { names.isSubset(of: present(self)) }) else { return nil }
        let missing = names.subtracting(present(self)).sorted()
        logger.warning("deployment \(config.id) timed out: agents \(missing.joined(separator: ", ")) did not check in")
        return missing.map { Management.Result(reqid: reqid, success: false, instance: $0, error: "request timed out") }
    }

    /// After taking over (or restarting), learns from the agents how the deployed nodes are,
    /// so `notify_cluster_running` keeps telling the truth across a failover: the cluster
    /// running in full is announced once, and again after every return to it.
    private func learnNodeStates() async {
        guard let deployed, !deployed.nodes.isEmpty else { return }
        nodeStates = Dictionary(deployed.nodes.map { ($0.name, .pending) }, uniquingKeysWith: { first, _ in first })
        announcedRunning = false
        let names = Set(configured.keys)
        // A controller that just took over hears the agents' heartbeats within one interval.
        _ = await changes.wait(until: .now + settings.agentTimeout, for: { names.isSubset(of: self.known.keys) })
        let statuses = await nodes(reqid: UUID().uuidString).compactMap { try? $0.data?.decode(as: [Management.NodeStatus].self) }.joined()
        guard self.deployed?.id == deployed.id else { return } // a deploy meanwhile knows better
        for status in statuses where nodeStates[status.node] == .pending { nodeStates[status.node] = status.state }
        announceRunningIfComplete()
    }

    /// A node's state changed on its agent.
    func nodeChanged(_ node: String, to state: Management.State) {
        guard nodeStates[node] != nil else { return }
        nodeStates[node] = state
        announceRunningIfComplete()
    }

    private func announceRunningIfComplete() {
        guard let deployed, !deployed.nodes.isEmpty else { return }
        let allRunning = deployed.nodes.allSatisfy { nodeStates[$0.name] == .running }
        if !allRunning {
            announcedRunning = false
        } else if !announcedRunning {
            announcedRunning = true
            logger.notice("every node of configuration \(deployed.id) runs (\(deployed.nodes.count) nodes)")
            endpoint.enqueue(ControllerAPI.NotifyClusterRunning(configID: deployed.id, nodes: deployed.nodes.count), to: .controllerAPI.notify)
        }
    }

    /// Makes `config`'s instances the configured ones: agents no longer wanted go to standby,
    /// new ones (and those whose address changed) are welcomed.
    private func adoptInstances(of config: Management.Configuration) {
        let wanted = Dictionary(config.instances.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for name in configured.keys where wanted[name] == nil {
            configured[name] = nil
            sendStandby(to: name)
        }
        for (name, instance) in wanted {
            if let current = configured[name], current.listenPort != instance.listenPort
                || (instance.host != .unspecified && instance.host != current.host) {
                ready.remove(name)
            }
            configured[name] = instance
            sentStandby.remove(name)
            if known[name] != nil, !ready.contains(name) { welcome(name) }
        }
        announcedReady = false
        announceReadinessIfComplete()
    }

    func nodes(reqid: String) async -> [Management.Result] {
        guard !known.isEmpty else {
            return [Management.Result(reqid: reqid, success: false, error: "no instances connected")]
        }
        let answers = await fanOut(to: known.keys.sorted(), deadline: .now + settings.requestTimeout, expecting: AgentAPI.GetNodesResponse.self) {
            AgentAPI.GetNodesRequest(reqid: $0)
        }
        return answers.map { answer in
            answer.response?.result ?? Management.Result(reqid: reqid, success: false, instance: answer.agent, error: "request timed out")
        }
    }

    func idValue(_ id: String, nodes requested: Set<String>, reqid: String) async -> [Management.Result] {
        guard !configured.isEmpty else {
            return [Management.Result(reqid: reqid, success: false, error: "no cluster deployed")]
        }
        let (valid, unknown) = partition(requested, reqid: reqid)
        if !requested.isEmpty && valid.isEmpty { return unknown }
        let answers = await fanOut(to: readyConfiguredAgents, deadline: .now + settings.requestTimeout, expecting: AgentAPI.NodeDispatchResponse.self) {
            AgentAPI.NodeDispatchRequest(reqid: $0, action: ["get_id_value", id], nodes: valid)
        }
        return unknown + answers.flatMap { answer in
            answer.response?.results ?? [Management.Result(reqid: reqid, success: false, instance: answer.agent, error: "request timed out")]
        }
    }

    func restart(_ requested: Set<String>, reqid: String) async -> [Management.Result] {
        guard !known.isEmpty else {
            return [Management.Result(reqid: reqid, success: false, error: "no instances connected")]
        }
        guard deployed != nil else {
            return [Management.Result(reqid: reqid, success: false, error: "no active cluster deployment")]
        }
        let (valid, unknown) = partition(requested, reqid: reqid)
        if !requested.isEmpty && valid.isEmpty { return unknown }
        let answers = await fanOut(to: readyConfiguredAgents, deadline: .now + settings.requestTimeout, expecting: AgentAPI.RestartResponse.self) {
            AgentAPI.RestartRequest(reqid: $0, nodes: requested)
        }
        return unknown + answers.flatMap { answer in
            answer.response?.results ?? [Management.Result(reqid: reqid, success: false, instance: answer.agent, error: "request timed out")]
        }
    }

    /// Requested node names split into those of the deployed configuration and a failed
    /// Result for each of the others.
    private func partition(_ requested: Set<String>, reqid: String) -> (valid: Set<String>, unknown: [Management.Result]) {
        let names = Set(deployed?.nodes.map(\.name) ?? [])
        let valid = requested.intersection(names)
        let unknown = requested.subtracting(names).sorted().map {
            Management.Result(reqid: reqid, success: false, error: "unknown cluster node", node: $0)
        }
        return (valid, unknown)
    }

    private var readyConfiguredAgents: [String] {
        ready.intersection(configured.keys).sorted()
    }

    // MARK: Talking to agents

    /// Sends one request per agent and collects the responses in arrival order; agents that do
    /// not answer by `deadline` come last, without a response.
    private func fanOut<Request: ManagementRequest, Response: ManagementEvent>(
        to agents: [String], deadline: ContinuousClock.Instant, expecting: Response.Type,
        _ makeRequest: @escaping @Sendable (String) -> Request
    ) async -> [(agent: String, response: Response?)] {
        await withTaskGroup(of: (String, Response?).self) { group in
            for agent in agents {
                group.addTask {
                    (agent, try? await self.askAgent(agent, makeRequest(UUID().uuidString), expecting: Response.self, deadline: deadline))
                }
            }
            var answered: [(agent: String, response: Response?)] = []
            var silent: [(agent: String, response: Response?)] = []
            for await (agent, response) in group {
                if response == nil { silent.append((agent, nil)) } else { answered.append((agent, response)) }
            }
            return answered + silent.sorted { $0.agent < $1.agent }
        }
    }

    private nonisolated func askAgent<Request: ManagementRequest, Response: ManagementEvent>(
        _ agent: String, _ request: Request, expecting: Response.Type, deadline: ContinuousClock.Instant
    ) async throws -> Response {
        await agentResponses.register(request.reqid)
        endpoint.enqueue(request, to: .agentAPI, target: agent)
        let message = try await agentResponses.response(for: request.reqid, timeout: deadline - .now)
        return try message.decode(Response.self).event
    }
}
