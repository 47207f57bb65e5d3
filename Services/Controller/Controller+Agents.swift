#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterConfiguration
import ManagementMessaging
import ManagementTypes

/// The controller's side of the agents' lifecycle: check-ins, loss, welcome and standby,
/// as Zeek's controller handles Broker peerings.
extension Controller {
    var knownHosts: [String: IPAddress] {
        agents.compactMapValues { record in
            guard let host = record.checkIn?.instance.host, host != .unspecified else { return nil }
            return host
        }
    }

    func agentCheckedIn(_ hello: AgentAPI.NotifyAgentHello, publishedAt timestamp: Double) {
        let name = hello.instance
        guard hello.api_version == AgentAPI.NotifyAgentHello.apiVersion else {
            logger.warning("agent \(name) speaks API version \(hello.api_version), not \(AgentAPI.NotifyAgentHello.apiVersion); ignoring it")
            if agents[name]?.configured != nil { sendStandby(to: name) }
            agents[name] = nil
            return
        }
        guard clock.wallTime - timestamp < settings.agentTimeout.timeInterval else { return }
        guard agents[name] != nil || agents.count < settings.maximumAgents else {
            refuseCheckIn(of: name)
            return
        }
        var record = agents[name] ?? AgentRecord()
        let previous = record.checkIn
        record.checkIn = AgentRecord.CheckIn(
            instance: Management.Instance(name: name, host: hello.host ?? .unspecified,
                                          listenPort: hello.connecting ? nil : previous?.instance.listenPort),
            // Not later than now: a hello stamped in the future would keep its agent from ever being lost.
            id: hello.id, lastSeen: max(min(timestamp, clock.wallTime), previous?.lastSeen ?? 0)
        )
        if previous == nil {
            logger.info("agent \(name) checked in", metadata: ["host": "\(hello.host?.description ?? "-")"])
        } else if previous?.id != hello.id {
            logger.notice("agent \(name) restarted; welcoming it again")
            record.forgetConversation()
        }
        agents[name] = record
        // Its nodes' metrics endpoints are at the address it reports.
        if previous?.instance.host != record.checkIn?.instance.host { metricsTargetsChanged() }
        if record.configured != nil {
            if !record.isReady { welcome(name) }
        } else if deployed != nil || pendingDeploy != nil, record.state != .standby, pendingDeploy?.instances.contains(name) != true {
            // Not part of the cluster (an agent of the deploy under way is adopted by it).
            sendStandby(to: name)
        }
        changes.signal()
    }

    /// An agent of a new name checked in while ``Settings/maximumAgents`` are known: it is
    /// ignored, with a warning at most once a minute (a flood of names must not flood the log).
    func refuseCheckIn(of name: String) {
        refusedCheckIns.count += 1
        if let last = refusedCheckIns.lastWarning, clock.now - last < .seconds(60) { return }
        logger.warning("""
            ignoring the check-in of agent \(name) and \(refusedCheckIns.count - 1) other(s) refused since the last warning: \
            the controller knows \(settings.maximumAgents) agents, its maximum; agents of new names are let in as others are lost
            """)
        refusedCheckIns = (0, clock.now)
    }

    /// Marks agents silent for longer than the agent timeout as lost, and reports them.
    func sweepLostAgents() {
        let cutoff = clock.wallTime - settings.agentTimeout.timeInterval
        for (name, record) in agents {
            guard let checkIn = record.checkIn, checkIn.lastSeen < cutoff else { continue }
            if record.configured == nil {
                agents[name] = nil
            } else {
                agents[name]?.checkIn = nil
                agents[name]?.forgetConversation()
                announcedReady = false
            }
            let message = "agent \(name) lost: no check-in for \(settings.agentTimeout)"
            logger.warning("\(message)")
            bus.enqueue(AgentAPI.NotifyError(instance: name, msg: message), to: .controllerAPI.notify)
            changes.signal()
        }
    }

    private func welcome(_ name: String) {
        if case .welcoming(let since) = agents[name]?.state, clock.now - since < .seconds(2) { return }
        agents[name]?.state = .welcoming(since: clock.now)
        let request = AgentAPI.AgentWelcomeRequest(reqid: UUID().uuidString)
        let deadline = clock.now + settings.requestTimeout
        work.submit {
            guard let response = try? await self.requester.request(request, on: .agentAPI, target: name, replyTo: Self.answers, until: deadline) else { return }
            await self.welcomeAnswered(name, result: response.result)
        }
    }

    private func welcomeAnswered(_ name: String, result: Management.Result) {
        guard result.success, agents[name]?.configured != nil, agents[name]?.isCheckedIn == true else {
            sendStandby(to: name)
            return
        }
        agents[name]?.state = .ready
        logger.info("agent \(name) ready")
        changes.signal()
        bringAgentsInLine()
        announceReadinessIfComplete()
    }

