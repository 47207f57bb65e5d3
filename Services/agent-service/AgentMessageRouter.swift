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
    private let requests: RequestResponder
    private let legacyRequests: RequestResponder

    /// Requests older than this are skipped instead of replayed (the controller's own timeout).
    static let requestLifetime: Duration = .seconds(10)

    init(agent: Agent, metrics: AgentMetrics, logger: Logger) {
        self.agent = agent
        self.metrics = metrics
        self.logger = logger
        requests = .agentAPI(agent, metrics: metrics, logger: logger)
        legacyRequests = .legacyAgentAPI(agent)
    }

    func route(_ message: InboundMessage) async {
        let instance = agent.settings.instance
        switch message.topic {
        case .agentAPI where message.event.hasSuffix("_request"), .legacyAgentAPI where message.event.hasSuffix("_request"):
            guard !message.isExpired(timeout: Self.requestLifetime) else {
                logger.info("skipping expired \(message.event) from \(message.head.sender)")
                return
            }
            let responder = message.topic == .agentAPI ? requests : legacyRequests
            // In a task of its own: a deploy takes seconds, and nothing else should wait for it.
            Task { await answer(message, with: responder) }
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

extension AgentMessageRouter {
    /// Answers one request and reports what became of it.
    private func answer(_ message: InboundMessage, with responder: RequestResponder) async {
        let started = ContinuousClock.now
        let outcome = await responder.respond(to: message)
        if let problem = outcome.problem(with: message) {
            if case .malformed = outcome { await agent.notifyError(problem) } else { logger.info("\(problem)") }
        }
        metrics.requestHandled(event: message.event, outcome: outcome.label, duration: ContinuousClock.now - started)
    }
}

extension RequestResponder {
    /// The agent's `Management::Agent::API`, answering the controller.
    static func agentAPI(_ agent: Agent, metrics: AgentMetrics, logger: Logger) -> RequestResponder {
        let instance = agent.settings.instance
        var responder = RequestResponder(answeringOn: .agentAPI, through: agent.endpoint, instance: instance)
        responder.on(AgentAPI.DeployRequest.self) { request, _ in
            let started = ContinuousClock.now
            let results = await agent.deploy(request.config, reqid: request.reqid, force: request.force)
            metrics.deployed(duration: ContinuousClock.now - started)
            return .init(reqid: request.reqid, results: results)
        }
        responder.on(AgentAPI.CheckRequest.self) { request, _ in
            .init(reqid: request.reqid, results: await agent.check(request.config, reqid: request.reqid))
        }
        responder.on(AgentAPI.GetNodesRequest.self) { request, _ in
            .init(reqid: request.reqid, result: await agent.nodeStatuses(reqid: request.reqid))
        }
        responder.on(AgentAPI.NodeDispatchRequest.self) { request, _ in
            .init(reqid: request.reqid, results: await agent.dispatch(request.action, to: request.nodes, reqid: request.reqid))
        }
        responder.on(AgentAPI.RestartRequest.self) { request, _ in
            .init(reqid: request.reqid, results: await agent.restart(request.nodes, reqid: request.reqid))
        }
        responder.on(AgentAPI.AgentWelcomeRequest.self) { request, requester in
            logger.info("welcomed by \(requester)")
            return .init(reqid: request.reqid, result: Management.Result(reqid: request.reqid, instance: instance))
        }
        responder.on(AgentAPI.AgentStandbyRequest.self) { request, requester in
            logger.notice("put on standby by \(requester): stopping all nodes")
            _ = await agent.deploy(Management.Configuration(), reqid: "", force: true)
            return .init(reqid: request.reqid, result: Management.Result(reqid: request.reqid, instance: instance))
        }
        return responder
    }
}
