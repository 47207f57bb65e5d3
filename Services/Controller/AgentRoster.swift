#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementMessaging
import ManagementTypes

/// The controller's agents as a pure state machine: their check-ins, losses, welcomes and
/// standbys, and which configuration each runs, as Zeek's controller tracks its agents'
/// Broker peerings.
///
/// Each event changes the records and returns what the controller has to do about it: ask an
/// agent something, tell the world, write a log line. The ``Controller`` actor does that I/O
/// (``Controller/perform(_:)``). The roster reads no clock and sends nothing; the time of an
/// event comes with it. So every transition is testable on its own, and the agents' state,
/// which the controller's requests read and change across their awaits, changes in one place.
struct AgentRoster: Sendable {
    /// What the controller does about a change of the roster, in order.
    enum Action: Sendable, Hashable {
        /// Ask the agent to take part in the cluster (`agent_welcome_request`); its answer is
        /// ``welcomeAnswered(by:success:)``.
        case welcome(String)
        /// Tell the agent it is not part of the cluster (`agent_standby_request`).
        case sendStandby(String)
        /// The agent was silent for the agent timeout: log `message` and publish it as the
        /// agent's `notify_error`.
        case reportLost(String, message: String)
        /// Every configured agent is ready: publish `notify_agents_ready` for them.
        case announceReady(Set<String>)
        /// An agent reported another address: the nodes' metrics endpoints moved with it.
        case addressChanged
        /// An agent became ready: send the deployed configuration to the ready agents not
        /// known to run it (``agentsToBringInLine(with:retryAfter:at:)``).
        case bringInLine
        /// A line for the controller's log.
        case log(Logger.Level, String)
    }

    /// When an event happens, by both clocks: check-ins carry wall-clock publish times.
    struct Moment: Sendable {
        var instant: ContinuousClock.Instant
        /// Seconds since 1970.
        var wallTime: Double
    }

    /// What the controller's cluster is as a check-in arrives: an agent no configuration
    /// names is sent to standby once something is deployed or a deploy is under way, unless
    /// that deploy names it (the deploy adopts it).
    struct Cluster: Sendable {
        var deployed: Bool
        /// The instances of the deploy under way; nil when none is.
        var deploying: Set<String>?
    }

    /// How long an unanswered welcome keeps a check-in from sending another.
    static let welcomeRetry = Duration.seconds(2)
    /// How often, at most, refused check-ins are warned about.
    static let refusalWarningInterval = Duration.seconds(60)

    /// Every agent checked in or configured.
    private(set) var records: [String: AgentRecord] = [:]
    /// The most agents it keeps a record of (``Controller/Settings/maximumAgents``).
    let maximumAgents: Int
    /// An agent silent for this long is lost, and a check-in published this long ago is stale.
    let agentTimeout: Duration
    /// The latest check-in of every agent heard while not acting on them (standing by, taking
    /// over), with its publish time: a controller that takes over knows the fleet at once
    /// instead of after a heartbeat.
    private var heardWhileStandingBy: [String: (hello: AgentAPI.NotifyAgentHello, publishedAt: Double)] = [:]
    /// Check-ins refused for ``maximumAgents`` since the last warning about them, and when
    /// that was: a flood of names must not flood the log.
    private var refusedCheckIns = (count: 0, lastWarning: ContinuousClock.Instant?.none)
    /// Whether `notify_agents_ready` was published for the configured agents as they are.
    private var announcedReady = false

    init(maximumAgents: Int, agentTimeout: Duration) {
        self.maximumAgents = maximumAgents
        self.agentTimeout = agentTimeout
    }

    // MARK: What it knows

    /// The names of the agents for which `condition` holds.
    func names(where condition: (AgentRecord) -> Bool) -> Set<String> {
        Set(records.compactMap { condition($0.value) ? $0.key : nil })
    }

    /// The checked-in agents as `get_instances` shows them, by name.
    var checkedInInstances: [Management.Instance] {
        records.values.compactMap(\.checkIn?.instance).sorted()
    }

    /// The addresses the agents reported, by name (none for an agent that reported none).
    var knownHosts: [String: IPAddress] {
        records.compactMapValues { record in
            guard let host = record.checkIn?.instance.host, host != .unspecified else { return nil }
            return host
        }
    }

    // MARK: Check-ins