    /// Sends the deployed configuration to every ready agent of it not known to run it: one
    /// that restarted (it adopts the nodes it still finds running), one that missed a deploy
    /// while it was down, one that took on a deploy that then failed elsewhere. Nothing is sent
    /// while a deploy is under way; called when an agent becomes ready, after every deploy and
    /// every second, so an agent that did not answer is asked again once its request timed out.
    func bringAgentsInLine() {
        guard pendingDeploy == nil, let deployed else { return }
        for (name, record) in agents where record.isReady && record.configured != nil && record.runs != deployed.id {
            if let since = record.syncingSince, clock.now - since < settings.requestTimeout { continue }
            agents[name]?.syncingSince = clock.now
            logger.info("sending agent \(name) the deployed configuration \(deployed.id)")
            let request = AgentAPI.DeployRequest(reqid: UUID().uuidString, config: deployed, configSignature: signatures[deployed.id])
            let deadline = clock.now + settings.requestTimeout
            work.submit {
                do throws(RequestFailure) {
                    let response = try await self.requester.request(request, on: .agentAPI, target: name, replyTo: Self.answers, until: deadline)
                    await self.agent(name, answered: deployed.id, failures: response.results.filter { !$0.success })
                } catch {
                    await self.agent(name, answered: nil, failures: [])
                    self.logger.warning("sending agent \(name) the deployed configuration \(deployed.id) failed: \(error)")
                }
            }
        }
    }

    /// An agent answered the deployed configuration `id` (nil: it did not answer). With every
    /// Result successful it runs it; otherwise (its check failed because its supervisor was
    /// away, a node did not start) it is sent again after `--request-timeout`: an agent that took
    /// the configuration on answers that at once, one that did not tries again.
    private func agent(_ name: String, answered id: String?, failures: [Management.Result]) {
        if failures.isEmpty, let id {
            agents[name]?.runs = id
            agents[name]?.syncingSince = nil
        } else if !failures.isEmpty {
            logger.warning("agent \(name) answered configuration \(id ?? "-") with failures; asking again in \(settings.requestTimeout): \(failures.map(\.description).joined(separator: "; "))")
        } else {
            agents[name]?.syncingSince = nil
        }
    }

    func announceReadinessIfComplete() {
        let names = agents.names { $0.configured != nil }
        guard !names.isEmpty, names.isSubset(of: agents.names(where: \.isReady)), !announcedReady else { return }
        announcedReady = true
        logger.info("agents ready: \(names.sorted().joined(separator: ", "))")
        bus.enqueue(ControllerAPI.NotifyAgentsReady(instances: names), to: .controllerAPI.notify)
    }

    /// Tells an agent it is not part of the cluster. No answer is awaited (reqid `""`, as
    /// Zeek's controller sends it), but like every request to agents it asks to be answered on
    /// ``answers``: else the agent's answer lands in the partition of `Management.Agent.API`
    /// that agents sharing the controller's partition read (contract 2.1).
    func sendStandby(to name: String) {
        agents[name]?.state = .standby
        logger.info("sending agent \(name) to standby")
        let (bus, logger) = (bus, logger)
        work.submit {
            do {
                try await bus.publish(AgentAPI.AgentStandbyRequest(reqid: ""), to: .agentAPI, target: name, replyTo: Self.answers)
            } catch {
                logger.warning("could not send agent \(name) to standby: \(error)")
            }
        }
    }

    /// Makes `config`'s instances the configured ones: agents no longer wanted go to standby,
    /// new ones (and those whose address changed) are welcomed. With `answeredCheck`, every
    /// checked-in agent of `config` has just answered its `check_request`, which tells the
    /// controller what a welcome would: they are ready without one more request each (a deploy
    /// to a thousand new agents would otherwise wait for a thousand welcomes).
    func adoptInstances(of config: Management.Configuration, answeredCheck: Bool = false) {
        let wanted = Dictionary(config.instances.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (name, record) in agents where record.configured != nil && wanted[name] == nil {
            agents[name]?.configured = nil
            sendStandby(to: name)
            if !record.isCheckedIn { agents[name] = nil }
        }
        for (name, instance) in wanted {
            var record = agents[name] ?? AgentRecord()
            if let current = record.configured, current.listenPort != instance.listenPort
                || (instance.host != .unspecified && instance.host != current.host) {
                record.state = .idle
            }
            if record.state == .standby { record.state = .idle }
            record.configured = instance
            if answeredCheck, record.isCheckedIn { record.state = .ready }
            agents[name] = record
            if record.isCheckedIn, !record.isReady { welcome(name) }
        }
        announcedReady = false
        announceReadinessIfComplete()
    }
}
