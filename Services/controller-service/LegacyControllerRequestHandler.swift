import Logging
import ManagementMessaging
import ManagementTypes

/// Serves the legacy `ClusterController::API` (Zeek 4.1 - 5.0-dev clients) on
/// `ClusterController.API` with the same controller state, answering in that namespace's shapes.
struct LegacyControllerRequestHandler {
    typealias LegacyResult = ClusterController.Types.Result

    let controller: Controller
    let logger: Logger

    func handle(_ message: InboundMessage) async {
        let client = message.head.sender
        do {
            switch message.event {
            case ClusterControllerAPI.GetInstancesRequest.eventName:
                let request = try message.decode(ClusterControllerAPI.GetInstancesRequest.self).event
                let result = await controller.instances(reqid: request.reqid)
                respond(ClusterControllerAPI.GetInstancesResponse(reqid: request.reqid, result: LegacyResult(result)), to: client)
            case ClusterControllerAPI.SetConfigurationRequest.eventName:
                let request = try message.decode(ClusterControllerAPI.SetConfigurationRequest.self).event
                respond(ClusterControllerAPI.SetConfigurationResponse(reqid: request.reqid, result: await setConfiguration(request)), to: client)
            case ClusterControllerAPI.GetNodesRequest.eventName:
                let request = try message.decode(ClusterControllerAPI.GetNodesRequest.self).event
                let results = await controller.nodes(reqid: request.reqid).map { result in
                    var legacy = LegacyResult(result)
                    if let statuses = try? result.data?.decode(as: [Management.NodeStatus].self) {
                        legacy.data = try? JSONValue(encoding: statuses.map(ClusterController.Types.NodeStatus.init))
                    }
                    return legacy
                }
                respond(ClusterControllerAPI.GetNodesResponse(reqid: request.reqid, result: results), to: client)
            case ClusterControllerAPI.TestTimeoutRequest.eventName:
                let request = try message.decode(ClusterControllerAPI.TestTimeoutRequest.self).event
                guard request.with_state else { return }
                try? await Task.sleep(for: controller.settings.requestTimeout)
                respond(ClusterControllerAPI.TestTimeoutResponse(reqid: request.reqid, result: LegacyResult(reqid: request.reqid, success: false, error: "request timed out")), to: client)
            default:
                logger.info("ignoring unknown request \(message.event) from \(client)")
            }
        } catch {
            guard let reqid = message.reqid else {
                logger.warning("dropped \(message.event) from \(client) without a usable reqid: \(error)")
                return
            }
            logger.warning("invalid \(message.event) from \(client): \(error)")
            let failure = LegacyResult(reqid: reqid, success: false, error: "invalid \(message.event): \(error)")
            switch message.event {
            case ClusterControllerAPI.GetInstancesRequest.eventName: respond(ClusterControllerAPI.GetInstancesResponse(reqid: reqid, result: failure), to: client)
            case ClusterControllerAPI.SetConfigurationRequest.eventName: respond(ClusterControllerAPI.SetConfigurationResponse(reqid: reqid, result: [failure]), to: client)
            case ClusterControllerAPI.GetNodesRequest.eventName: respond(ClusterControllerAPI.GetNodesResponse(reqid: reqid, result: [failure]), to: client)
            case ClusterControllerAPI.TestTimeoutRequest.eventName: respond(ClusterControllerAPI.TestTimeoutResponse(reqid: reqid, result: failure), to: client)
            default: break
            }
        }
    }

    /// Stage (without validation, as the legacy controller did) and deploy; one Result per agent.
    private func setConfiguration(_ request: ClusterControllerAPI.SetConfigurationRequest) async -> [LegacyResult] {
        let reqid = request.reqid
        let staging = await controller.stage(Management.Configuration(legacy: request.config), reqid: reqid, validate: false)
        if let failure = staging.first(where: { !$0.success }) { return [LegacyResult(failure)] }
        let results = await controller.deploy(reqid: reqid)
        if let pending = results.first(where: { !$0.success && $0.instance == nil && ($0.error ?? "").hasPrefix("earlier deployment") }) {
            return [LegacyResult(reqid: reqid, success: false, error: (pending.error ?? "").replacing("earlier deployment", with: "request"))]
        }
        var byAgent: [String: [Management.Result]] = [:]
        var general: [LegacyResult] = []
        for result in results {
            if let instance = result.instance { byAgent[instance, default: []].append(result) } else if !result.success { general.append(LegacyResult(result)) }
        }
        return byAgent.keys.sorted().map { instance in
            let failures = byAgent[instance]!.filter { !$0.success }
            return LegacyResult(
                reqid: reqid, instance: instance, success: failures.isEmpty,
                error: failures.map { failure in [failure.node, failure.error].compactMap { $0 }.joined(separator: ": ") }.joined(separator: "; ")
            )
        } + general
    }

    private func respond<Response: ManagementEvent>(_ response: Response, to client: String) {
        controller.endpoint.enqueue(response, to: .legacyControllerAPI, target: client)
    }
}

extension ClusterController.Types.Result {
    /// The legacy form of a Result: unset instance and error become empty strings.
    init(_ result: Management.Result) {
        self.init(reqid: result.reqid, instance: result.instance ?? "", success: result.success,
                  data: result.data, error: result.error ?? "", node: result.node)
    }
}
