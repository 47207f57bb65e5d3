#if canImport(Glibc)
import Glibc
#endif
import CRdKafka
import Synchronization
import Logging

/// Shared by librdkafka's callbacks, which receive it as the handle's opaque pointer.
///
/// Callbacks run on librdkafka's own threads (log, error) or on our poll thread (delivery
/// reports, rebalances), so everything here is either immutable or internally synchronised.
final class ClientContext: Sendable {
    let logger: Logger
    let rebalance: RebalanceState?
    /// A consumer's record of what it read, forgotten for partitions a rebalance moves.
    let offsetContinuity: OffsetContinuity?
    let errorObserver: (@Sendable (KafkaError) -> Void)?
    /// librdkafka's latest report of a failed broker connection (a refused TLS handshake,
    /// say): the cause of a later "Broker transport failure", which does not say it.
    let lastConnectionFailure = Mutex<String?>(nil)

    init(
        logger: Logger,
        rebalance: RebalanceState? = nil,
        offsetContinuity: OffsetContinuity? = nil,
        errorObserver: (@Sendable (KafkaError) -> Void)? = nil
    ) {
        self.logger = logger
        self.rebalance = rebalance
        self.offsetContinuity = offsetContinuity
        self.errorObserver = errorObserver
    }

    static func from(_ handle: OpaquePointer?) -> ClientContext? {
        guard let handle, let opaque = rd_kafka_opaque(handle) else { return nil }
        return Unmanaged<ClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }
}

/// Owns one librdkafka handle (`rd_kafka_t`) and its callback context, behind a lifecycle.
///
/// librdkafka handles are thread-safe: every `rd_kafka_*` call may be made from any thread,
/// which is why this wrapper can be shared across tasks. What is not safe is a call racing the
/// handle's destruction (a commit or a publish from a task while the owner shuts down). So
/// calls from outside the owner's poll thread go through ``withHandle(_:)``, which refuses
/// them once ``close(_:)`` began, and `close` waits for the calls under way before it
/// destroys the handle — the way swift-kafka-client guards its client with a state machine.
final class RdKafkaClient: @unchecked Sendable {
    private enum Lifecycle {
        /// Open, with this many calls under way.
        case running(calls: Int)
        /// Closing: no new calls; waiting for this many to end.
        case closing(calls: Int)
        case closed
    }

    private let lifecycle = Mutex(Lifecycle.running(calls: 0))
    enum Kind {
        case producer
        case consumer

        var raw: rd_kafka_type_t { self == .producer ? RD_KAFKA_PRODUCER : RD_KAFKA_CONSUMER }
    }

    let handle: OpaquePointer
    let context: ClientContext
    private let retainedContext: Unmanaged<ClientContext>

