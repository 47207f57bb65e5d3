import BrokerJSON
import ManagementMessaging
import ManagementTypes

/// The Management::Controller::API events zeek-client sends and receives, with their arguments
/// in declaration order, for moving them between Broker's data model and the Kafka envelope.
enum ZeekClientEvents {
    typealias Arguments = [(name: String, type: ZeekType)]

    private static let requestID: (name: String, type: ZeekType) = ("reqid", .string)

    static let requests: [String: Arguments] = [
        ControllerAPI.GetInstancesRequest.eventName: [requestID],
        ControllerAPI.GetConfigurationRequest.eventName: [requestID, ("deployed", .bool)],
        ControllerAPI.StageConfigurationRequest.eventName: [requestID, ("config", .configuration)],
        ControllerAPI.DeployRequest.eventName: [requestID],
        ControllerAPI.GetNodesRequest.eventName: [requestID],
        ControllerAPI.GetIDValueRequest.eventName: [requestID, ("id", .string), ("nodes", .set(.string))],
        ControllerAPI.RestartRequest.eventName: [requestID, ("nodes", .set(.string))],
        ControllerAPI.TestTimeoutRequest.eventName: [requestID, ("with_state", .bool)],
    ]

    static let responses: [String: Arguments] = [
        ControllerAPI.GetInstancesResponse.eventName: [requestID, ("result", .result)],
        ControllerAPI.GetConfigurationResponse.eventName: [requestID, ("result", .result)],
        ControllerAPI.TestTimeoutResponse.eventName: [requestID, ("result", .result)],
        ControllerAPI.StageConfigurationResponse.eventName: [requestID, ("results", .vector(.result))],
        ControllerAPI.DeployResponse.eventName: [requestID, ("results", .vector(.result))],
        ControllerAPI.GetNodesResponse.eventName: [requestID, ("results", .vector(.result))],
        ControllerAPI.GetIDValueResponse.eventName: [requestID, ("results", .vector(.result))],
        ControllerAPI.RestartResponse.eventName: [requestID, ("results", .vector(.result))],
        ControllerAPI.NotifyAgentsReady.eventName: [("instances", .set(.string))],
    ]

    /// The envelope arguments (JSON object) of a request zeek-client sent.
    static func arguments(of event: BrokerEvent) throws(BrokerJSONError) -> JSONValue {
        guard let arguments = requests[event.name] else {
            throw BrokerJSONError(path: "event", problem: "unsupported event \(event.name.prefix(120))")
        }
        guard event.arguments.count == arguments.count else {
            throw BrokerJSONError(path: "event", problem: "\(event.name) takes \(arguments.count) arguments, got \(event.arguments.count)")
        }
        return try ZeekType.record(arguments).json(.vector(event.arguments), path: "args") ?? .object([:])
    }

    /// The Broker form of a response or notification from its envelope arguments; nil for
    /// events zeek-client does not know.
    static func brokerEvent(named name: String, arguments: JSONValue) -> BrokerEvent? {
        guard let schema = responses[name], case .vector(let values) = ZeekType.record(schema).broker(arguments) else { return nil }
        return BrokerEvent(name: name, arguments: values)
    }

    /// The response to request `name` that fails with `error`, in the response's own shape
    /// (one Result, or a vector of one); nil for events without a response.
    static func failedResponse(to name: String, reqid: String, error: String) -> BrokerEvent? {
        guard name.hasSuffix("_request") else { return nil }
        let responseName = String(name.dropLast("_request".count)) + "_response"
        guard let schema = responses[responseName], schema.count == 2,
              let result = try? JSONValue(encoding: Management.Result(reqid: reqid, success: false, error: error)) else { return nil }
        let value: JSONValue = if case .vector = schema[1].type { .array([result]) } else { result }
        return brokerEvent(named: responseName, arguments: .object(["reqid": .string(reqid), schema[1].name: value]))
    }

    /// Publishes a request zeek-client sent, decoded into its typed event (so it is validated
    /// here, with the path of any problem), to the controller.
    static func relay(_ name: String, arguments: JSONValue, through endpoint: any MessageBus, to controller: String) async throws {
        func send<Request: ManagementRequest>(_ type: Request.Type) async throws {
            try await endpoint.publish(try arguments.decode(as: Request.self), to: .controllerAPI, target: controller)
        }
        switch name {
        case ControllerAPI.GetInstancesRequest.eventName: try await send(ControllerAPI.GetInstancesRequest.self)
        case ControllerAPI.GetConfigurationRequest.eventName: try await send(ControllerAPI.GetConfigurationRequest.self)
        case ControllerAPI.StageConfigurationRequest.eventName: try await send(ControllerAPI.StageConfigurationRequest.self)
        case ControllerAPI.DeployRequest.eventName: try await send(ControllerAPI.DeployRequest.self)
        case ControllerAPI.GetNodesRequest.eventName: try await send(ControllerAPI.GetNodesRequest.self)
        case ControllerAPI.GetIDValueRequest.eventName: try await send(ControllerAPI.GetIDValueRequest.self)
        case ControllerAPI.RestartRequest.eventName: try await send(ControllerAPI.RestartRequest.self)
        case ControllerAPI.TestTimeoutRequest.eventName: try await send(ControllerAPI.TestTimeoutRequest.self)
        default: throw BrokerJSONError(path: "event", problem: "unsupported event \(name.prefix(120))")
        }
    }
}
