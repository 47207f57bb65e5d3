#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Synchronization

extension KafkaConsumer {
    /// How many fetched records a consumer holds for its reader: the poll thread stops fetching
    /// when ``highWatermark`` records wait, and starts again once the reader has brought them
    /// down to ``lowWatermark``.
    ///
    /// Without a limit a reader that stalls (a slow handler, a wedged task) would let the poll
    /// thread copy every record of a busy topic into memory. The gap between the marks keeps
    /// the thread from waking for every single record the reader takes. The defaults suit
    /// control-plane messages, which are small and few; librdkafka additionally prefetches up
    /// to `queued.max.messages.kbytes` (1 MiB, see ``KafkaConfiguration/Tuning``).
    public struct BufferLimits: Sendable, Hashable {
        /// Fetching resumes once no more than this many records wait.
        public var lowWatermark: Int
        /// Fetching pauses once this many records wait; never more are buffered.
        public var highWatermark: Int

        /// - Precondition: `0 <= lowWatermark <= highWatermark` and `highWatermark >= 1`.
        public init(lowWatermark: Int = 10, highWatermark: Int = 100) {
            precondition(highWatermark >= 1, "highWatermark must be at least 1, not \(highWatermark)")
            precondition((0...highWatermark).contains(lowWatermark),
                         "lowWatermark must be between 0 and highWatermark (\(highWatermark)), not \(lowWatermark)")
            self.lowWatermark = lowWatermark
            self.highWatermark = highWatermark
        }
    }

    /// The records a consumer delivers, in the order librdkafka fetched them; ends when the
    /// consumer shuts down. Made for one reader at a time: two tasks waiting for a record at
    /// once is a programming error and traps, as it does with an `AsyncStream`.
    ///
    /// Unlike an `AsyncStream`, the sequence has a bounded buffer (see ``BufferLimits``): a
    /// reader that falls behind pauses fetching instead of letting records pile up in memory.
    /// An iteration that ends because its task was cancelled loses nothing: records not yet
    /// taken stay buffered for the next iterator.
    public struct Messages: AsyncSequence, Sendable {
        public typealias Element = KafkaMessage
        public typealias Failure = Never

        let buffer: MessageBuffer

        public struct AsyncIterator: AsyncIteratorProtocol {
            public typealias Element = KafkaMessage
            public typealias Failure = Never

            let buffer: MessageBuffer
            private var ended = false

            init(buffer: MessageBuffer) { self.buffer = buffer }

            public mutating func next() async -> KafkaMessage? {
                if ended { return nil }
                let message = await buffer.next()
                ended = message == nil
                return message
            }

            public mutating func next(isolation actor: isolated (any Actor)?) async -> KafkaMessage? {
                if ended { return nil }
                let message = await buffer.next()
                ended = message == nil
                return message
            }
        }

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(buffer: buffer)
        }

        /// The same records in runs: each element is every record already waiting (at least
        /// one, at most `limit`), so a reader can work on a burst at once, such as verifying
        /// a thousand answers on several cores. Not to be iterated beside ``Messages``.
        public func batches(limit: Int) -> Batches {
            Batches(buffer: buffer, limit: Swift.max(1, limit))
        }
    }

    /// Runs of the records that wait together (see ``Messages/batches(limit:)``).
    public struct Batches: AsyncSequence, Sendable {
        public typealias Element = [KafkaMessage]
        public typealias Failure = Never

        let buffer: MessageBuffer
        let limit: Int

        public struct AsyncIterator: AsyncIteratorProtocol {
            public typealias Element = [KafkaMessage]
            public typealias Failure = Never

            let buffer: MessageBuffer
            let limit: Int
            private var ended = false

            init(buffer: MessageBuffer, limit: Int) {
                self.buffer = buffer
                self.limit = limit
            }

            public mutating func next() async -> [KafkaMessage]? {
                if ended { return nil }
                let batch = await buffer.nextBatch(limit: limit)
                ended = batch == nil
                return batch
            }

            public mutating func next(isolation actor: isolated (any Actor)?) async -> [KafkaMessage]? {
                if ended { return nil }
                let batch = await buffer.nextBatch(limit: limit)
                ended = batch == nil
                return batch
            }
        }

        public func makeAsyncIterator() -> AsyncIterator {
            AsyncIterator(buffer: buffer, limit: limit)
        }
    }
}

/// The records between a consumer's poll thread and its reader, with watermarks. Where the
/// group's position may move is ``HandledOffsets``' business.
///
final class MessageBuffer: Sendable {
    private struct State {
        /// Buffered entries from `head` on; slots before `head` were taken and are nil.
        var entries: [KafkaMessage?] = []
        var head = 0
        var reader: (id: UInt64, continuation: CheckedContinuation<KafkaMessage?, Never>)?
        var nextReaderID: UInt64 = 0
        /// Set at the high watermark, cleared at the low one; the poll thread sleeps while set.
        var fetchPaused = false
        var finished = false

