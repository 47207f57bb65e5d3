import ManagementMessaging
import ManagementTypes

extension RequestResponder {
    /// The legacy `ClusterAgent::API`, served by the same agent and answered in that namespace's
    /// event shapes (one legacy `Result` per request).
    static func legacyAgentAPI(_ agent: Agent) -> RequestResponder {
        let instance = agent.settings.instance
        var responder = RequestResponder(through: agent.bus, lifetime: agent.settings.requestTimeout, instance: instance)
        responder.on(ClusterAgentAPI.SetConfigurationRequest.self) { request, _ in
            let results = await agent.deploy(Management.Configuration(legacy: request.config), reqid: request.reqid, force: false)
            return .init(reqid: request.reqid, result: .init(reqid: request.reqid, instance: instance, summarizing: results))
        }
        responder.on(ClusterAgentAPI.GetNodesRequest.self) { request, _ in
            .init(reqid: request.reqid, result: .init(nodes: await agent.nodeStatuses(reqid: request.reqid)))
        }
        responder.on(ClusterAgentAPI.AgentWelcomeRequest.self) { request, _ in
            .init(reqid: request.reqid, result: .init(reqid: request.reqid, instance: instance))
        }
        responder.on(ClusterAgentAPI.AgentStandbyRequest.self) { request, _ in
            _ = await agent.deploy(Management.Configuration(), reqid: "", force: true)
            return .init(reqid: request.reqid, result: .init(reqid: request.reqid, instance: instance))
        }
        return responder
    }
}
