import KafkaTransport
import Logging
import Synchronization
import Testing

@Suite("Properties given to every client")
struct PropertyScopeTests {
    /// Operators set consumer properties (`--kafka-option fetch.wait.max.ms=50`) for a whole
    /// process; its producers must not warn about them at every start.
    @Test func aConsumerPropertyDoesNotMakeAProducerWarn() async throws {
        let log = CapturedLog()
        let logger = Logger(label: "property-scope") { _ in log }
        let configuration = KafkaConfiguration(bootstrapServers: ["127.0.0.1:9"], clientID: "property-scope",
                                               overrides: ["fetch.wait.max.ms": "50", "session.timeout.ms": "7000"])
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        await producer.shutdown()
        let warnings = log.messages.filter { $0.contains("consumer property") || $0.contains("CONFWARN") }
        #expect(warnings.isEmpty, "\(warnings)")
    }

    @Test func aMisspeltPropertyIsStillRejected() throws {
        let configuration = KafkaConfiguration(bootstrapServers: ["127.0.0.1:9"], clientID: "property-scope",
                                               overrides: ["fetch.wait.max.msec": "50"])
        #expect(throws: KafkaError.self) { try KafkaProducer(configuration: configuration, logger: Logger(label: "property-scope")) }
    }
}

/// Keeps every log message, from whichever thread librdkafka logs on.
private final class CapturedLog: LogHandler, Sendable {
    private let lines = Mutex<[String]>([])
    var messages: [String] { lines.withLock { $0 } }

    var logLevel: Logger.Level {
        get { .trace }
        set {}
    }

    var metadata: Logger.Metadata {
        get { [:] }
        set {}
    }

    subscript(metadataKey _: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }

    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        lines.withLock { $0.append(message.description) }
    }
}
