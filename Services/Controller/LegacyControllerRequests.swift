import ManagementMessaging
import ManagementTypes
import MessageSigning

private typealias LegacyResult = ClusterController.Types.Result

/// The legacy `ClusterController::API` (Zeek 4.1 - 5.0-dev clients) on `ClusterController.API`,
/// served with the same controller state and answered in that namespace's shapes.
extension RequestResponder {
    static func legacyControllerAPI(_ controller: Controller) -> RequestResponder {
        var responder = RequestResponder(through: controller.bus, lifetime: controller.settings.requestTimeout, expired: .answered)
        responder.on(ClusterControllerAPI.GetInstancesRequest.self) { request, _ in
            .init(reqid: request.reqid, result: LegacyResult(await controller.instances(reqid: request.reqid)))
        }
        responder.onceRestored(ClusterControllerAPI.SetConfigurationRequest.self, by: controller) { request, context in
            .init(reqid: request.reqid, result: await setConfiguration(request, signature: context.authentication?.record, on: controller, deadline: context.deadline))
        }
        responder.onceRestored(ClusterControllerAPI.GetNodesRequest.self, by: controller) { request, context in
            .init(reqid: request.reqid, result: await controller.nodes(reqid: request.reqid, deadline: context.deadline).map(LegacyResult.init(nodes:)))
        }
        responder.on(ClusterControllerAPI.TestTimeoutRequest.self) { request, context in
            guard request.with_state, (try? await controller.clock.sleep(until: context.deadline)) != nil else { return nil }
            return .init(reqid: request.reqid, result: LegacyResult(reqid: request.reqid, success: false, error: RequestFailure.timedOut.description))
        }
        return responder
    }

    /// Stage (without validation, as the legacy controller did) and deploy; one Result per agent.
    private static func setConfiguration(_ request: ClusterControllerAPI.SetConfigurationRequest, signature: SignedRecord?, on controller: Controller,
                                         deadline: ContinuousClock.Instant) async -> [LegacyResult] {
        let reqid = request.reqid
        let staging = await controller.stage(Management.Configuration(legacy: request.config), signature: signature, reqid: reqid, validate: false)
        if let failure = staging.first(where: { !$0.success }) { return [LegacyResult(failure)] }
        let results = await controller.deploy(reqid: reqid, deadline: deadline)
        if let pending = results.first(where: { !$0.success && $0.instance == nil && ($0.error ?? "").hasPrefix("earlier deployment") }) {
            return [LegacyResult(reqid: reqid, success: false, error: (pending.error ?? "").replacing("earlier deployment", with: "request"))]
        }
        var byAgent: [String: [Management.Result]] = [:]
        var general: [LegacyResult] = []
        for result in results {
            if let instance = result.instance { byAgent[instance, default: []].append(result) } else if !result.success { general.append(LegacyResult(result)) }
        }
        return byAgent.keys.sorted().map { LegacyResult(reqid: reqid, instance: $0, summarizing: byAgent[$0]!) } + general
    }
}
