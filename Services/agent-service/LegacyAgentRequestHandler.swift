#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementMessaging
import ManagementTypes

/// Serves the legacy `ClusterAgent::API` with the same agent, answering in that namespace's
/// event shapes (one legacy `Result` per request).
struct LegacyAgentRequestHandler {
    let agent: Agent
    let logger: Logger

    func handle(_ message: InboundMessage) async {
        let requester = message.head.sender
        let instance = agent.settings.instance
        do {
            switch message.event {
            case ClusterAgentAPI.SetConfigurationRequest.eventName:
                let request = try message.decode(ClusterAgentAPI.SetConfigurationRequest.self).event
                let results = await agent.deploy(Management.Configuration(legacy: request.config), reqid: request.reqid, force: false)
                let failures = results.filter { !$0.success }
                let errors = failures.map { result in [result.node, result.error].compactMap { $0 }.joined(separator: ": ") }
                let result = ClusterController.Types.Result(reqid: request.reqid, instance: instance, success: failures.isEmpty,
                                                            error: errors.joined(separator: "; "))
                respond(ClusterAgentAPI.SetConfigurationResponse(reqid: request.reqid, result: result), to: requester)
            case ClusterAgentAPI.GetNodesRequest.eventName:
                let request = try message.decode(ClusterAgentAPI.GetNodesRequest.self).event
                let modern = await agent.nodeStatuses(reqid: request.reqid)
                let statuses = (try? modern.data?.decode(as: [Management.NodeStatus].self)) ?? []
                let result = ClusterController.Types.Result(
                    reqid: request.reqid, instance: instance, success: modern.success,
                    data: try? JSONValue(encoding: statuses.map(ClusterController.Types.NodeStatus.init)), error: modern.error ?? ""
                )
                respond(ClusterAgentAPI.GetNodesResponse(reqid: request.reqid, result: result), to: requester)
            case ClusterAgentAPI.AgentWelcomeRequest.eventName:
                let request = try message.decode(ClusterAgentAPI.AgentWelcomeRequest.self).event
                respond(ClusterAgentAPI.AgentWelcomeResponse(reqid: request.reqid, result: .init(reqid: request.reqid, instance: instance)), to: requester)
            case ClusterAgentAPI.AgentStandbyRequest.eventName:
                let request = try message.decode(ClusterAgentAPI.AgentStandbyRequest.self).event
                _ = await agent.deploy(Management.Configuration(), reqid: "", force: true)
                respond(ClusterAgentAPI.AgentStandbyResponse(reqid: request.reqid, result: .init(reqid: request.reqid, instance: instance)), to: requester)
            default:
                logger.info("ignoring unknown request \(message.event) from \(requester)")
            }
        } catch {
            await agent.notifyError("invalid \(message.event) from \(requester): \(error)")
            guard let reqid = message.reqid else { return }
            let failure = ClusterController.Types.Result(reqid: reqid, instance: instance, success: false, error: "invalid \(message.event): \(error)")
            switch message.event {
            case ClusterAgentAPI.SetConfigurationRequest.eventName: respond(ClusterAgentAPI.SetConfigurationResponse(reqid: reqid, result: failure), to: requester)
            case ClusterAgentAPI.GetNodesRequest.eventName: respond(ClusterAgentAPI.GetNodesResponse(reqid: reqid, result: failure), to: requester)
            case ClusterAgentAPI.AgentWelcomeRequest.eventName: respond(ClusterAgentAPI.AgentWelcomeResponse(reqid: reqid, result: failure), to: requester)
            case ClusterAgentAPI.AgentStandbyRequest.eventName: respond(ClusterAgentAPI.AgentStandbyResponse(reqid: reqid, result: failure), to: requester)
            default: break
            }
        }
    }

    private func respond<Response: ManagementEvent>(_ response: Response, to requester: String) {
        agent.endpoint.enqueue(response, to: .legacyAgentAPI, target: requester)
    }
}