    /// An agent's check-in (`notify_agent_hello`, published at `timestamp`). Acted on while
    /// `acting` (the controller is active with its configurations restored); otherwise kept,
    /// and taken up by ``takeUpCheckInsHeard(cluster:at:)``.
    mutating func heard(_ hello: AgentAPI.NotifyAgentHello, publishedAt timestamp: Double, acting: Bool, cluster: Cluster, at now: Moment) -> [Action] {
        guard acting else {
            guard heardWhileStandingBy[hello.instance] != nil || heardWhileStandingBy.count < maximumAgents else {
                return refuseCheckIn(of: hello.instance, at: now.instant)
            }
            heardWhileStandingBy[hello.instance] = (hello, timestamp)
            return []
        }
        return checkedIn(hello, publishedAt: timestamp, cluster: cluster, at: now)
    }

    /// The check-ins kept while not acting on them, acted on now (those still recent enough).
    mutating func takeUpCheckInsHeard(cluster: Cluster, at now: Moment) -> [Action] {
        let heard = heardWhileStandingBy.values.sorted { $0.hello.instance < $1.hello.instance }
        heardWhileStandingBy = [:]
        var actions: [Action] = []
        for (hello, publishedAt) in heard {
            actions += checkedIn(hello, publishedAt: publishedAt, cluster: cluster, at: now)
        }
        return actions
    }

    private mutating func checkedIn(_ hello: AgentAPI.NotifyAgentHello, publishedAt timestamp: Double, cluster: Cluster, at now: Moment) -> [Action] {
        let name = hello.instance
        guard hello.api_version == AgentAPI.NotifyAgentHello.apiVersion else {
            var actions: [Action] = [.log(.warning, "agent \(name) speaks API version \(hello.api_version), not \(AgentAPI.NotifyAgentHello.apiVersion); ignoring it")]
            if records[name]?.configured != nil { actions += sendStandby(name) }
            records[name] = nil
            return actions
        }
        guard now.wallTime - timestamp < agentTimeout.timeInterval else { return [] }
        guard records[name] != nil || records.count < maximumAgents else { return refuseCheckIn(of: name, at: now.instant) }
        var record = records[name] ?? AgentRecord()
        let previous = record.checkIn
        record.checkIn = AgentRecord.CheckIn(
            instance: Management.Instance(name: name, host: hello.host ?? .unspecified,
                                          listenPort: hello.connecting ? nil : previous?.instance.listenPort),
            // Not later than now: a hello stamped in the future would keep its agent from ever being lost.
            id: hello.id, lastSeen: max(min(timestamp, now.wallTime), previous?.lastSeen ?? 0)
        )
        var actions: [Action] = []
        if previous == nil {
            actions.append(.log(.info, "agent \(name) checked in from \(hello.host?.description ?? "an address it did not report")"))
        } else if previous?.id != hello.id {
            actions.append(.log(.notice, "agent \(name) restarted; welcoming it again"))
            record.forgetConversation()
        }
        records[name] = record
        if previous?.instance.host != record.checkIn?.instance.host { actions.append(.addressChanged) }
        if record.configured != nil {
            if !record.isReady { actions += welcome(name, at: now.instant) }
        } else if cluster.deployed || cluster.deploying != nil, record.state != .standby, cluster.deploying?.contains(name) != true {
            // Not part of the cluster (an agent of the deploy under way is adopted by it).
            actions += sendStandby(name)
        }
        return actions
    }

    /// An agent of a new name checked in while ``maximumAgents`` are known: it is ignored,
    /// with a warning at most once a minute.
    private mutating func refuseCheckIn(of name: String, at now: ContinuousClock.Instant) -> [Action] {
        refusedCheckIns.count += 1
        if let last = refusedCheckIns.lastWarning, now - last < Self.refusalWarningInterval { return [] }
        defer { refusedCheckIns = (0, now) }
        return [.log(.warning, """
            ignoring the check-in of agent \(name) and \(refusedCheckIns.count - 1) other(s) refused since the last warning: \
            the controller knows \(maximumAgents) agents, its maximum; agents of new names are let in as others are lost
            """)]
    }

    /// Agents silent for longer than the agent timeout are lost: a configured one keeps its
    /// record without its check-in, any other is forgotten.
    mutating func sweepLost(at now: Moment) -> [Action] {
        let cutoff = now.wallTime - agentTimeout.timeInterval
        var actions: [Action] = []
        for (name, record) in records {
            guard let checkIn = record.checkIn, checkIn.lastSeen < cutoff else { continue }
            if record.configured == nil {
                records[name] = nil
            } else {
                records[name]?.checkIn = nil
                records[name]?.forgetConversation()
                announcedReady = false
            }
            actions.append(.reportLost(name, message: "agent \(name) lost: no check-in for \(agentTimeout)"))
        }
        return actions
    }

    // MARK: Welcome and standby

