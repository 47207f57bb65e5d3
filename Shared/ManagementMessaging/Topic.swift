import KafkaTransport

/// A topic of the wire contract, by its unprefixed name (the Zeek namespace with `::` as `.`).
public struct Topic: Hashable, Sendable, CustomStringConvertible {
    public let name: String

    public init(_ name: String) {
        self.name = name
    }

    public var description: String { name }

    /// Client <-> controller requests and responses.
    public static let controllerAPI = Topic("Management.Controller.API")
    /// Controller <-> agent requests and responses.
    public static let agentAPI = Topic("Management.Agent.API")
    /// Agent <-> node requests and responses.
    public static let nodeAPI = Topic("Management.Node.API")
    /// Agent <-> supervisor control events.
    public static let supervisorAPI = Topic("Supervisor.API")
    /// The legacy v1 controller namespace.
    public static let legacyControllerAPI = Topic("ClusterController.API")
    /// The legacy v1 agent namespace.
    public static let legacyAgentAPI = Topic("ClusterAgent.API")
    /// The controller's persisted staged/deployed configurations (compacted).
    public static let controllerState = Topic("Management.Controller.state")

    /// Every API topic, without their `.notify` companions.
    public static let apiTopics: [Topic] = [
        .controllerAPI, .agentAPI, .nodeAPI, .supervisorAPI, .legacyControllerAPI, .legacyAgentAPI,
    ]

    /// This namespace's notifications, for anyone to consume.
    public var notify: Topic { Topic(name + ".notify") }

    /// How the topic is created when missing: one partition, so that per-topic order between
    /// two endpoints holds; the state topic is compacted, keeping the last value per key.
    public var specification: TopicSpecification {
        TopicSpecification(
            name: name,
            partitions: 1,
            config: self == .controllerState ? ["cleanup.policy": "compact"] : [:]
        )
    }
}

/// Maps contract topics and consumer groups to Kafka names behind an optional prefix, so that
/// several Zeek clusters can share one Kafka cluster (e.g. prefix `site-a.`).
public struct TopicNamespace: Hashable, Sendable {
    public let prefix: String

    public init(prefix: String = "") {
        self.prefix = prefix
    }

    public func kafkaName(_ topic: Topic) -> String { prefix + topic.name }

    /// The contract topic behind a Kafka topic name, if it carries this namespace's prefix.
    public func topic(forKafkaName name: String) -> Topic? {
        guard name.hasPrefix(prefix) else { return nil }
        return Topic(String(name.dropFirst(prefix.count)))
    }

    /// Consumer group ids carry the prefix too, so two clusters' controllers never share a group.
    public func groupID(_ base: String) -> String { prefix + base }

    public func specification(_ topic: Topic) -> TopicSpecification {
        var specification = topic.specification
        specification.name = kafkaName(topic)
        return specification
    }
}