        var count: Int { entries.count - head }

        mutating func popFirst() -> KafkaMessage? {
            guard head < entries.count else { return nil }
            let entry = entries[head].take()
            head += 1
            if head == entries.count {
                entries.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 32, head * 2 >= entries.count {
                entries.removeFirst(head)
                head = 0
            }
            return entry
        }
    }

    private enum Take {
        case message(KafkaMessage, resumeFetching: Bool)
        case ended
        case empty
    }

    private let state = Mutex(State())
    private let limits: KafkaConsumer.BufferLimits
    private let fetching: ThreadParking

    /// - Parameter fetching: where the poll thread sleeps while ``isFetchPaused``; woken on resuming.
    init(limits: KafkaConsumer.BufferLimits, fetching: ThreadParking) {
        self.limits = limits
        self.fetching = fetching
    }

    /// Records waiting for the reader.
    var count: Int { state.withLock { $0.count } }

    /// True while the poll thread should not fetch (the high watermark was reached and the
    /// reader has not yet drained to the low one).
    var isFetchPaused: Bool { state.withLock { $0.fetchPaused } }

    // MARK: Poll thread

    /// Hands `message` to a waiting reader, or buffers it.
    func deliver(_ message: KafkaMessage) {
        let reader: CheckedContinuation<KafkaMessage?, Never>? = state.withLock { state in
            if state.finished { return nil }
            if let reader = state.reader.take() {
                // A reader waits only when nothing is buffered.
                return reader.continuation
            }
            state.entries.append(message)
            if state.count >= limits.highWatermark { state.fetchPaused = true }
            return nil
        }
        reader?.resume(returning: message)
    }

    /// Ends the sequence: a waiting reader gets nil, as does every later request. Buffered
    /// records are dropped; for a group member they were not handled, so the group delivers
    /// them again (to this member after a restart, or to another).
    func finish() {
        let reader = state.withLock { state in
            state.finished = true
            state.entries = []
            state.head = 0
            state.fetchPaused = false
            return state.reader.take()
        }
        reader?.continuation.resume(returning: nil)
    }

    // MARK: Reader

    /// The next record, waiting for one if none is buffered; nil once finished, or if the
    /// calling task is cancelled while it waits.
    func next() async -> KafkaMessage? {
        switch state.withLock({ take(&$0) }) {
        case let .message(message, resumeFetching):
            if resumeFetching { fetching.wake() }
            return message
        case .ended:
            return nil
        case .empty:
            break
        }
        return await wait()
    }

    /// The next record, waiting for one if none is buffered, with those buffered behind it (up
    /// to `limit` in all); nil once finished, or if the calling task is cancelled while it waits.
    func nextBatch(limit: Int) async -> [KafkaMessage]? {
        guard let first = await next() else { return nil }
        var batch = [first]
        var resumeFetching = false
        state.withLock { state in
            while batch.count < limit, case let .message(message, resume) = take(&state) {
                batch.append(message)
                resumeFetching = resumeFetching || resume
            }
        }
        if resumeFetching { fetching.wake() }
        return batch
    }

    private func wait() async -> KafkaMessage? {
        let id = state.withLock { state in
            defer { state.nextReaderID &+= 1 }
            return state.nextReaderID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KafkaMessage?, Never>) in
                let immediate: Take = state.withLock { state in
                    // Something may have arrived since the first look.
                    let taken = take(&state)
                    guard case .empty = taken else { return taken }
                    if Task.isCancelled { return .ended }
                    precondition(state.reader == nil, "KafkaConsumer.messages is iterated by more than one task at a time")
                    state.reader = (id, continuation)
                    return .empty
                }
                switch immediate {
                case let .message(message, resumeFetching):
                    if resumeFetching { fetching.wake() }
                    continuation.resume(returning: message)
                case .ended:
                    continuation.resume(returning: nil)
                case .empty:
                    break
                }
            }
        } onCancel: {
            let reader = state.withLock { state -> CheckedContinuation<KafkaMessage?, Never>? in
                guard let reader = state.reader, reader.id == id else { return nil }
                state.reader = nil
                return reader.continuation
            }
            reader?.resume(returning: nil)
        }
    }

    /// Takes the first buffered record, resuming fetching at the low watermark.
    private func take(_ state: inout State) -> Take {
        if state.finished { return .ended }
        guard let message = state.popFirst() else { return .empty }
        var resume = false
        if state.fetchPaused, state.count <= limits.lowWatermark {
            state.fetchPaused = false
            resume = true
        }
        return .message(message, resumeFetching: resume)
    }
}
