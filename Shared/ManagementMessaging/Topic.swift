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

    /// Whether this is a `.notify` topic.
    public var isNotify: Bool { name.hasSuffix(".notify") }

    /// Where a request on this topic may ask for its answer (the envelope's `reply_to`),
    /// instead of the request's own topic: one partition that only its requester reads. On a
    /// partitioned topic an answer keyed by the requester lands in a partition that some hosts
    /// share and read; on `.replies` nobody else reads it (contract 2.1, §4).
    public var replies: Topic { Topic(name + ".replies") }

    /// The topics whose traffic is one conversation per host (controller and agent, agent and
    /// supervisor, agent and nodes), with their `.notify` companions. They have many
    /// partitions and every record is keyed by the host's instance (or the controller's name):
    /// an agent, supervisor or node reads only the partition of its own key, so what it reads
    /// does not grow with the number of hosts (contract §2.1).
    public var isPartitioned: Bool {
        let base = isNotify ? Topic(String(name.dropLast(".notify".count))) : self
        return base == .agentAPI || base == .nodeAPI || base == .supervisorAPI || base == .legacyAgentAPI
    }

    /// Reads only the partition that records keyed `key` go to (the whole topic if it has one).
    public func partition(of key: String) -> TopicReading {
        TopicReading(topic: self, key: key)
    }

    /// Reads every partition.
    public var whole: TopicReading {
        TopicReading(topic: self, key: nil)
    }
}

/// A topic an endpoint reads: whole, or only the partition of one key.
public struct TopicReading: Hashable, Sendable, CustomStringConvertible {
    public var topic: Topic
    /// nil: every partition.
    public var key: String?

    public var description: String { key.map { "\(topic)[partition of \($0)]" } ?? topic.name }
}

/// Maps contract topics and consumer groups to Kafka names behind an optional prefix, so that
/// several Zeek clusters can share one Kafka cluster (e.g. prefix `site-a.`).
public struct TopicNamespace: Hashable, Sendable {
    public let prefix: String
    /// How many partitions a partitioned topic (``Topic/isPartitioned``) gets when a service
    /// creates it. Existing topics keep theirs: endpoints ask the broker how many there are.
    public let partitions: Int

    /// The default partition count: enough that a fleet of a few hundred hosts shares each
    /// partition among a handful, few enough to cost a broker nothing.
    public static let defaultPartitions = 64

    public init(prefix: String = "", partitions: Int = TopicNamespace.defaultPartitions) {
        self.prefix = prefix
        self.partitions = max(1, partitions)
    }

    public func kafkaName(_ topic: Topic) -> String { prefix + topic.name }

    /// The contract topic behind a Kafka topic name, if it carries this namespace's prefix.
    public func topic(forKafkaName name: String) -> Topic? {
        guard name.hasPrefix(prefix) else { return nil }
        return Topic(String(name.dropFirst(prefix.count)))
    }

    /// Consumer group ids carry the prefix too, so two clusters' controllers never share a group.
    public func groupID(_ base: String) -> String { prefix + base }
}
