#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterConfiguration
import Logging
import ManagementMessaging
import ManagementTypes
import MessageSigning

/// The cluster's controller: tracks the agents, owns the staged and deployed configurations,
/// and answers clients by fanning requests out to the agents.
///
/// Every client request is answered by a task of its own (a deploy waits seconds for agents),
/// so requests from several clients proceed independently; state changes happen on this actor.
public actor Controller {
    public struct Settings: Sendable {
        public var name: String
        /// How long a request may take before it is answered with "request timed out" (Zeek:
        /// 10 s); also every client request's lifetime (see ``RequestResponder``).
        public var requestTimeout: Duration
        /// An agent silent for this long is lost (3 heartbeats of 5 s).
        public var agentTimeout: Duration
        public var staging: StagingPolicy
        /// The most agents the controller keeps a record of. Check-ins come from the wire, and
        /// a million names must not take a million records: beyond this many, agents of names
        /// it does not know yet (and that no configuration names) are refused until others
        /// are lost.
        public var maximumAgents: Int
        /// Where hosts are enrolled: the trust store the controller's bus verifies with, and the
        /// hosts waiting; nil on an unsigned bus.
        public var enrollment: Enrollment?
        /// Where the nodes' Prometheus metrics targets are published for the service discovery
        /// endpoint (`--metrics-discovery`); nil: not kept.
        public var metricsTargets: MetricsTargetsBoard?
        /// The targets are built again at most once per this interval: a deploy of thousands of
        /// nodes reports each node's every state change, and Prometheus asks every 30-60 s.
        public var metricsTargetsInterval: Duration

        public init(name: String = "controller", requestTimeout: Duration = .seconds(10), agentTimeout: Duration = .seconds(15),
                    staging: StagingPolicy = StagingPolicy(), maximumAgents: Int = 10_000, enrollment: Enrollment? = nil,
                    metricsTargets: MetricsTargetsBoard? = nil, metricsTargetsInterval: Duration = .seconds(1)) {
            self.name = name
            self.requestTimeout = requestTimeout
            self.agentTimeout = agentTimeout
            self.staging = staging
            self.maximumAgents = maximumAgents
            self.enrollment = enrollment
            self.metricsTargets = metricsTargets
            self.metricsTargetsInterval = metricsTargetsInterval
        }
    }

    /// The trust store a controller enrolls hosts into, and the hosts waiting for it.
    public struct Enrollment: Sendable {
        public var trust: TrustStore
        public var pending: PendingEnrollments

        public init(trust: TrustStore, pending: PendingEnrollments) {
            self.trust = trust
            self.pending = pending
        }
    }

    let settings: Settings
    let bus: any MessageBus
    let requester: Requester
    let clock: any ManagementClock
    let store: ConfigurationStore
    let work: BackgroundWork
    let logger: Logger
    let changes: ChangeSignal

    /// The agents, checked in or configured, and where the controller stands with each.
    var roster: AgentRoster
    /// The deploy under way: its request and the instances of its configuration.
    var pendingDeploy: (reqid: String, instances: Set<String>)?
    /// The staged and deployed configurations, their signatures and the enrolled hosts.
    private(set) var held = HeldConfigurations()
    /// How the deployed nodes run, and whether the cluster was announced running in full.
    var runState = ClusterRunState()
    /// When the metrics targets were last published, and whether a later publication is due.
    var metricsTargetsPublication = MetricsTargetsPublication()
    /// Whether it is the active controller of its group, and holds its configurations.
    private(set) var activation = Activation()
    /// Restoring the persisted configurations, once per activation.
    private var restoration: Task<Void, Never>?

    var staged: Management.Configuration? { held.staged }
    var readyToDeploy: Management.Configuration? { held.readyToDeploy }
    var deployed: Management.Configuration? { held.deployed }
    var isActive: Bool { activation.isActive }
    var restored: Bool { activation.restored }
    /// See ``Activation/takesAgentAnswers``.
    var takesAgentAnswers: Bool { activation.takesAgentAnswers }

    init(settings: Settings, bus: any MessageBus, clock: any ManagementClock, work: BackgroundWork, logger: Logger) {
        self.settings = settings
        self.bus = bus
        self.clock = clock
        self.work = work
        self.logger = logger
        requester = Requester(bus: bus, clock: clock)
        store = ConfigurationStore(bus: bus, logger: logger)
        changes = ChangeSignal(clock: clock)
        roster = AgentRoster(maximumAgents: settings.maximumAgents, agentTimeout: settings.agentTimeout)
    }

    var name: String { settings.name }

    /// Where agents are asked to answer: a topic only controllers read, rather than the
    /// partition of `Management.Agent.API` this controller's name shares with some agents, who
    /// would otherwise read every agent's answers (contract 2.1). Agents of contract 2.0
    /// answer on `Management.Agent.API`, which the controller reads too.
    static let answers = Topic.agentAPI.replies

    // MARK: Becoming active

    /// Starts restoring the persisted configurations (once per activation) and returns when the
    /// first attempt ended: messages are handled with the configurations in place, or, if the
    /// state topic cannot be read, requests wait for it until their deadline
    /// (``restorationFailure(until:)``) while restoring is retried.
    func prepare() async {
        if activation.startRestoring() { restoration = Task { await self.restore() } }
        _ = await changes.wait(until: clock.now + .seconds(86_400)) { self.activation.restorationSettled }
    }

    /// Nil once the configurations are restored; else, at `deadline`, why they are not, worded
    /// for a request's failed Result.
    func restorationFailure(until deadline: ContinuousClock.Instant) async -> String? {
        guard await !changes.wait(until: deadline, for: { self.restored }) else { return nil }
        return "cannot read the persisted configurations from \(Topic.controllerState): \(activation.restorationProblem ?? "no answer yet"); still trying, check the broker"
    }

    private func restore() async {
        var attempt = 0
        while !Task.isCancelled {
            attempt += 1
            do {
                let restored = try await store.load()
                // A controller that stood by while reading applies nothing: the configurations,
                // and the agents, are the active controller's now. Cancelled is enough: if it
                // is active again, that activation's own restoration applies what it reads.
                guard !Task.isCancelled, activation.restorationSucceeded() else { return }
                held.restore(restored, ready: restored.staged.flatMap { readyToDeploy($0.config) })
                // Which nodes run is known once the agents answered (learnNodeStates).
                runState.restored(deployed: deployed)
                trustEnrolledHosts()
                roster.restore(configured: restored.deployed?.config.instances ?? [])
                logger.notice("controller active", metadata: [
                    "staged": "\(staged?.id ?? "none")", "deployed": "\(deployed?.id ?? "none")",
                ])
                // In the same step: a request waiting for the restoration must find the agents
                // heard while standing by (it answered `no instances connected` at a takeover
                // when they were taken up only once the controller was marked active).
                takeUpCheckInsHeard(activating: true)
                changes.signal()
                metricsTargetsChanged()
                // Not awaited: it waits for the agents' answers.
                work.submit { await self.learnNodeStates() }
                return
            } catch {
                // Nor does it report, as the problem of a later activation, why it failed.
                guard !Task.isCancelled else { return }
                logger.warning("cannot read persisted configurations (attempt \(attempt)): \(error); retrying")
                activation.restorationFailed("\(error)")
                changes.signal()
                try? await clock.sleep(for: .seconds(min(attempt, 5)))
            }
        }
    }

    /// Another controller took over: forget what it now owns, so nothing stale is acted on.
    func standBy() {
        restoration?.cancel()
        restoration = nil
        activation.standBy()
        changes.signal()
        roster.standBy()
        metricsTargetsChanged()
        logger.notice("standing by: another controller of the group is active")
    }

    /// An agent's check-in: acted on by the active controller once its configurations are
    /// restored; until then (standing by, taking over) kept, and taken up when it is.
    func heard(_ hello: AgentAPI.NotifyAgentHello, publishedAt timestamp: Double) {
        perform(roster.heard(hello, publishedAt: timestamp, acting: activation.acting, cluster: clusterForCheckIns, at: moment))
    }

    /// The check-ins kept while not acting on them, acted on now (those still recent enough):
    /// once active and restored, or as the restoration that makes the controller active ends.
    private func takeUpCheckInsHeard(activating: Bool = false) {
        guard (isActive || activating) && restored else { return }
        perform(roster.takeUpCheckInsHeard(cluster: clusterForCheckIns, at: moment))
    }

    func setActive(_ active: Bool) {
        activation.assigned(active, at: clock.now)
        takeUpCheckInsHeard()
        metricsTargetsChanged()
    }

    /// Right after taking over, the controller knows only the agents it heard since: every
    /// agent checks in once per heartbeat (a third of the agent timeout). Until then a request
    /// waits for the agents of the deployed configuration to be in the state `condition`
    /// describes (at most one heartbeat, and never past its own `deadline`), rather than
    /// being answered without them.
    private func awaitAgentsAfterTakeover(_ condition: @escaping @Sendable (AgentRecord) -> Bool, deadline: ContinuousClock.Instant) async {
        guard let activeSince = activation.activeSince else { return }
        let settled = activeSince + settings.agentTimeout / 3
        guard clock.now < settled else { return }
        let configured = roster.names { $0.configured != nil }
        _ = await changes.wait(until: min(settled, deadline)) { configured.isSubset(of: self.roster.names(where: condition)) }
    }

    /// The controller's periodic look at its agents: marks lost ones, and brings in line those
    /// not known to run the deployed configuration. Only while active: a standby, or a
    /// controller in a rebalance, reads no heartbeats, and nobody is lost for that.
    func lookAfterAgentsIfActive() {
        // Active from its assignment on, but it acts on what is deployed once it knows it.
        guard activation.acting else { return }
        sweepLostAgents()
        bringAgentsInLine()
    }

    // MARK: Requests

    func instances(reqid: String) -> Management.Result {
        Management.Result(reqid: reqid, data: try? JSONValue(encoding: roster.checkedInInstances))
    }

    /// Stages `config`, kept with `signature`, the operator's signed request that carried it.
    func stage(_ config: Management.Configuration, signature: SignedRecord?, reqid: String, validate: Bool = true) async -> [Management.Result] {
        if validate {
            let problems = settings.staging.problems(in: config)
            guard problems.isEmpty else {
                return problems.map { Management.Result(reqid: reqid, success: false, error: $0) }
            }
        }
        // Ports are assigned before anything is kept: a configuration that cannot get them is refused.
        let ready: Management.Configuration
        do throws(PortsExhausted) {
            ready = try settings.staging.prepared(config, knownHosts: knownHosts)
        } catch {
            return [Management.Result(reqid: reqid, success: false, error: error.description)]
        }
        do {
            try await store.save(SignedConfiguration(config: config, signature: signature), as: .staged)
        } catch {
            return [Management.Result(reqid: reqid, success: false, error: "could not persist the configuration: \(error)")]
        }
        held.stage(config, ready: ready, signature: signature)
        logger.info("staged configuration \(config.id)", metadata: ["instances": "\(config.instances.count)", "nodes": "\(config.nodes.count)"])
        return [Management.Result(reqid: reqid, data: .string(config.id))]
    }

    /// The persisted staged configuration completed for deployment; nil, logged, if its ports
    /// cannot be assigned (it was staged under other settings): deploying it is refused.
    private func readyToDeploy(_ staged: Management.Configuration) -> Management.Configuration? {
        do throws(PortsExhausted) {
            return try settings.staging.prepared(staged, knownHosts: knownHosts)
        } catch {
            logger.warning("staged configuration \(staged.id) cannot be deployed: \(error)")
            return nil
        }
    }

    // MARK: Enrollment

    /// The hosts whose check-ins are dropped for want of a known key.
    func enrollments(reqid: String) -> Management.Result {
        guard let enrollment = settings.enrollment else {
            return Management.Result(reqid: reqid, success: false, error: "this controller runs unsigned: there is nothing to enroll")
        }
        return Management.Result(reqid: reqid, data: try? JSONValue(encoding: enrollment.pending.all))
    }

    /// Enrolls the pending host `instance`, if it checked in with `key` (when given), and
    /// remembers it in the state topic.
    func enroll(_ instance: String, key: String?, reqid: String) async -> Management.Result {
        guard let enrollment = settings.enrollment else {
            return Management.Result(reqid: reqid, success: false, error: "this controller runs unsigned: there is nothing to enroll")
        }
        if let known = enrollment.trust.keyring.all(.host).first(where: { $0.name == instance }), key == nil || key == known.key.line {
            return Management.Result(reqid: reqid, data: .string("\(instance) is enrolled"))
        }
        guard let key else {
            return Management.Result(reqid: reqid, success: false,
                                     error: "give the key host \(instance) should check in with (zeek-mgmt enroll \(instance) --host-key KEY), as the host printed it")
        }
        guard let pending = enrollment.pending.entry(instance) else {
            return Management.Result(reqid: reqid, success: false,
                                     error: "no host \(instance) is waiting to be enrolled: start its agent with its key, then see zeek-mgmt get-enrollments")
        }
        if key != pending.key {
            return Management.Result(reqid: reqid, success: false,
                                     error: "host \(instance) checks in with another key than the one given (\(pending.key)); check which host this is before enrolling it")
        }
        var hosts = held.enrolled
        hosts[instance] = pending.key
        do {
            try await store.saveEnrolled(hosts)
        } catch {
            return Management.Result(reqid: reqid, success: false, error: "could not persist the enrollment: \(error)")
        }
        held.keepEnrolled(hosts)
        trustEnrolledHosts()
        _ = enrollment.pending.remove(instance)
        logger.notice("enrolled host \(instance)", metadata: ["key": "\(pending.key)"])
        return Management.Result(reqid: reqid, data: .string("\(instance) is enrolled"))
    }

    /// Adds the hosts enrolled through the controller to the trust store its bus verifies with.
    private func trustEnrolledHosts() {
        guard let trust = settings.enrollment?.trust else { return }
        for (instance, line) in held.enrolled {
            do {
                try trust.add(Principal(kind: .host, name: instance, key: try VerifyingKey(text: line)))
            } catch {
                logger.error("not trusting enrolled host \(instance): \(error)")
            }
        }
    }

    func configuration(deployed wantsDeployed: Bool, reqid: String) -> Management.Result {
        guard let config = wantsDeployed ? deployed : staged else {
            return Management.Result(reqid: reqid, success: false, error: "no \(wantsDeployed ? "deployed" : "staged") configuration available")
        }
        return Management.Result(reqid: reqid, data: try? JSONValue(encoding: config))
    }

    func deploy(reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result] {
        guard var prepared = readyToDeploy else {
            return [Management.Result(reqid: reqid, success: false, error: "no configuration available to deploy")]
        }
        if let pendingDeploy {
            return [Management.Result(reqid: reqid, success: false, error: "earlier deployment \(pendingDeploy.reqid) still pending")]
        }
        pendingDeploy = (reqid, Set(prepared.instances.map(\.name)))
        defer {
            pendingDeploy = nil
            bringAgentsInLine()
        }
        // Addresses of agents that checked in since staging.
        prepared.instances = Set(prepared.instances.map { instance in
            var instance = instance
            if instance.host == .unspecified, let host = knownHosts[instance.name] { instance.host = host }
            return instance
        })
        let config = prepared
        if let refused = await check(config, reqid: reqid, deadline: deadline) { return refused }
        // Every agent of the configuration answered its check: that answer stands for the welcome.
        perform(roster.adopt(config.instances, answeredCheck: true, at: clock.now))
        let names = roster.names { $0.configured != nil }
        logger.info("deploying configuration \(config.id) to \(names.count) instances")

        var results: [Management.Result] = []
        if !names.isEmpty {
            if let missing = await agentsMissing(names, where: \.isReady, for: config, reqid: reqid, deadline: deadline) { return missing }
            // Every agent passed the check of this configuration and holds it: it is not sent again.
            var answers = await fanOut(to: names.sorted(), deadline: deadline) { AgentAPI.DeployCheckedRequest(reqid: $0, configID: config.id) }
            let notChecked = AgentAPI.DeployCheckedRequest.notChecked(config.id)
            let lost = answers.filter { $0.response?.results.contains { $0.error == notChecked } == true }.map(\.agent)
            if !lost.isEmpty {
                // Restarted since the check: sent the whole configuration, which they check first.
                logger.info("agents \(lost.joined(separator: ", ")) no longer hold configuration \(config.id); sending it whole")
                let signature = held.signature(of: config.id)
                let again = await fanOut(to: lost, deadline: deadline) { AgentAPI.DeployRequest(reqid: $0, config: config, configSignature: signature) }
                answers = answers.filter { !lost.contains($0.agent) } + again
            }
            // Only an agent whose every Result succeeded surely took the configuration on (one
            // whose check failed kept what it ran); the others are asked again afterwards.
            for answer in answers {
                roster.deployAnswered(by: answer.agent, configuration: config.id, tookItOn: answer.response?.results.allSatisfy(\.success) == true)
            }
            results = answers.flatMap { $0.results(reqid: reqid, \.results) }
            let silent = answers.filter { $0.failure != nil }.map(\.agent)
            guard silent.isEmpty else {
                logger.warning("deployment \(config.id) got no answer from \(silent.joined(separator: ", "))")
                return results
            }
        }
        do {
            try await store.save(SignedConfiguration(config: config, signature: held.signature(of: config.id)), as: .deployed)
        } catch {
            return results + [Management.Result(reqid: reqid, success: false, error: "deployed, but could not persist the configuration: \(error)")]
        }
        held.keepDeployed(config)
        logger.info("deployed configuration \(config.id)")
        let running = Set(results.filter { $0.success }.compactMap(\.node))
        announce(runState.deployed(config, running: running))
        return results + [Management.Result(reqid: reqid, data: .string(config.id))]
    }

    /// Asks every agent of `config` whether its nodes would start (Zeek parses their scripts)
    /// before any agent stops anything; nil when all would, else the deploy's failed results.
    /// A configuration that fails anywhere changes nothing anywhere.
    private func check(_ config: Management.Configuration, reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result]? {
        let names = Set(config.instances.map(\.name))
        guard !names.isEmpty else { return nil }
        if let missing = await agentsMissing(names, where: \.isCheckedIn, for: config, reqid: reqid, deadline: deadline) { return missing }
        let signature = held.signature(of: config.id)
        let answers = await fanOut(to: names.sorted(), deadline: deadline) { AgentAPI.CheckRequest(reqid: $0, config: config, configSignature: signature) }
        let results = answers.flatMap { $0.results(reqid: reqid, \.results) }
        let refused = results.filter { !$0.success }
        guard !refused.isEmpty else {
            guard let mixed = ClusterBackend.disagreement(in: results) else { return nil }
            logger.warning("configuration \(config.id) not deployed: \(mixed)")
            return [Management.Result(reqid: reqid, success: false, error: "configuration \(config.id) not deployed: \(mixed); the running cluster was left as it was")]
        }
        logger.warning("configuration \(config.id) not deployed: \(refused.count) problem(s) found by the agents' checks")
        return refused + [Management.Result(reqid: reqid, success: false,
                                            error: "configuration \(config.id) not deployed: it fails the check on \(Set(refused.compactMap(\.instance)).sorted().joined(separator: ", ")); the running cluster was left as it was")]
    }

    /// Waits until every agent of `names` is in the state `condition` describes (checked in,
    /// or ready); nil once they are, else at `deadline` a timed-out Result for each one missing.
    private func agentsMissing(_ names: Set<String>, where condition: @escaping @Sendable (AgentRecord) -> Bool, for config: Management.Configuration,
                               reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result]? {
        guard await !changes.wait(until: deadline, for: { names.isSubset(of: roster.names(where: condition)) }) else { return nil }
        let missing = names.subtracting(roster.names(where: condition)).sorted()
        logger.warning("deployment \(config.id) timed out: agents \(missing.joined(separator: ", ")) did not check in")
        return missing.map { Management.Result(reqid: reqid, success: false, instance: $0, error: RequestFailure.timedOut.description) }
    }

    func nodes(reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result] {
        await awaitAgentsAfterTakeover(\.isCheckedIn, deadline: deadline)
        let checkedIn = roster.names(where: \.isCheckedIn)
        guard !checkedIn.isEmpty else {
            return [Management.Result(reqid: reqid, success: false, error: "no instances connected")]
        }
        let answers = await fanOut(to: checkedIn.sorted(), deadline: deadline) { AgentAPI.GetNodesRequest(reqid: $0) }
        return answers.flatMap { $0.results(reqid: reqid) { [$0.result] } }
    }

    func idValue(_ id: String, nodes requested: Set<String>, reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result] {
        guard !roster.names(where: { $0.configured != nil }).isEmpty else {
            return [Management.Result(reqid: reqid, success: false, error: "no cluster deployed")]
        }
        let (valid, unknown) = partition(requested, reqid: reqid)
        if !requested.isEmpty && valid.isEmpty { return unknown }
        await awaitAgentsAfterTakeover(\.isReady, deadline: deadline)
        let answers = await fanOut(to: readyConfiguredAgents, deadline: deadline) {
            AgentAPI.NodeDispatchRequest(reqid: $0, action: ["get_id_value", id], nodes: valid)
        }
        return unknown + answers.flatMap { $0.results(reqid: reqid, \.results) }
    }

    func restart(_ requested: Set<String>, reqid: String, deadline: ContinuousClock.Instant) async -> [Management.Result] {
        guard !roster.names(where: \.isCheckedIn).isEmpty else {
            return [Management.Result(reqid: reqid, success: false, error: "no instances connected")]
        }
        guard deployed != nil else {
            return [Management.Result(reqid: reqid, success: false, error: "no active cluster deployment")]
        }
        let (valid, unknown) = partition(requested, reqid: reqid)
        if !requested.isEmpty && valid.isEmpty { return unknown }
        await awaitAgentsAfterTakeover(\.isReady, deadline: deadline)
        let answers = await fanOut(to: readyConfiguredAgents, deadline: deadline) { AgentAPI.RestartRequest(reqid: $0, nodes: requested) }
        return unknown + answers.flatMap { $0.results(reqid: reqid, \.results) }
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
        roster.names { $0.isReady && $0.configured != nil }.sorted()
    }

    // MARK: The cluster's state

    /// After taking over (or restarting), learns from the agents how the deployed nodes are,
    /// so `notify_cluster_running` keeps telling the truth across a failover: the cluster
    /// running in full is announced once, and again after every return to it.
    private func learnNodeStates() async {
        guard let deployed, !deployed.nodes.isEmpty else { return }
        runState.startLearning(deployed)
        defer {
            if self.deployed?.id == deployed.id, runState.finishLearning() { metricsTargetsChanged() }
        }
        let names = roster.names { $0.configured != nil }
        // A controller that just took over hears the agents' heartbeats within one interval.
        _ = await changes.wait(until: clock.now + settings.agentTimeout) { names.isSubset(of: self.roster.names(where: \.isCheckedIn)) }
        let results = await nodes(reqid: UUID().uuidString, deadline: clock.now + settings.requestTimeout)
        let statuses = results.compactMap { try? $0.data?.decode(as: [Management.NodeStatus].self) }.joined()
        guard self.deployed?.id == deployed.id else { return } // a deploy meanwhile knows better
        announce(runState.learned(statuses, of: deployed))
    }

    /// A node's state changed on its agent.
    func nodeChanged(_ node: String, to state: Management.State) {
        guard runState.states[node] != nil else { return }
        announce(runState.node(node, changedTo: state, in: deployed))
    }

    /// Publishes `notify_cluster_running` if the run state says it is due; the metrics targets
    /// follow the nodes' states either way.
    private func announce(_ running: ControllerAPI.NotifyClusterRunning?) {
        metricsTargetsChanged()
        guard let running else { return }
        logger.notice("every node of configuration \(running.configID) runs (\(running.nodes) nodes)")
        bus.enqueue(running, to: .controllerAPI.notify)
    }

    // MARK: Talking to agents

    /// One agent's answer to a fanned-out request, or why there is none.
    struct Answer<Response: Sendable>: Sendable {
        var agent: String
        var response: Response?
        var failure: RequestFailure?

        /// The answer's Results, or one failed Result naming the agent and what went wrong.
        func results(reqid: String, _ results: (Response) -> [Management.Result]) -> [Management.Result] {
            guard let response else {
                return [Management.Result(reqid: reqid, success: false, instance: agent, error: (failure ?? .timedOut).description)]
            }
            return results(response)
        }
    }

    /// Sends one request for all agents (a broadcast: its size and number of records do not
    /// grow with the number of agents) and collects the answers of `agents` in arrival order;
    /// agents that do not answer by `deadline` come last.
    func fanOut<Request: ManagementRequest>(
        to agents: [String], deadline: ContinuousClock.Instant, _ makeRequest: @escaping @Sendable (String) -> Request
    ) async -> [Answer<Request.Response>] {
        let answers = await requester.broadcast(makeRequest(UUID().uuidString), on: .agentAPI, to: Set(agents), replyTo: Self.answers, until: deadline)
        return answers.map { answer in
            switch answer.result {
            case .success(let response): Answer(agent: answer.responder, response: response)
            case .failure(let failure): Answer(agent: answer.responder, failure: failure)
            }
        }
    }
}
