import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import KafkaTransport
import Logging
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import MessageSigning

/// The flags every executable accepts (the design's "Running the services"), each with an
/// environment variable fallback so containers can be configured without changing commands.
public struct CommonOptions: ParsableArguments, Sendable {
    @Option(help: ArgumentHelp("Kafka bootstrap servers, HOST:PORT[,...] (env ZEEK_MGMT_BROKERS; default 127.0.0.1:9092).", valueName: "host:port,..."))
    public var brokers: String?

    @Option(help: ArgumentHelp("Prefix for every topic and consumer group, so clusters can share a Kafka (env ZEEK_MGMT_TOPIC_PREFIX; default none).", valueName: "prefix"))
    public var topicPrefix: String?

    @Option(help: ArgumentHelp("Partitions of the per-host topics (Management.Agent.API, Supervisor.API, Management.Node.API, ClusterAgent.API and their .notify) when a service creates them; existing topics keep theirs (env ZEEK_MGMT_PARTITIONS; default \(TopicNamespace.defaultPartitions)).", valueName: "count"))
    public var partitions: Int?

    @Option(name: .customLong("kafka-option"), help: ArgumentHelp("Any librdkafka property, e.g. security.protocol=SASL_SSL (repeatable; env ZEEK_MGMT_KAFKA_OPTIONS, one per line).", valueName: "key=value"))
    public var kafkaOptions: [String] = []

    @Option(name: .customLong("kafka-options-file"), help: ArgumentHelp("A file of librdkafka properties, one KEY=VALUE per line (# comments), e.g. SASL credentials mounted from a secret (env ZEEK_MGMT_KAFKA_OPTIONS_FILE).", valueName: "path"))
    public var kafkaOptionsFile: String?

    @Option(help: ArgumentHelp("trace|debug|info|notice|warning|error (env ZEEK_MGMT_LOG_LEVEL; default info).", valueName: "level"))
    public var logLevel: String?

    @Option(help: ArgumentHelp("This process's Ed25519 private key (PKCS#8 PEM, mode 600), which signs everything it sends: an operator's, a controller's or its host's (env ZEEK_MGMT_KEY_FILE). Make one with `zeek-mgmt keygen`.", valueName: "path"))
    public var key: String?

    @Option(help: ArgumentHelp("The trust file: the public keys of the operators, controllers and hosts this process believes, one `KIND NAME KEY` per line (env ZEEK_MGMT_TRUST_FILE). See README, Security.", valueName: "path"))
    public var trust: String?

    @Flag(help: ArgumentHelp("Neither sign nor verify messages. Only to measure what signing costs: anyone who can write to Kafka then commands every host.", visibility: .hidden))
    public var insecureUnsigned = false

    public init() {}

