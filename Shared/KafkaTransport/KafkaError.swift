import CRdKafka

/// An error from the Kafka transport, carrying librdkafka's error code where there is one.
///
/// The message is written for an operator: it says what failed and, where it can, what to do.
public struct KafkaError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// A librdkafka property was rejected (unknown key or bad value).
        case configuration
        /// The installed librdkafka cannot be used.
        case unsupportedLibrary
        /// A record could not be delivered (broker down, timeout, topic missing, too large...).
        case delivery
        /// The consumer failed (subscription, assignment, commit).
        case consumer
        /// librdkafka reported a problem in the background (a broker went away, authentication
        /// failed, ...); it keeps trying on its own.
        case client
        /// An admin operation (topic creation, metadata) failed.
        case admin
        /// No broker could be reached (refused, down, or silent).
        case unreachable
        /// An operation did not complete in time.
        case timedOut
        /// The client was already shut down.
        case shutDown
    }

    public var kind: Kind
    public var message: String
    /// librdkafka's numeric error code (`rd_kafka_resp_err_t`), if the error came from librdkafka.
    public var code: Int32?
    /// Why the broker could not be talked to, when librdkafka said why (a TLS handshake failed).
    public var diagnosis: BrokerConnectionDiagnosis?

    public init(_ kind: Kind, _ message: String, code: Int32? = nil, diagnosis: BrokerConnectionDiagnosis? = nil) {
        self.kind = kind
        self.message = message
        self.code = code
        self.diagnosis = diagnosis
    }

    /// What an operator should check when this error kept a client from reaching Kafka.
    public var whatToCheck: String {
        diagnosis.map { "\($0.remedy) (--kafka-options-file or --kafka-option)." } ?? "Check --brokers and that the broker is running."
    }

    init(_ kind: Kind, _ context: String, error: rd_kafka_resp_err_t) {
        self.init(kind, "\(context): \(String(cString: rd_kafka_err2str(error)))", code: error.rawValue)
    }

    public var description: String { "Kafka \(kind.rawValue) error: \(message)" }
}
