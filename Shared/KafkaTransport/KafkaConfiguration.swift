/// Settings for a Kafka client, as librdkafka properties.
///
/// librdkafka has hundreds of properties and operators need all of them (SASL, TLS, timeouts),
/// so rather than mirroring them as Swift fields this type keeps a few typed essentials and passes
/// everything else through verbatim. Properties are applied in order: ``Tuning`` defaults first,
/// then the client role's own settings, then ``overrides``, so an operator always has the last word.
public struct KafkaConfiguration: Sendable {
    /// `host:port` pairs for `bootstrap.servers`.
    public var bootstrapServers: [String]
    /// `client.id`, shown in broker logs.
    public var clientID: String
    /// Any librdkafka property, applied last (e.g. `security.protocol=SASL_SSL`).
    public var overrides: [String: String]
    /// Told of every error librdkafka reports in the background (broker down, authentication
    /// failed, ...), beyond the log line each one gets; e.g. to count them in a metric.
    public var errorObserver: (@Sendable (KafkaError) -> Void)?

    /// The largest record (value, key and headers, before compression) a client sends, unless
    /// `message.max.bytes` is overridden: 16 MiB.
    public static let defaultMaximumMessageSize = 16 * 1024 * 1024

    /// The largest record this configuration lets a client send (`message.max.bytes`), and
    /// the largest the services accept.
    public var maximumMessageSize: Int {
        overrides["message.max.bytes"].flatMap { Int($0) } ?? Self.defaultMaximumMessageSize
    }

    public init(bootstrapServers: [String], clientID: String, overrides: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.overrides = overrides
    }

    /// Defaults tuned for a control plane: few, small messages where every millisecond of
    /// delay is felt by an operator waiting on a command.
    ///
    /// - Records may be up to 16 MiB before compression (`message.max.bytes`), and producers
    ///   compress them with zstd: a configuration of 10,000 nodes moves as about 150 KB, well
    ///   within a broker's default limit of 1 MB per compressed batch.
    /// - Producers send each record at once (`linger.ms=0`) instead of waiting to fill a batch,
    ///   with Nagle off, and give up on a record after 10 s so a dead broker surfaces as an
    ///   error within the management framework's request timeouts rather than 5 minutes later.
    /// - Consumers let the broker hold a fetch for up to 500 ms (`fetch.wait.max.ms`) when
    ///   nothing arrived: Apache Kafka answers a held fetch as soon as a record arrives, so the
    ///   wait costs no latency, and an idle consumer sends at most 2 fetch requests per second
    ///   (a fleet of 12,000 consumers: 24,000 per second, not the million a 10 ms wait costs).
    ///   Brokers that answer a held fetch only at the end of its wait (the embedded Tansu) need a
    ///   short wait set by whoever runs them (`LocalBroker.clientOptions`, the demo).
    /// - Group members use a 6 s session with 1 s heartbeats so a rebalance (a controller
    ///   failing over, a service restarting) settles in seconds, not the default 45 s.
    public enum Tuning {
        public static let common: [(String, String)] = [
            // A 10,000-node configuration is about 1.5 MB of JSON (compressed, a tenth of that).
            ("message.max.bytes", "\(KafkaConfiguration.defaultMaximumMessageSize)"),
            ("socket.nagle.disable", "true"),
            ("reconnect.backoff.ms", "50"),
            ("reconnect.backoff.max.ms", "1000"),
            ("topic.metadata.refresh.interval.ms", "10000"),
            ("log.connection.close", "false"),
        ]
        public static let producer: [(String, String)] = [
            // Java's partitioner, which readers of one partition compute (``Murmur2Partitioner``).
            ("partitioner", "murmur2_random"),
            ("linger.ms", "0"),
            // Configurations and node lists are repetitive JSON: zstd shrinks them about tenfold.
            ("compression.codec", "zstd"),
            ("acks", "all"),
            ("message.timeout.ms", "10000"),
            ("retry.backoff.ms", "20"),
        ]
        public static let consumer: [(String, String)] = [
            ("fetch.wait.max.ms", "500"),
            ("fetch.min.bytes", "1"),
            ("fetch.error.backoff.ms", "20"),
            ("session.timeout.ms", "6000"),
            ("heartbeat.interval.ms", "1000"),
            ("enable.partition.eof", "false"),
            // Control messages are small and few: prefetch at most 1 MiB per consumer rather than
            // librdkafka's 64 MiB, which on a busy topic would be memory held for nothing.
            ("queued.max.messages.kbytes", "1024"),
            // Once that much waits, librdkafka postpones the next fetch of every partition by
            // this long (default 1 s): with one record larger than 1 MiB (a 1,000-agent node list)
            // the next request behind it would wait a second for nothing.
            ("fetch.queue.backoff.ms", "20"),
        ]
        /// Consumer-group members commit each handled record at once (see
        /// ``KafkaConsumer/commit(_:)``); auto-commit only flushes stored offsets periodically
        /// and on close, as a safety net.
        public static let groupMember: [(String, String)] = [
            ("enable.auto.commit", "true"),
            ("enable.auto.offset.store", "false"),
            ("auto.commit.interval.ms", "1000"),
        ]
        /// Consumers that assign partitions themselves. librdkafka still wants a `group.id`
        /// for `assign()`; it is never joined and nothing is committed under it.
        public static func standalone(groupID: String) -> [(String, String)] {
            [("group.id", groupID), ("enable.auto.commit", "false")]
        }
    }

    /// The complete ordered property list a client of this role applies (public so that
    /// measurements against bare librdkafka can use exactly the same settings).
    public func properties(role: [(String, String)]) -> [(String, String)] {
        var result = Tuning.common
        result.append(("bootstrap.servers", bootstrapServers.joined(separator: ",")))
        result.append(("client.id", clientID))
        result.append(contentsOf: role)
        result.append(contentsOf: overrides.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        return result
    }
}

extension KafkaConfiguration {
    /// Parses `KEY=VALUE` strings as given to `--kafka-option`.
    public static func parseOverrides(_ options: [String]) throws -> [String: String] {
        var result: [String: String] = [:]
        for option in options {
            guard let equals = option.firstIndex(of: "="), equals != option.startIndex else {
                throw KafkaError(.configuration, "kafka option \"\(Secrets.redactedOption(option))\" is not of the form KEY=VALUE (e.g. security.protocol=SASL_SSL)")
            }
            result[String(option[..<equals])] = String(option[option.index(after: equals)...])
        }
        return result
    }
}