    /// Applies environment fallbacks and defaults, validating every value.
    public func resolve(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> ServiceSettings {
        let brokerList = (brokers ?? environment["ZEEK_MGMT_BROKERS"] ?? "127.0.0.1:9092")
            .split(separator: ",").map { String($0.filter { !$0.isWhitespace }) }.filter { !$0.isEmpty }
        guard !brokerList.isEmpty else {
            throw ValidationError("--brokers needs at least one HOST:PORT")
        }
        for broker in brokerList where !broker.contains(":") {
            throw ValidationError("broker address \"\(broker)\" lacks a port; use HOST:PORT, e.g. 127.0.0.1:9092")
        }
        let levelText = (logLevel ?? environment["ZEEK_MGMT_LOG_LEVEL"] ?? "info").lowercased()
        guard let level = Logger.Level(rawValue: levelText) else {
            throw ValidationError("unknown log level \"\(levelText)\"; use one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let overrides: [String: String]
        let environmentOptions = (environment["ZEEK_MGMT_KAFKA_OPTIONS"] ?? "").split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        var fileOptions: [String] = []
        if let path = kafkaOptionsFile ?? environment["ZEEK_MGMT_KAFKA_OPTIONS_FILE"], !path.isEmpty {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ValidationError("cannot read the Kafka options file \(path); check --kafka-options-file / ZEEK_MGMT_KAFKA_OPTIONS_FILE")
            }
            fileOptions = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
                .map { $0.trimmingWhitespace() }
                .filter { !$0.isEmpty && !$0.hasPrefix("#") && !$0.hasPrefix("!") }
                .map { line in
                    // `key = value`, as Java properties files are often written.
                    guard let equals = line.firstIndex(of: "=") else { return line }
                    return line[..<equals].trimmingWhitespace() + "=" + line[line.index(after: equals)...].trimmingWhitespace()
                }
        }
        do {
            // Later entries win: the file, then the environment, then flags.
            overrides = try KafkaConfiguration.parseOverrides(fileOptions + environmentOptions + kafkaOptions)
        } catch let error as KafkaError {
            throw ValidationError(error.message)
        }
        let partitionText = partitions.map(String.init) ?? environment["ZEEK_MGMT_PARTITIONS"] ?? "\(TopicNamespace.defaultPartitions)"
        guard let partitionCount = Int(partitionText), (1...10_000).contains(partitionCount) else {
            throw ValidationError("partition count \"\(partitionText)\" is not a number from 1 to 10000; check --partitions / ZEEK_MGMT_PARTITIONS")
        }
        return ServiceSettings(
            brokers: brokerList,
            namespace: TopicNamespace(prefix: topicPrefix ?? environment["ZEEK_MGMT_TOPIC_PREFIX"] ?? "", partitions: partitionCount),
            kafkaOverrides: overrides,
            logLevel: level,
            identity: try resolveIdentity(environment: environment)
        )
    }

    /// The key and trust file, which every process needs unless told to run unsigned.
    private func resolveIdentity(environment: [String: String]) throws -> ServiceSettings.Identity? {
        if insecureUnsigned || environment["ZEEK_MGMT_INSECURE_UNSIGNED"] == "1" { return nil }
        let keyPath = key ?? environment["ZEEK_MGMT_KEY_FILE"]
        let trustPath = trust ?? environment["ZEEK_MGMT_TRUST_FILE"]
        guard let keyPath, !keyPath.isEmpty, let trustPath, !trustPath.isEmpty else {
            throw ValidationError("every message is signed: give this process its key (--key / ZEEK_MGMT_KEY_FILE) and the trust file of the keys it believes (--trust / ZEEK_MGMT_TRUST_FILE); `zeek-mgmt keygen` makes keys, and README's Security section says which key goes where")
        }
        do {
            return ServiceSettings.Identity(keyPath: keyPath, trustPath: trustPath, key: try SigningKey(file: keyPath), trust: try TrustStore(file: trustPath))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// The resolved common settings of a process.
public struct ServiceSettings: Sendable {
    public var brokers: [String]
    public var namespace: TopicNamespace
    public var kafkaOverrides: [String: String]
    public var logLevel: Logger.Level
    /// Nil only when running unsigned (`--insecure-unsigned`).
    public var identity: Identity?

    /// What this process signs with and whom it believes.
    public struct Identity: Sendable {
        public var keyPath: String
        public var trustPath: String
        public var key: SigningKey
        public var trust: TrustStore
    }

    /// How an endpoint of this process signs and whom it takes each topic from.
    public func security(_ policy: TrustPolicy, onRejection: (@Sendable (MessageRejection) -> Void)? = nil,
                         pendingEnrollments: PendingEnrollments? = nil) -> MessageSecurity {
        guard let identity else { return .unsignedInsecure }
        return .signed(EndpointSecurity(key: identity.key, trust: identity.trust, policy: policy, onRejection: onRejection,
                                        pendingEnrollments: pendingEnrollments))
    }

    /// Believes this process's own key as `kind` `name` (a host's agent and supervisor their
    /// host's key, a controller its own), whether or not the trust file lists it; refuses a
    /// key the trust file gives to someone else.
    public func trustingOwnKey(as kind: Principal.Kind, name: String) throws {
        guard let identity else { return }
        let own = identity.key.publicKey
        if let listed = identity.trust.principal(signingWith: own.raw) {
            guard listed.kind == kind, kind == .controller || listed.name == name else {
                throw ValidationError("the trust file \(identity.trustPath) gives this process's key (\(identity.keyPath)) to \(listed), not to \(kind.rawValue) \(name); check --key")
            }
            return
        }
        do {
            try identity.trust.add(Principal(kind: kind, name: name, key: own))
        } catch {
            throw ValidationError("the trust file \(identity.trustPath) lists \(kind.rawValue) \(name) with another key than \(identity.keyPath)'s: \(error)")
        }
    }

    /// The environment that gives a child process (a node) these same settings. Kafka options
    /// go through the environment, not argv, because they may hold credentials.
    /// What a stand-in node (`cluster-node`, which speaks Kafka itself) is given to reach
    /// Kafka as its host: the brokers, prefix and partitions, the log level, the host's key
    /// file, and this process's Kafka options without any credential (`Secrets.isCredential(key:)`).
    /// Credentials only from `credentialsFile`, a narrower file of the node's own, if one is
    /// configured: a process that runs a deployment's code never holds the host's.
    public func nodeEnvironment(credentialsFile: String?) -> [String: String] {
        var environment = [
            "ZEEK_MGMT_BROKERS": brokers.joined(separator: ","),
            "ZEEK_MGMT_TOPIC_PREFIX": namespace.prefix,
            "ZEEK_MGMT_PARTITIONS": "\(namespace.partitions)",
            "ZEEK_MGMT_KAFKA_OPTIONS": kafkaOverrides.filter { !Secrets.isCredential(key: $0.key) }.sorted { $0.key < $1.key }
                .map { "\($0.key)=\($0.value)" }.joined(separator: "\n"),
            "ZEEK_MGMT_LOG_LEVEL": logLevel.rawValue,
        ].merging(identity.map { ["ZEEK_MGMT_KEY_FILE": $0.keyPath, "ZEEK_MGMT_TRUST_FILE": $0.trustPath] } ?? ["ZEEK_MGMT_INSECURE_UNSIGNED": "1"]) { $1 }
        if let credentialsFile { environment["ZEEK_MGMT_KAFKA_OPTIONS_FILE"] = credentialsFile }
        return environment
    }

    public func kafkaConfiguration(clientID: String) -> KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: brokers, clientID: clientID, overrides: kafkaOverrides)
    }

    /// Sends log lines to stderr at the configured level and returns the process's logger.
    public func bootstrapLogging(label: String) -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

/// `agent-<hostname>`, the default instance name of an agent/supervisor pair, as Zeek names agents.
func defaultInstanceName(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
    if let name = environment["ZEEK_MGMT_INSTANCE"], !name.isEmpty { return name }
    let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
    return "agent-\(host)"
}

/// `--instance`, shared by the processes of one host (agent, supervisor, nodes).
public struct InstanceOption: ParsableArguments, Sendable {
    @Option(name: .customLong("instance"), help: ArgumentHelp("This host's instance name, shared by its agent, supervisor and nodes (env ZEEK_MGMT_INSTANCE; default agent-<hostname>).", valueName: "name"))
    var explicitName: String?

    public init() {}

    /// The given name, else `ZEEK_MGMT_INSTANCE`, else `agent-<hostname>` as Zeek names agents.
    public var name: String {
        if let explicitName { return explicitName }
        return defaultInstanceName()
    }
}
