#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementMessaging
import ManagementTypes

/// Sends each message the agent receives where it belongs: controller requests to their own
/// tasks (answered when done), supervisor and node reports to the agent's state.
struct AgentMessageRouter {
    let agent: Agent
    let metrics: AgentMetrics
    let logger: Logger

    /// Requests older than this are skipped instead of replayed (the controller's own timeout).
    static let requestLifetime: Duration = .seconds(10)

    func route(_ message: InboundMessage) async {
        let instance = agent.settings.instance
        switch message.topic {
        case .agentAPI where message.event.hasSuffix("_request"):
            guard !message.isExpired(timeout: Self.requestLifetime) else {
                logger.info("skipping expired \(message.event) from \(message.head.sender)")
                return
            }
            let (agent, metrics, logger) = (agent, metrics, logger)
            Task { await AgentRequestHandler(agent: agent, metrics: metrics, logger: logger).handle(message) }
        case .legacyAgentAPI where message.event.hasSuffix("_request"):
            guard !message.isExpired(timeout: Self.requestLifetime) else { return }
            let (agent, logger) = (agent, logger)
            Task { await LegacyAgentRequestHandler(agent: agent, logger: logger).handle(message) }
        case .supervisorAPI where message.event.hasSuffix("_response"):
            if let reqid = message.reqid { await agent.supervisorAnswered(message, reqid: reqid) }
        case .supervisorAPI.notify where message.head.sender == instance:
            if let status = try? message.decode(SupervisorNotification.NodeStatus.self) {
                await agent.nodeStarted(status.event.node, pid: status.event.pid)
            } else if let exit = try? message.decode(SupervisorNotification.NodeExit.self) {
                await agent.nodeExited(exit.event.node, pid: exit.event.pid, outputs: exit.event.outputs)
                metrics.nodeExited()
            }
        case .nodeAPI:
            if let response = try? message.decode(NodeAPI.DispatchResponse.self) {
                await agent.dispatchAnswered(response.event.reqid, result: response.event.result)
            }
        case .nodeAPI.notify:
            if let hello = try? message.decode(NodeAPI.NodeHello.self) {
                await agent.nodeSaidHello(hello.event.node, pid: hello.event.pid)
            }
        default:
            break
        }
    }
}

/// Answers one controller request; every request gets exactly one response, also when its
/// arguments do not decode (if it has a reqid).
struct AgentRequestHandler {
    let agent: Agent
    let metrics: AgentMetrics
    let logger: Logger

    func handle(_ message: InboundMessage) async {
        let started = ContinuousClock.now
        let requester = message.head.sender
        var outcome = "success"
        defer { metrics.requestHandled(event: message.event, outcome: outcome, duration: ContinuousClock.now - started) }
        let instance = agent.settings.instance
        do {
            switch message.event {
            case AgentAPI.DeployRequest.eventName:
                let request = try message.decode(AgentAPI.DeployRequest.self).event
                let results = await agent.deploy(request.config, reqid: request.reqid, force: request.force)
                if results.contains(where: { !$0.success }) { outcome = "failure" }
                metrics.deployed(duration: ContinuousClock.now - started)
                respond(AgentAPI.DeployResponse(reqid: request.reqid, results: results), to: requester)
            case AgentAPI.GetNodesRequest.eventName:
                let request = try message.decode(AgentAPI.GetNodesRequest.self).event
                let result = await agent.nodeStatuses(reqid: request.reqid)
                if !result.success { outcome = "failure" }
                respond(AgentAPI.GetNodesResponse(reqid: request.reqid, result: result), to: requester)
            case AgentAPI.NodeDispatchRequest.eventName:
                let request = try message.decode(AgentAPI.NodeDispatchRequest.self).event
                let results = await agent.dispatch(request.action, to: request.nodes, reqid: request.reqid)
                respond(AgentAPI.NodeDispatchResponse(reqid: request.reqid, results: results), to: requester)
            case AgentAPI.RestartRequest.eventName:
                let request = try message.decode(AgentAPI.RestartRequest.self).event
                let results = await agent.restart(request.nodes, reqid: request.reqid)
                if results.contains(where: { !$0.success }) { outcome = "failure" }
                respond(AgentAPI.RestartResponse(reqid: request.reqid, results: results), to: requester)
            case AgentAPI.AgentWelcomeRequest.eventName:
                let request = try message.decode(AgentAPI.AgentWelcomeRequest.self).event
                logger.info("welcomed by \(requester)")
                respond(AgentAPI.AgentWelcomeResponse(reqid: request.reqid, result: Management.Result(reqid: request.reqid, instance: instance)), to: requester)
            case AgentAPI.AgentStandbyRequest.eventName:
                let request = try message.decode(AgentAPI.AgentStandbyRequest.self).event
                logger.notice("put on standby by \(requester): stopping all nodes")
                _ = await agent.deploy(Management.Configuration(), reqid: "", force: true)
                respond(AgentAPI.AgentStandbyResponse(reqid: request.reqid, result: Management.Result(reqid: request.reqid, instance: instance)), to: requester)
            default:
                outcome = "unknown"
                logger.info("ignoring unknown request \(message.event) from \(requester)")
            }
        } catch {
            outcome = "malformed"
            await respondToMalformed(message, error: error, requester: requester)
        }
    }

    private func respondToMalformed(_ message: InboundMessage, error: WireDecodingError, requester: String) async {
        let instance = agent.settings.instance
        guard let reqid = message.reqid else {
            await agent.notifyError("dropped \(message.event) from \(requester) without a usable reqid: \(error)")
            return
        }
        let failure = Management.Result(reqid: reqid, success: false, instance: instance, error: "invalid \(message.event): \(error)")
        await agent.notifyError("invalid \(message.event) from \(requester): \(error)")
        switch message.event {
        case AgentAPI.DeployRequest.eventName: respond(AgentAPI.DeployResponse(reqid: reqid, results: [failure]), to: requester)
        case AgentAPI.GetNodesRequest.eventName: respond(AgentAPI.GetNodesResponse(reqid: reqid, result: failure), to: requester)
        case AgentAPI.NodeDispatchRequest.eventName: respond(AgentAPI.NodeDispatchResponse(reqid: reqid, results: [failure]), to: requester)
        case AgentAPI.RestartRequest.eventName: respond(AgentAPI.RestartResponse(reqid: reqid, results: [failure]), to: requester)
        case AgentAPI.AgentWelcomeRequest.eventName: respond(AgentAPI.AgentWelcomeResponse(reqid: reqid, result: failure), to: requester)
        case AgentAPI.AgentStandbyRequest.eventName: respond(AgentAPI.AgentStandbyResponse(reqid: reqid, result: failure), to: requester)
        default: break
        }
    }

    private func respond<Response: ManagementEvent>(_ response: Response, to requester: String) {
        agent.endpoint.enqueue(response, to: .agentAPI, target: requester)
    }
}
