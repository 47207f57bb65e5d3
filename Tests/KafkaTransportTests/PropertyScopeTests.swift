#if canImport(Glibc)
import Glibc
#endif
@testable import KafkaTransport
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

    /// The table is read from what librdkafka prints to a `FILE *`; each kind is told apart.
    @Test func theTableNamesEachKindOfProperty() {
        #expect(PropertyScope.table["fetch.wait.max.ms"] == .consumer)
        #expect(PropertyScope.table["linger.ms"] == .producer)
        #expect(PropertyScope.table["bootstrap.servers"] == .both)
    }

    /// `open_memstream` writes the buffer's address and length through the pointers it was
    /// given at every flush and at `fclose`, after it returned, and its buffer moves as it
    /// grows: everything written before and after each flush arrives, NUL bytes included.
    @Test func capturedOutputHoldsAllThatWasWrittenAcrossFlushesAndGrowth() {
        let lines = (0..<20_000).map { "line \($0) of a stream that outgrows its first buffer many times\n" }
        let text = capturedOutput { stream in
            for (index, line) in lines.enumerated() {
                fputs(line, stream)
                if index % 1_000 == 0 { fflush(stream) }
            }
            fputc(0, stream)
            fputs("after a NUL", stream)
        }
        #expect(text == lines.joined() + "\u{0}after a NUL")
    }

    @Test func capturedOutputOfNothingIsEmpty() {
        #expect(capturedOutput { _ in } == "")
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
