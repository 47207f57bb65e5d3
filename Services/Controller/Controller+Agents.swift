#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ClusterConfiguration
import ManagementMessaging
import ManagementTypes

/// The controller's side of the agents' lifecycle: the I/O that the ``AgentRoster``'s
/// transitions ask for (welcomes, standbys, notifications), as Zeek's controller handles
/// Broker peerings.
extension Controller {
    var knownHosts: [String: IPAddress] { roster.knownHosts }

    /// Now, as the roster's events carry it.
    var moment: AgentRoster.Moment { AgentRoster.Moment(instant: clock.now, wallTime: clock.wallTime) }

    /// What a check-in arriving now meets.
    var clusterForCheckIns: AgentRoster.Cluster {
        AgentRoster.Cluster(deployed: deployed != nil, deploying: pendingDeploy?.instances)
    }

    /// Carries out, in order, what a change of the roster asks for, and wakes the requests
    /// waiting for the agents to be in some state. Nothing to do means nothing they wait for
    /// changed (a routine heartbeat, a check-in kept while standing by, a sweep that lost
    /// nobody): a thousand agents' heartbeats do not wake every waiter.
    func perform(_ actions: [AgentRoster.Action]) {
        guard !actions.isEmpty else { return }
        for action in actions {
            switch action {
            case .welcome(let name):
                sendWelcome(to: name)
            case .sendStandby(let name):
                sendStandby(to: name)
            case .reportLost(let name, let message):
                logger.warning("\(message)")
                bus.enqueue(AgentAPI.NotifyError(instance: name, msg: message), to: .controllerAPI.notify)
            case .announceReady(let names):
                logger.info("agents ready: \(names.sorted().joined(separator: ", "))")
                bus.enqueue(ControllerAPI.NotifyAgentsReady(instances: names), to: .controllerAPI.notify)
            case .addressChanged:
                metricsTargetsChanged()
            case .bringInLine:
                bringAgentsInLine()
            case .log(let level, let message):
                logger.log(level: level, "\(message)")
            }
        }
        changes.signal()
    }

    /// Marks agents silent for longer than the agent timeout as lost, and reports them.
    func sweepLostAgents() {
        perform(roster.sweepLost(at: moment))
    }

    private func sendWelcome(to name: String) {
        let request = AgentAPI.AgentWelcomeRequest(reqid: UUID().uuidString)
        let deadline = clock.now + settings.requestTimeout
        work.submit {
            guard let response = try? await self.requester.request(request, on: .agentAPI, target: name, replyTo: Self.answers, until: deadline) else { return }
            await self.welcomeAnswered(by: name, success: response.result.success)
        }
    }

    private func welcomeAnswered(by name: String, success: Bool) {
        perform(roster.welcomeAnswered(by: name, success: success))
    }

    /// Sends the deployed configuration to every ready agent of it not known to run it: one
    /// that restarted (it adopts the nodes it still finds running), one that missed a deploy
    /// while it was down, one that took on a deploy that then failed elsewhere. Nothing is sent
    /// while a deploy is under way; called when an agent becomes ready, after every deploy and
    /// every second, so an agent that did not answer is asked again once its request timed out.
    func bringAgentsInLine() {
        guard pendingDeploy == nil, let deployed else { return }
        for name in roster.agentsToBringInLine(with: deployed.id, retryAfter: settings.requestTimeout, at: clock.now) {
            logger.info("sending agent \(name) the deployed configuration \(deployed.id)")
            let request = AgentAPI.DeployRequest(reqid: UUID().uuidString, config: deployed, configSignature: held.signature(of: deployed.id))
            let deadline = clock.now + settings.requestTimeout
            work.submit {
                do throws(RequestFailure) {
                    let response = try await self.requester.request(request, on: .agentAPI, target: name, replyTo: Self.answers, until: deadline)
                    await self.broughtInLine(name, answered: deployed.id, failures: response.results.filter { !$0.success })
                } catch {
                    await self.broughtInLine(name, answered: nil, failures: [])
                    self.logger.warning("sending agent \(name) the deployed configuration \(deployed.id) failed: \(error)")
                }
            }
        }
    }

    private func broughtInLine(_ name: String, answered id: String?, failures: [Management.Result]) {
        if !failures.isEmpty {
            logger.warning("agent \(name) answered configuration \(id ?? "-") with failures; asking again in \(settings.requestTimeout): \(failures.map(\.description).joined(separator: "; "))")
        }
        roster.broughtInLine(name, answered: id, failed: !failures.isEmpty)
    }

    /// Tells an agent it is not part of the cluster. No answer is awaited (reqid `""`, as
    /// Zeek's controller sends it), but like every request to agents it asks to be answered on
    /// ``answers``: else the agent's answer lands in the partition of `Management.Agent.API`
    /// that agents sharing the controller's partition read (contract 2.1).
    private func sendStandby(to name: String) {
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
}
