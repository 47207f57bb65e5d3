import ManagementTypes
import MessageSigning

/// What a controller holds and persists in `Management.Controller.state`
/// (``ConfigurationStore``), as one value: the staged configuration (as the operator sent it,
/// and completed for deployment), the deployed one, the operators' signatures that go with
/// them to the agents, and the hosts enrolled through the controller.
///
/// Changed only once the store has taken the change, so what the controller answers from is
/// what a controller taking over restores.
struct HeldConfigurations: Sendable {
    /// The staged configuration, as the operator sent it.
    private(set) var staged: Management.Configuration?
    /// The staged configuration with its ports assigned, ready to deploy; nil when nothing is
    /// staged or its ports cannot be assigned (it was staged under other settings).
    private(set) var readyToDeploy: Management.Configuration?
    private(set) var deployed: Management.Configuration?
    /// Hosts enrolled through the controller (not the trust file), by instance: their keys'
    /// trust-file form.
    private(set) var enrolled: [String: String] = [:]
    /// The operators' signatures of the staged and deployed configurations, by configuration
    /// id: sent with a configuration to the agents, which run nothing unsigned.
    private var signatures: [String: SignedRecord] = [:]

    /// The operator's signature of configuration `id`; nil on an unsigned bus, or if neither
    /// the staged nor the deployed configuration is `id`.
    func signature(of id: String) -> SignedRecord? {
        signatures[id]
    }

    /// What the store held, on becoming active; `ready` is the staged configuration completed
    /// for deployment.
    mutating func restore(_ snapshot: ConfigurationStore.Snapshot, ready: Management.Configuration?) {
        staged = snapshot.staged?.config
        readyToDeploy = ready
        deployed = snapshot.deployed?.config
        enrolled = snapshot.enrolled
        signatures = [:]
        for kept in [snapshot.staged, snapshot.deployed].compactMap({ $0 }) { signatures[kept.config.id] = kept.signature }
    }

    /// `config` is staged, with `signature`, as `ready` to deploy; the signature of the
    /// configuration staged before goes, unless it is the deployed one's.
    mutating func stage(_ config: Management.Configuration, ready: Management.Configuration, signature: SignedRecord?) {
        staged = config
        readyToDeploy = ready
        signatures = signatures.filter { $0.key == deployed?.id }
        signatures[config.id] = signature
    }

    /// `config`, deployed from the staged configuration, is the deployed one.
    mutating func keepDeployed(_ config: Management.Configuration) {
        deployed = config
    }

    /// The hosts enrolled through the controller are `hosts` now.
    mutating func keepEnrolled(_ hosts: [String: String]) {
        enrolled = hosts
    }
}