    init(
        kind: Kind,
        properties: [(String, String)],
        context: ClientContext,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws {
        try LibrdkafkaVersion.requireSupported()
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(.configuration, "librdkafka could not allocate a configuration")
        }
        var errorBuffer = [CChar](repeating: 0, count: 512)
        for (key, value) in properties where PropertyScope.applies(key, to: kind) {
            let result = rd_kafka_conf_set(conf, key, value, &errorBuffer, errorBuffer.count)
            guard result == RD_KAFKA_CONF_OK else {
                rd_kafka_conf_destroy(conf)
                throw KafkaError(.configuration, "property \(key)=\(Secrets.redacted(value, forKey: key)) rejected: \(Self.string(errorBuffer))")
            }
        }
        let retained = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, retained.toOpaque())
        rd_kafka_conf_set_log_cb(conf) { handle, level, facility, message in
            guard let context = ClientContext.from(handle) else { return }
            let facilityName = facility.map { String(cString: $0) } ?? "?"
            let text = "\(facilityName): \(message.map { String(cString: $0) } ?? "")"
            // Logged on the broker's thread as the connection fails, before the error callback
            // is served on the poll thread.
            if facilityName == "FAIL", let message { context.lastConnectionFailure.withLock { $0 = String(cString: message) } }
            context.logger.log(level: RdKafkaClient.logLevel(syslog: level), "librdkafka \(text)")
        }
        rd_kafka_conf_set_error_cb(conf) { handle, code, reason, _ in
            guard let context = ClientContext.from(handle) else { return }
            let text = reason.map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(rd_kafka_resp_err_t(code)))
            if code != RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue { context.lastConnectionFailure.withLock { $0 = text } }
            context.logger.warning("Kafka client error: \(text)", metadata: ["kafka.error": "\(code)"])
            context.errorObserver?(KafkaError(.client, text, code: code))
        }
        configure(conf)

        guard let handle = rd_kafka_new(kind.raw, conf, &errorBuffer, errorBuffer.count) else {
            // rd_kafka_new frees the configuration only on success.
            rd_kafka_conf_destroy(conf)
            retained.release()
            throw KafkaError(.configuration, "could not create Kafka client: \(Self.string(errorBuffer))")
        }
        self.handle = handle
        self.context = context
        self.retainedContext = retained
    }

    /// Runs `body` with the handle, unless the client is closing or closed: then it throws a
    /// `.shutDown` error and `body` does not run. `body` must be short, or wait in short slices
    /// that check ``isClosing``, and must not wait for the poll thread (close waits for it).
    func withHandle<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        try lifecycle.withLock { state in
            guard case .running(let calls) = state else { throw KafkaError(.shutDown, "the Kafka client is shut down") }
            state = .running(calls: calls + 1)
        }
        defer {
            lifecycle.withLock { state in
                switch state {
                case .running(let calls): state = .running(calls: calls - 1)
                case .closing(let calls): state = .closing(calls: calls - 1)
                case .closed: break
                }
            }
        }
        return try body(handle)
    }

    /// Whether ``close(_:)`` began. A call that waits inside ``withHandle(_:)`` for an answer
    /// (an admin result) checks it between short waits and gives up, so that it does not hold
    /// up the close.
    var isClosing: Bool {
        lifecycle.withLock { state in
            if case .running = state { false } else { true }
        }
    }

    /// Refuses new calls, waits for those under way (they are short), runs `finalize` (close
    /// the consumer, flush the producer) and destroys the handle. Call once, from the owner's
    /// poll thread after its loop ended.
    func close(_ finalize: (OpaquePointer) -> Void = { _ in }) {
        lifecycle.withLock { state in
            if case .running(let calls) = state { state = .closing(calls: calls) }
        }
        while case .closing(let calls) = lifecycle.withLock({ $0 }), calls > 0 {
            sched_yield()
        }
        finalize(handle)
        lifecycle.withLock { $0 = .closed }
        rd_kafka_destroy(handle)
        retainedContext.release()
    }

    /// The names of every topic the cluster has. Any broker answers this (no controller
    /// needed) and, unlike a per-topic request, it never makes a broker auto-create a topic.
    ///
    /// Through ``withHandle(_:)``, since the client may be another owner's (a producer's) that
    /// shuts down meanwhile: then this throws `.shutDown`, or the close waits for the answer
    /// (at most `timeoutMilliseconds`; librdkafka cannot cut a metadata request short).
    func topicNames(timeoutMilliseconds: Int32) throws -> Set<String> {
        try withHandle { handle in try Self.topicNames(handle, context: context, timeoutMilliseconds: timeoutMilliseconds) }
    }

    private static func topicNames(_ handle: OpaquePointer, context: ClientContext, timeoutMilliseconds: Int32) throws -> Set<String> {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(handle, 1, nil, &metadata, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            let unreachable = [RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN].contains(error)
            let failure = context.lastConnectionFailure.withLock { $0 }
            if let failure, let diagnosis = BrokerConnectionDiagnosis.diagnose(failure) {
                throw KafkaError(unreachable ? .unreachable : .admin,
                                 "listing topics: \(String(cString: rd_kafka_err2str(error))): \(diagnosis.problem) (librdkafka: \(failure))",
                                 code: error.rawValue, diagnosis: diagnosis)
            }
            if unreachable, let failure, let reason = BrokerConnectionDiagnosis.connectionFailure(in: failure) {
                throw KafkaError(.unreachable, "no broker answered (\(reason))", code: error.rawValue)
            }
            throw KafkaError(unreachable ? .unreachable : .admin,
                             "listing topics: \(String(cString: rd_kafka_err2str(error)))",
                             code: error.rawValue)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        return Set((0..<Int(metadata.pointee.topic_cnt)).map { String(cString: metadata.pointee.topics[$0].topic) })
    }

    /// The partitions of a topic, from broker metadata. Blocks for up to `timeoutMilliseconds`.
    func partitions(of topic: String, timeoutMilliseconds: Int32) throws -> [Int32] {
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
            throw KafkaError(.admin, "could not create a handle for topic \(topic)")
        }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let error = rd_kafka_metadata(handle, 0, topicHandle, &metadata, timeoutMilliseconds)
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(error == RD_KAFKA_RESP_ERR__TIMED_OUT ? .timedOut : .admin,
                             "metadata for topic \(topic)", error: error)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else {
            throw KafkaError(.admin, "broker returned no metadata for topic \(topic)")
        }
        let topicMetadata = metadata.pointee.topics[0]
        guard topicMetadata.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(.admin, "topic \(topic)", error: topicMetadata.err)
        }
        return (0..<Int(topicMetadata.partition_cnt)).map { topicMetadata.partitions[$0].id }.sorted()
    }


    static func string(_ buffer: [CChar]) -> String {
        buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    static func logLevel(syslog: Int32) -> Logger.Level {
        switch syslog {
        case ...3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    }
}
