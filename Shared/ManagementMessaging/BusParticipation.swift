/// How one kind of service takes part in the bus: what it reads, what it writes that nobody
/// it reads creates, the group it joins and the targets it accepts.
///
/// Each service declares it once, beside its code (`ControllerService.participation(name:)`,
/// `AgentService.participation(instance:)`, `SupervisorService.participation(instance:program:)`),
/// and both its executable, on Kafka, and the in-process tests, on the in-memory bus, connect
/// with that declaration: a topic added for one is read by the other too.
public struct BusParticipation: Sendable, Hashable {
    /// What it reads under its group.
    public var consumes: [TopicReading]
    /// What it also reads from the end, outside its group: for an active/standby group, the
    /// partitioned topics, which a group would share out among its members.
    public var follows: [TopicReading]
    /// Topics it writes and creates at start if missing (those read are always created).
    public var creates: [Topic]
    /// Its consumer group (unprefixed).
    public var group: String
    /// Whether several processes share the group, the one it gives the topics to being active.
    public var mayStandBy: Bool
    public var addressing: AddressFilter

    public init(consumes: [TopicReading], follows: [TopicReading] = [], creates: [Topic] = [], group: String, mayStandBy: Bool = false,
                addressing: AddressFilter) {
        self.consumes = consumes
        self.follows = follows
        self.creates = creates
        self.group = group
        self.mayStandBy = mayStandBy
        self.addressing = addressing
    }

    /// Every topic it reads, whole or one partition of it.
    public var topicsRead: [Topic] {
        var topics: [Topic] = []
        for reading in consumes + follows where !topics.contains(reading.topic) { topics.append(reading.topic) }
        return topics
    }
}
