import MessageSigning

/// Who may write what a service reads: for every topic, whose signatures are admitted.
///
/// The bus is shared and untrusted (contract §3.6): a stolen Kafka credential or an exploited
/// worker can write any topic. So each receiver names exactly whom it takes each topic from,
/// and a topic it names nobody for is read from nobody.
public struct TrustPolicy: Sendable {
    public enum Admission: Sendable, Hashable {
        /// Any controller key.
        case controllers
        /// Operator keys: a request needs the `deploy` role unless its event is one of
        /// ``TrustPolicy/readOnlyEvents``; anything else an operator sends is refused.
        case operators
        /// The key of this one host, whatever node of it speaks (agent, supervisor, nodes, relay).
        case host(String)
        /// Any enrolled host's key, speaking under its own name only (`sender` = its instance).
        case enrolledHosts
        /// Any host's key, whatever node of it speaks: for readers that only watch (monitors).
        case anyHost
    }

    public var admissions: [Topic: Set<Admission>]

    /// Requests a `read` operator may send: what changes nothing.
    public static let readOnlyEvents: Set<String> = [
        ControllerAPI.GetConfigurationRequest.eventName, ControllerAPI.GetInstancesRequest.eventName,
        ControllerAPI.GetNodesRequest.eventName, ControllerAPI.GetIDValueRequest.eventName,
        ControllerAPI.TestTimeoutRequest.eventName, ControllerAPI.GetEnrollmentsRequest.eventName,
        ClusterControllerAPI.GetInstancesRequest.eventName, ClusterControllerAPI.GetNodesRequest.eventName,
    ]

    /// Requests that carry a configuration to run: its `config` must be a completion of one a
    /// `deploy` operator signed, whose signed stage request travels in `config_signature`.
    public static let warrantedEvents: Set<String> = [
        AgentAPI.DeployRequest.eventName, AgentAPI.CheckRequest.eventName, ClusterAgentAPI.SetConfigurationRequest.eventName,
    ]

    public init(_ admissions: [Topic: Set<Admission>]) {
        self.admissions = admissions
    }

    // MARK: Who trusts whom (contract §3.6)

    /// The controller takes requests from operators (by role), answers and check-ins from
    /// enrolled hosts under their own names, and state only from controllers.
    public static let controller = TrustPolicy([
        .controllerAPI: [.operators, .controllers],
        .legacyControllerAPI: [.operators, .controllers],
        .agentAPI: [.enrolledHosts, .controllers],
        .agentAPI.replies: [.enrolledHosts],
        .agentAPI.notify: [.enrolledHosts],
        .legacyAgentAPI.notify: [.enrolledHosts],
        .controllerState: [.controllers],
    ])

    /// An agent takes orders from controllers only, and hears its own host's supervisor and
    /// nodes only.
    public static func agent(instance: String) -> TrustPolicy {
        TrustPolicy([
            .agentAPI: [.controllers, .host(instance)],
            .legacyAgentAPI: [.controllers, .host(instance)],
            .supervisorAPI: [.host(instance)],
            .supervisorAPI.notify: [.host(instance)],
            .nodeAPI: [.host(instance)],
            .nodeAPI.notify: [.host(instance)],
        ])
    }

    /// A supervisor, its relay and its nodes take orders from their own host's agent only.
    public static func host(instance: String) -> TrustPolicy {
        TrustPolicy([
            .supervisorAPI: [.host(instance)],
            .nodeAPI: [.host(instance)],
        ])
    }

    /// A watcher of everything (a test's probe, an audit tool): believes every principal its
    /// trust file lists, on every topic, and nothing else.
    public static let observer = TrustPolicy(Dictionary(uniqueKeysWithValues: (Topic.apiTopics + [.agentAPI.replies, .controllerState]).flatMap {
        [($0, Set<Admission>([.controllers, .operators, .anyHost])), ($0.notify, Set<Admission>([.controllers, .operators, .anyHost]))]
    }))

    /// An operator's client believes answers from controllers only; what it watches on the
    /// notify topics, from controllers and the hosts its trust file lists.
    public static let client = TrustPolicy(Dictionary(uniqueKeysWithValues:
        [(Topic.controllerAPI, Set<Admission>([.controllers, .operators])), (.legacyControllerAPI, [.controllers, .operators])]
            + Topic.apiTopics.map { ($0.notify, Set<Admission>([.controllers, .anyHost])) }
    ))

    /// Why `principal` may not have written this message on `topic`, or nil if it may.
    func refusal(of principal: Principal, event: String, sender: String, on topic: Topic) -> String? {
        let admitted = admissions[topic] ?? []
        for admission in admitted {
            switch admission {
            case .controllers where principal.kind == .controller:
                // A controller answers clients; it never asks itself or its peers for anything.
                if event.hasSuffix("_request"), topic == .controllerAPI || topic == .legacyControllerAPI {
                    return "controller \(principal.name) may not send \(event): only operators make requests of the controller"
                }
                return nil
            case .host(let name) where principal.kind == .host && principal.name == name:
                // A host is told what to do by controllers; it never orders its own agent about.
                if event.hasSuffix("_request"), topic == .agentAPI || topic == .legacyAgentAPI {
                    return "host \(principal.name) may not send \(event): only controllers make requests of an agent"
                }
                return nil
            case .enrolledHosts where principal.kind == .host:
                return principal.name == sender ? nil : "host \(principal.name) may not speak as \(sender)"
            case .anyHost where principal.kind == .host:
                return nil
            case .operators where principal.kind.isOperator:
                guard event.hasSuffix("_request") else { return "operators send requests only" }
                if principal.kind == .readOperator && !Self.readOnlyEvents.contains(event) {
                    return "operator \(principal.name) has the read role and may not send \(event)"
                }
                return nil
            default:
                continue
            }
        }
        return "\(principal) may not write \(topic)"
    }
}
