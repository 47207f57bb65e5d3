import Logging
import ManagementMessaging
import ManagementTypes

/// Sends each message the controller receives where it belongs: client requests to their own
/// tasks (answered when done), agent responses to the requests waiting for them, check-ins to
/// the controller's view of the agents.
struct ControllerMessageRouter {
    let controller: Controller
    let logger: Logger
    private let requests: RequestResponder
    private let legacyRequests: RequestResponder

    init(controller: Controller, logger: Logger) {
        self.controller = controller
        self.logger = logger
        requests = .controllerAPI(controller, logger: logger)
        legacyRequests = .legacyControllerAPI(controller)
    }

    func route(_ message: InboundMessage) async {
        await controller.prepare()
        switch message.topic {
        case .controllerAPI where message.event.hasSuffix("_request"), .legacyControllerAPI where message.event.hasSuffix("_request"):
            guard !isStale(message) else { return }
            let responder = message.topic == .controllerAPI ? requests : legacyRequests
            // In a task of its own: a deploy takes seconds, and other clients should not wait for it.
            Task { await answer(message, with: responder) }
        case .agentAPI where message.event.hasSuffix("_response"):
            if let reqid = message.reqid { await controller.agentResponded(message, reqid: reqid) }
        case .agentAPI.notify:
            await noteAgentNotification(message)
        default:
            break
        }
    }

    /// A request older than a client waits is not replayed (e.g. after a long failover).
    private func isStale(_ message: InboundMessage) -> Bool {
        guard message.isExpired(timeout: controller.settings.requestTimeout * 2) else { return false }
        logger.info("skipping expired \(message.event) from \(message.head.sender)")
        return true
    }

    private func noteAgentNotification(_ message: InboundMessage) async {
        switch message.event {
        case AgentAPI.NotifyAgentHello.eventName:
            do {
                let hello = try message.decode(AgentAPI.NotifyAgentHello.self)
                await controller.agentCheckedIn(hello.event, publishedAt: hello.timestamp)
            } catch {
                logger.warning("ignoring malformed check-in from \(message.head.sender): \(error)")
            }
        case AgentAPI.NotifyChange.eventName:
            if let change = try? message.decode(AgentAPI.NotifyChange.self).event {
                await controller.nodeChanged(change.n.name, to: change.new)
            }
        case AgentAPI.NotifyError.eventName:
            if let notice = try? message.decode(AgentAPI.NotifyError.self).event {
                logger.warning("agent \(notice.instance) reports: \(notice.msg)", metadata: notice.node.isEmpty ? [:] : ["node": "\(notice.node)"])
            }
        default:
            logger.trace("\(message.event) from \(message.head.sender)")
        }
    }
}

extension ControllerMessageRouter {
    /// Answers one request and logs what went wrong with it.
    private func answer(_ message: InboundMessage, with responder: RequestResponder) async {
        let outcome = await responder.respond(to: message)
        if let problem = outcome.problem(with: message) {
            if case .malformed = outcome { logger.warning("\(problem)") } else { logger.info("\(problem)") }
        }
    }
}

extension RequestResponder {
    /// The controller's `Management::Controller::API`, answering clients.
    static func controllerAPI(_ controller: Controller, logger: Logger) -> RequestResponder {
        var responder = RequestResponder(answeringOn: .controllerAPI, through: controller.endpoint)
        responder.on(ControllerAPI.GetInstancesRequest.self) { request, _ in
            .init(reqid: request.reqid, result: await controller.instances(reqid: request.reqid))
        }
        responder.on(ControllerAPI.StageConfigurationRequest.self) { request, _ in
            .init(reqid: request.reqid, results: await controller.stage(request.config, reqid: request.reqid))
        }
        responder.on(ControllerAPI.GetConfigurationRequest.self) { request, _ in
            .init(reqid: request.reqid, result: await controller.configuration(deployed: request.deployed, reqid: request.reqid))
        }
        responder.on(ControllerAPI.DeployRequest.self) { request, _ in
            .init(reqid: request.reqid, results: await controller.deploy(reqid: request.reqid))
        }
        responder.on(ControllerAPI.GetNodesRequest.self) { request, _ in
            .init(reqid: request.reqid, results: await controller.nodes(reqid: request.reqid))
        }
        responder.on(ControllerAPI.GetIDValueRequest.self) { request, _ in
            .init(reqid: request.reqid, results: await controller.idValue(request.id, nodes: request.nodes, reqid: request.reqid))
        }
        responder.on(ControllerAPI.RestartRequest.self) { request, _ in
            .init(reqid: request.reqid, results: await controller.restart(request.nodes, reqid: request.reqid))
        }
        responder.on(ControllerAPI.TestTimeoutRequest.self) { request, client in
            guard request.with_state else {
                logger.info("test_timeout \(request.reqid) from \(client) without state: not answering, as Zeek's controller does")
                return nil
            }
            try? await Task.sleep(for: controller.settings.requestTimeout)
            return .init(reqid: request.reqid, result: Management.Result(reqid: request.reqid, success: false, error: "request timed out"))
        }
        return responder
    }
}
