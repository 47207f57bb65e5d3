import ManagementMessaging
import ManagementTypes
import Testing

@Suite("Request and response pairing")
struct RequestResponsePairingTests {
    /// Every request of every API, as a responder would register it.
    static let requests: [any ManagementRequest.Type] = [
        ControllerAPI.GetInstancesRequest.self, ControllerAPI.StageConfigurationRequest.self,
        ControllerAPI.GetConfigurationRequest.self, ControllerAPI.DeployRequest.self, ControllerAPI.GetNodesRequest.self,
        ControllerAPI.GetIDValueRequest.self, ControllerAPI.RestartRequest.self, ControllerAPI.TestTimeoutRequest.self,
        ClusterControllerAPI.GetInstancesRequest.self, ClusterControllerAPI.SetConfigurationRequest.self,
        ClusterControllerAPI.GetNodesRequest.self, ClusterControllerAPI.TestTimeoutRequest.self,
        AgentAPI.DeployRequest.self, AgentAPI.GetNodesRequest.self, AgentAPI.NodeDispatchRequest.self,
        AgentAPI.AgentWelcomeRequest.self, AgentAPI.AgentStandbyRequest.self, AgentAPI.RestartRequest.self,
        ClusterAgentAPI.SetConfigurationRequest.self, ClusterAgentAPI.GetNodesRequest.self,
        ClusterAgentAPI.AgentWelcomeRequest.self, ClusterAgentAPI.AgentStandbyRequest.self,
        NodeAPI.DispatchRequest.self,
        SupervisorControl.CreateRequest.self, SupervisorControl.StatusRequest.self,
        SupervisorControl.RestartRequest.self, SupervisorControl.DestroyRequest.self,
    ]

    @Test("each request is answered by the Zeek event of the same name", arguments: requests.map { ObjectIdentifier($0) })
    func responseIsTheRequestsCounterpart(_ id: ObjectIdentifier) throws {
        let request = try #require(Self.requests.first { ObjectIdentifier($0) == id })
        #expect(Self.responseName(of: request) == request.eventName.replacing("_request", with: "_response"))
    }

    @Test("a request that cannot be served is answered with a failure carrying the reason")
    func failureResponsesSayWhy() throws {
        let agent = AgentAPI.DeployResponse(reqid: "r", failure: "invalid", instance: "host-1")
        #expect(!agent.succeeded && agent.results == [Management.Result(reqid: "r", success: false, instance: "host-1", error: "invalid")])
        let client = ControllerAPI.GetInstancesResponse(reqid: "r", failure: "invalid", instance: nil)
        #expect(!client.succeeded && client.result.error == "invalid" && client.result.instance == nil)
        let legacy = ClusterControllerAPI.SetConfigurationResponse(reqid: "r", failure: "invalid", instance: nil)
        #expect(!legacy.succeeded && legacy.result.map(\.error) == ["invalid"] && legacy.result.map(\.instance) == [""])
        #expect(SupervisorControl.CreateResponse(reqid: "r", failure: "invalid", instance: nil).result == "invalid")
        #expect(SupervisorControl.DestroyResponse(reqid: "r", failure: "invalid", instance: nil).result == false)
    }

    private static func responseName<Request: ManagementRequest>(of _: Request.Type) -> String {
        Request.Response.eventName
    }
}