    private mutating func welcome(_ name: String, at now: ContinuousClock.Instant) -> [Action] {
        if case .welcoming(let since) = records[name]?.state, now - since < Self.welcomeRetry { return [] }
        records[name]?.state = .welcoming(since: now)
        return [.welcome(name)]
    }

    /// An agent answered its welcome: it is ready if it still is configured and checked in,
    /// and is sent to standby if not, or if it refused.
    mutating func welcomeAnswered(by name: String, success: Bool) -> [Action] {
        guard success, records[name]?.configured != nil, records[name]?.isCheckedIn == true else { return sendStandby(name) }
        records[name]?.state = .ready
        return [.log(.info, "agent \(name) ready"), .bringInLine] + announceReadinessIfComplete()
    }

    private mutating func sendStandby(_ name: String) -> [Action] {
        records[name]?.state = .standby
        return [.sendStandby(name)]
    }

    private mutating func announceReadinessIfComplete() -> [Action] {
        let names = names { $0.configured != nil }
        guard !names.isEmpty, names.isSubset(of: self.names(where: \.isReady)), !announcedReady else { return [] }
        announcedReady = true
        return [.announceReady(names)]
    }

    // MARK: Configurations

    /// The instances of the deployed configuration, as it is restored on becoming active.
    mutating func restore(configured instances: some Sequence<Management.Instance>) {
        for instance in instances { records[instance.name, default: AgentRecord()].configured = instance }
    }

    /// Makes `instances` the configured ones: agents no longer wanted go to standby, new ones
    /// (and those whose address changed) are welcomed. With `answeredCheck`, every checked-in
    /// agent of them has just answered its `check_request`, which tells the controller what a
    /// welcome would: they are ready without one more request each (a deploy to a thousand new
    /// agents would otherwise wait for a thousand welcomes).
    mutating func adopt(_ instances: some Sequence<Management.Instance>, answeredCheck: Bool, at now: ContinuousClock.Instant) -> [Action] {
        let wanted = Dictionary(instances.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        var actions: [Action] = []
        for (name, record) in records where record.configured != nil && wanted[name] == nil {
            records[name]?.configured = nil
            actions += sendStandby(name)
            if !record.isCheckedIn { records[name] = nil }
        }
        for (name, instance) in wanted.sorted(by: { $0.key < $1.key }) {
            var record = records[name] ?? AgentRecord()
            if let current = record.configured, current.listenPort != instance.listenPort
                || (instance.host != .unspecified && instance.host != current.host) {
                record.state = .idle
            }
            if record.state == .standby { record.state = .idle }
            record.configured = instance
            if answeredCheck, record.isCheckedIn { record.state = .ready }
            records[name] = record
            if record.isCheckedIn, !record.isReady { actions += welcome(name, at: now) }
        }
        announcedReady = false
        return actions + announceReadinessIfComplete()
    }

    /// The agent answered a deploy of configuration `id`: it runs it if `tookItOn` (every
    /// Result succeeded); otherwise it is not known to run anything, and is asked again.
    mutating func deployAnswered(by name: String, configuration id: String, tookItOn: Bool) {
        records[name]?.runs = tookItOn ? id : nil
    }

    /// The ready, configured agents not known to run configuration `id` and not sent it within
    /// `retryAfter`, each marked as being sent it now; by name. Asked every second: only the
    /// few chosen are sorted, not the whole fleet.
    mutating func agentsToBringInLine(with id: String, retryAfter: Duration, at now: ContinuousClock.Instant) -> [String] {
        var names: [String] = []
        for (name, record) in records where record.isReady && record.configured != nil && record.runs != id {
            if let since = record.syncingSince, now - since < retryAfter { continue }
            records[name]?.syncingSince = now
            names.append(name)
        }
        return names.sorted()
    }

    /// An agent brought in line answered configuration `id` (nil: it did not answer). With
    /// every Result successful it runs it; with failures (its check failed because its
    /// supervisor was away, a node did not start) it is sent again once `retryAfter` passed:
    /// an agent that took the configuration on answers that at once, one that did not tries
    /// again. One that did not answer is sent it again at once.
    mutating func broughtInLine(_ name: String, answered id: String?, failed: Bool) {
        if !failed, let id {
            records[name]?.runs = id
            records[name]?.syncingSince = nil
        } else if !failed {
            records[name]?.syncingSince = nil
        }
    }

    /// Another controller took over: everything it knew of the agents is now that one's.
    /// Check-ins heard meanwhile are kept, for the next takeover.
    mutating func standBy() {
        records = [:]
        announcedReady = false
    }
}
