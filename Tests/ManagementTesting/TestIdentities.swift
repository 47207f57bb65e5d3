import ManagementMessaging
import MessageSigning
import Synchronization

/// The keys of an in-process test world: one deploy operator, one read operator, the
/// controller, and a key per host made the first time a test names the host. Every endpoint
/// of the in-process tier signs and verifies with them, as the executables do.
public final class TestIdentities: Sendable {
    public static let shared = TestIdentities()

    public let trust: TrustStore
    /// The `deploy` operator `alice`.
    public let deployer = SigningKey.generate()
    /// The `read` operator `bob`.
    public let reader = SigningKey.generate()
    /// Every controller (they share the name `controller`).
    public let controller = SigningKey.generate()
    private let hosts = Mutex<[String: SigningKey]>([:])

    private init() {
        do {
            trust = TrustStore(try Keyring([
                Principal(kind: .deployOperator, name: "alice", key: deployer.publicKey),
                Principal(kind: .readOperator, name: "bob", key: reader.publicKey),
                Principal(kind: .controller, name: "controller", key: controller.publicKey),
            ]))
        } catch {
            fatalError("generated keys are distinct: \(error)")
        }
    }

    /// The key of host `instance`, enrolled with the controller's trust store.
    public func host(_ instance: String) -> SigningKey {
        hosts.withLock { hosts in
            if let key = hosts[instance] { return key }
            let key = SigningKey.generate()
            try? trust.add(Principal(kind: .host, name: instance, key: key.publicKey))
            hosts[instance] = key
            return key
        }
    }

    /// An endpoint signing with `key` and believing what `policy` admits.
    public func security(_ policy: TrustPolicy, key: SigningKey) -> MessageSecurity {
        .signed(EndpointSecurity(key: key, trust: trust, policy: policy))
    }

    /// Whom a probe playing every part signs as, by where it writes: an operator towards the
    /// controller, the controller towards agents, the host it speaks for (its `sender`, else
    /// its target) on a host's topics.
    public func key(forWritingTo topic: Topic, target: String?, sender: String) -> SigningKey {
        switch topic {
        case .controllerAPI, .legacyControllerAPI: deployer
        case .agentAPI, .legacyAgentAPI: controller
        case .controllerState: controller
        default: host(topic.isNotify || topic == .agentAPI.replies ? sender : (target ?? sender))
        }
    }
}
