import Logging
import ManagementMessaging
import ManagementTypes

/// Sends each message the controller receives where it belongs: client requests to their own
/// tasks (answered when done), agent responses to the requests waiting for them, check-ins to
/// the controller's view of the agents.
struct ControllerMessageRouter {
    let controller: Controller
    let logger: Logger

    func route(_ message: InboundMessage) async {
        await controller.prepare()
        switch message.topic {
        case .controllerAPI where message.event.hasSuffix("_request"):
            guard !isStale(message) else { return }
            let (controller, logger) = (controller, logger)
            Task { await ControllerRequestHandler(controller: controller, logger: logger).handle(message) }
        case .legacyControllerAPI where message.event.hasSuffix("_request"):
            guard !isStale(message) else { return }
            let (controller, logger) = (controller, logger)
            Task { await LegacyControllerRequestHandler(controller: controller, logger: logger).handle(message) }
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
        case AgentAPI.NotifyError.eventName:
            if let notice = try? message.decode(AgentAPI.NotifyError.self).event {
                logger.warning("agent \(notice.instance) reports: \(notice.msg)", metadata: notice.node.isEmpty ? [:] : ["node": "\(notice.node)"])
            }
        default:
            logger.trace("\(message.event) from \(message.head.sender)")
        }
    }
}

/// Answers one client request on `Management.Controller.API`; every request gets exactly one
/// response, also when its arguments do not decode (if it has a reqid).
struct ControllerRequestHandler {
    let controller: Controller
    let logger: Logger

    func handle(_ message: InboundMessage) async {
        let client = message.head.sender
        do {
            switch message.event {
            case ControllerAPI.GetInstancesRequest.eventName:
                let request = try message.decode(ControllerAPI.GetInstancesRequest.self).event
                respond(ControllerAPI.GetInstancesResponse(reqid: request.reqid, result: await controller.instances(reqid: request.reqid)), to: client)
            case ControllerAPI.StageConfigurationRequest.eventName:
                let request = try message.decode(ControllerAPI.StageConfigurationRequest.self).event
                let results = await controller.stage(request.config, reqid: request.reqid)
                respond(ControllerAPI.StageConfigurationResponse(reqid: request.reqid, results: results), to: client)
            case ControllerAPI.GetConfigurationRequest.eventName:
                let request = try message.decode(ControllerAPI.GetConfigurationRequest.self).event
                let result = await controller.configuration(deployed: request.deployed, reqid: request.reqid)
                respond(ControllerAPI.GetConfigurationResponse(reqid: request.reqid, result: result), to: client)
            case ControllerAPI.DeployRequest.eventName:
                let request = try message.decode(ControllerAPI.DeployRequest.self).event
                respond(ControllerAPI.DeployResponse(reqid: request.reqid, results: await controller.deploy(reqid: request.reqid)), to: client)
            case ControllerAPI.GetNodesRequest.eventName:
                let request = try message.decode(ControllerAPI.GetNodesRequest.self).event
                respond(ControllerAPI.GetNodesResponse(reqid: request.reqid, results: await controller.nodes(reqid: request.reqid)), to: client)
            case ControllerAPI.GetIDValueRequest.eventName:
                let request = try message.decode(ControllerAPI.GetIDValueRequest.self).event
                let results = await controller.idValue(request.id, nodes: request.nodes, reqid: request.reqid)
                respond(ControllerAPI.GetIDValueResponse(reqid: request.reqid, results: results), to: client)
            case ControllerAPI.RestartRequest.eventName:
                let request = try message.decode(ControllerAPI.RestartRequest.self).event
                let results = await controller.restart(request.nodes, reqid: request.reqid)
                respond(ControllerAPI.RestartResponse(reqid: request.reqid, results: results), to: client)
            case ControllerAPI.TestTimeoutRequest.eventName:
                let request = try message.decode(ControllerAPI.TestTimeoutRequest.self).event
                guard request.with_state else {
                    logger.info("test_timeout \(request.reqid) from \(client) without state: not answering, as Zeek's controller does")
                    return
                }
                try? await Task.sleep(for: controller.settings.requestTimeout)
                let result = Management.Result(reqid: request.reqid, success: false, error: "request timed out")
                respond(ControllerAPI.TestTimeoutResponse(reqid: request.reqid, result: result), to: client)
            default:
                logger.info("ignoring unknown request \(message.event) from \(client)")
            }
        } catch {
            respondToMalformed(message, error: error, client: client)
        }
    }

    private func respondToMalformed(_ message: InboundMessage, error: WireDecodingError, client: String) {
        guard let reqid = message.reqid else {
            logger.warning("dropped \(message.event) from \(client) without a usable reqid: \(error)")
            return
        }
        logger.warning("invalid \(message.event) from \(client): \(error)")
        let failure = Management.Result(reqid: reqid, success: false, error: "invalid \(message.event): \(error)")
        switch message.event {
        case ControllerAPI.GetInstancesRequest.eventName: respond(ControllerAPI.GetInstancesResponse(reqid: reqid, result: failure), to: client)
        case ControllerAPI.StageConfigurationRequest.eventName: respond(ControllerAPI.StageConfigurationResponse(reqid: reqid, results: [failure]), to: client)
        case ControllerAPI.GetConfigurationRequest.eventName: respond(ControllerAPI.GetConfigurationResponse(reqid: reqid, result: failure), to: client)
        case ControllerAPI.DeployRequest.eventName: respond(ControllerAPI.DeployResponse(reqid: reqid, results: [failure]), to: client)
        case ControllerAPI.GetNodesRequest.eventName: respond(ControllerAPI.GetNodesResponse(reqid: reqid, results: [failure]), to: client)
        case ControllerAPI.GetIDValueRequest.eventName: respond(ControllerAPI.GetIDValueResponse(reqid: reqid, results: [failure]), to: client)
        case ControllerAPI.RestartRequest.eventName: respond(ControllerAPI.RestartResponse(reqid: reqid, results: [failure]), to: client)
        case ControllerAPI.TestTimeoutRequest.eventName: respond(ControllerAPI.TestTimeoutResponse(reqid: reqid, result: failure), to: client)
        default: break
        }
    }

    private func respond<Response: ManagementEvent>(_ response: Response, to client: String) {
        controller.endpoint.enqueue(response, to: .controllerAPI, target: client)
    }
}
