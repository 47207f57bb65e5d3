import CRdKafka
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import Synchronization

/// Produces records and awaits the broker's acknowledgement of each one.
///
/// ``send(_:)`` returns only once the broker has stored the record (or throws once librdkafka
/// has given up on it), so no record is ever dropped silently: a dead broker surfaces as a
/// ``KafkaError`` of kind ``KafkaError/Kind/delivery`` within `message.timeout.ms`.
public final class KafkaProducer: Sendable {
    let client: RdKafkaClient
    private let pollThread: PollThread
    /// Partition counts learnt from the broker, by topic.
    private let partitionCounts = Mutex<[String: Int]>([:])

    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        let client = try RdKafkaClient(
            kind: .producer,
            properties: configuration.properties(role: KafkaConfiguration.Tuning.producer),
            context: ClientContext(logger: logger, errorObserver: configuration.errorObserver)
        ) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf) { _, message, _ in
                guard let message, let opaque = message.pointee._private else { return }
                Unmanaged<KafkaDelivery>.fromOpaque(opaque).takeRetainedValue().complete(message.pointee)
            }
        }
        self.client = client
        self.pollThread = PollThread(
            iteration: { _ = rd_kafka_poll(client.handle, 100) },
            finish: {
                client.close { handle in
                    // Deliver (or fail) whatever is still queued so every awaiting sender resumes.
                    _ = rd_kafka_flush(handle, 5_000)
                    rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
                    _ = rd_kafka_poll(handle, 0)
                }
            }
        )
    }

    /// Sends one record and waits for the broker to acknowledge it.
    @discardableResult
    public func send(_ record: KafkaRecord) async throws -> KafkaDeliveryReport {
        try await enqueue(record).report()
    }

    /// Hands the record to librdkafka at once and returns a handle on its delivery.
    ///
    /// Records enqueued one after another from one task or actor reach the broker in that order,
    /// which `send` called from separate tasks cannot promise; await ``KafkaDelivery/report()``
    /// (or let a background task do it) to learn the outcome.
    public func enqueue(_ record: KafkaRecord) throws -> KafkaDelivery {
        try enqueue(record, toEachOf: [record.partition])[0]
    }

    /// Hands one record per partition in `partitions` to librdkafka (nil: the partitioner
    /// chooses), all sharing one copy of the value until the last is delivered: a broadcast of
    /// a 1.5 MB configuration to 64 partitions holds 1.5 MB, not 96.
    ///
    /// If one cannot be enqueued, those before it are still sent and the error is thrown.
    public func enqueue(_ record: KafkaRecord, toEachOf partitions: [Int32?]) throws -> [KafkaDelivery] {
        guard !pollThread.isStopping else {
            throw KafkaError(.shutDown, "producer is shut down; cannot send to \(record.topic)")
        }
        let payload = RecordPayload(record.value)
        return try partitions.map { partition in
            let delivery = KafkaDelivery(topic: record.topic, payload: payload)
            let retained = Unmanaged.passRetained(delivery)
            if let error = produce(record, payload: payload, partition: partition, opaque: retained.toOpaque()) {
                retained.release()
                throw error
            }
            return delivery
        }
    }

    /// How many partitions `topic` has, asked of the broker the first time and remembered: a
    /// writer that sends a record to every partition (a broadcast) needs the count, and
    /// partitions are only ever added by an operator, with the services restarted.
    public func partitionCount(of topic: String) async throws -> Int {
        if let known = knownPartitionCount(of: topic) { return known }
        let client = self.client
        let count = try await runBlocking {
            try client.withHandle { _ in try client.partitions(of: topic, timeoutMilliseconds: 5_000).count }
        }
        partitionCounts.withLock { $0[topic] = count }
        return count
    }

    /// The partition count of `topic` if ``partitionCount(of:)`` learnt it already.
    public func knownPartitionCount(of topic: String) -> Int? {
        partitionCounts.withLock { $0[topic] }
    }

    /// Flushes queued records and releases the client. Sends after this throw.
    public func shutdown() async {
        await pollThread.stop()
    }

    private func produce(_ record: KafkaRecord, payload: RecordPayload, partition: Int32?, opaque: UnsafeMutableRawPointer) -> KafkaError? {
        guard let headers = rd_kafka_headers_new(record.headers.count) else {
            return KafkaError(.delivery, "could not allocate headers for \(record.topic)")
        }
        for header in record.headers {
            let status: rd_kafka_resp_err_t
            if let value = header.value {
                status = value.withUnsafeBytes { rd_kafka_header_add(headers, header.name, -1, $0.baseAddress, $0.count) }
            } else {
                status = rd_kafka_header_add(headers, header.name, -1, nil, 0)
            }
            if status != RD_KAFKA_RESP_ERR_NO_ERROR {
                rd_kafka_headers_destroy(headers)
                return KafkaError(.delivery, "header \(header.name)", error: status)
            }
        }
        let key = record.key ?? Data()
        let produced: OpaquePointer?
        do {
            produced = try client.withHandle { handle in
                try produce(record, payload: payload, partition: partition, key: key, headers: headers, opaque: opaque, on: handle)
            }
        } catch {
            rd_kafka_headers_destroy(headers)
            return error as? KafkaError ?? KafkaError(.shutDown, "cannot produce to \(record.topic): \(error)")
        }
        guard let error = produced else { return nil }
        // On failure the headers were not handed over to librdkafka.
        rd_kafka_headers_destroy(headers)
        let code = rd_kafka_error_code(error)
        let message = String(cString: rd_kafka_error_string(error))
        rd_kafka_error_destroy(error)
        return KafkaError(.delivery, "cannot produce to \(record.topic): \(message)", code: code.rawValue)
    }

    /// `rd_kafka_produceva` for `record` with `payload` as its value, which librdkafka reads in
    /// place (no `RD_KAFKA_MSG_F_COPY`): the record's ``KafkaDelivery`` keeps it alive until
    /// the delivery report. The error it returned, if any.
    private func produce(_ record: KafkaRecord, payload: RecordPayload, partition: Int32?, key: Data, headers: OpaquePointer,
                         opaque: UnsafeMutableRawPointer, on handle: OpaquePointer) throws -> OpaquePointer? {
        record.topic.withCString { topic in
            key.withUnsafeBytes { keyBytes in
                var values = [rd_kafka_vu_t](repeating: rd_kafka_vu_t(), count: 4)
                values[0].vtype = RD_KAFKA_VTYPE_TOPIC
                values[0].u.cstr = topic
                values[1].vtype = RD_KAFKA_VTYPE_VALUE
                values[1].u.mem.ptr = payload.bytes.baseAddress
                values[1].u.mem.size = payload.bytes.count
                values[2].vtype = RD_KAFKA_VTYPE_HEADERS
                values[2].u.headers = headers
                values[3].vtype = RD_KAFKA_VTYPE_OPAQUE
                values[3].u.ptr = opaque
                if let partition {
                    var partitionValue = rd_kafka_vu_t()
                    partitionValue.vtype = RD_KAFKA_VTYPE_PARTITION
                    partitionValue.u.i32 = partition
                    values.append(partitionValue)
                }
                if record.key != nil {
                    // librdkafka always copies keys.
                    var keyValue = rd_kafka_vu_t()
                    keyValue.vtype = RD_KAFKA_VTYPE_KEY
                    keyValue.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyBytes.baseAddress)
                    keyValue.u.mem.size = keyBytes.count
                    values.append(keyValue)
                }
                return rd_kafka_produceva(handle, &values, values.count)
            }
        }
    }
}

