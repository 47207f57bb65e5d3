import ManagementMessaging
import ManagementTypes
import MessageSigning

// Requests that carry a configuration, with the signature of the test world's deploy operator
// that agents require (contract 3.6): what a test playing the controller sends.

extension AgentAPI.DeployRequest {
    public static func signed(reqid: String, config: Management.Configuration, force: Bool = false) -> Self {
        Self(reqid: reqid, config: config, force: force, configSignature: try? .stageRequest(for: config, signedWith: TestIdentities.shared.deployer))
    }
}

extension AgentAPI.CheckRequest {
    public static func signed(reqid: String, config: Management.Configuration) -> Self {
        Self(reqid: reqid, config: config, configSignature: try? .stageRequest(for: config, signedWith: TestIdentities.shared.deployer))
    }
}

extension ClusterAgentAPI.SetConfigurationRequest {
    public static func signed(reqid: String, config: ClusterController.Types.Configuration) -> Self {
        Self(reqid: reqid, config: config, configSignature: try? .legacyStageRequest(for: config, signedWith: TestIdentities.shared.deployer))
    }
}