/// A record's value in memory of its own, which librdkafka reads until delivery: shared by
/// the copies of a broadcast and freed when the last of their deliveries lets go of it.
final class RecordPayload: Sendable {
    /// Written once, in `init`, and only read after.
    nonisolated(unsafe) let bytes: UnsafeMutableRawBufferPointer

    init(_ value: Data) {
        bytes = .allocate(byteCount: value.count, alignment: 1)
        value.withUnsafeBytes { bytes.copyMemory(from: $0) }
    }

    deinit {
        bytes.deallocate()
    }
}

/// The outcome of one enqueued record, completed by librdkafka's delivery report callback
/// (which receives it as the record's opaque pointer).
public final class KafkaDelivery: Sendable {
    private struct State {
        /// The value librdkafka reads until it reports the delivery.
        var payload: RecordPayload?
        var result: Result<KafkaDeliveryReport, KafkaError>?
        var waiters: [CheckedContinuation<KafkaDeliveryReport, any Error>] = []
        var failureHandlers: [@Sendable (KafkaError) -> Void] = []
    }

    public let topic: String
    private let state: Mutex<State>

    init(topic: String, payload: RecordPayload) {
        self.topic = topic
        state = Mutex(State(payload: payload))
    }

    /// Whether the record's value is still held for librdkafka: until its delivery is reported.
    var holdsValue: Bool { state.withLock { $0.payload != nil } }

    /// Waits until the broker stored the record, or throws why it was not delivered.
    public func report() async throws -> KafkaDeliveryReport {
        try await withCheckedThrowingContinuation { continuation in
            let done: Result<KafkaDeliveryReport, KafkaError>? = state.withLock { state in
                if state.result == nil { state.waiters.append(continuation) }
                return state.result
            }
            if let done { continuation.resume(with: done) }
        }
    }

    /// Runs `handler` if the record is not delivered (on the client's poll thread, or at once
    /// if that is already known). For fire-and-forget publishing that still reports failures,
    /// without a task waiting on every record.
    public func whenFailed(_ handler: @escaping @Sendable (KafkaError) -> Void) {
        let failure: KafkaError? = state.withLock { state in
            guard let result = state.result else {
                state.failureHandlers.append(handler)
                return nil
            }
            if case .failure(let error) = result { return error }
            return nil
        }
        if let failure { handler(failure) }
    }

    fileprivate func complete(_ message: rd_kafka_message_t) {
        let result: Result<KafkaDeliveryReport, KafkaError> = message.err == RD_KAFKA_RESP_ERR_NO_ERROR
            ? .success(KafkaDeliveryReport(topic: topic, partition: message.partition, offset: message.offset))
            : .failure(KafkaError(.delivery, "record for \(topic) not delivered", error: message.err))
        let (waiters, handlers) = state.withLock { state in
            guard state.result == nil else { return ([CheckedContinuation<KafkaDeliveryReport, any Error>](), [@Sendable (KafkaError) -> Void]()) }
            state.result = result
            state.payload = nil
            defer { state.waiters = []; state.failureHandlers = [] }
            return (state.waiters, state.failureHandlers)
        }
        waiters.forEach { $0.resume(with: result) }
        if case .failure(let error) = result { handlers.forEach { $0(error) } }
    }
}
