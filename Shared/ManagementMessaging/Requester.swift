import ManagementTypes
import Synchronization

/// The one way every part of the system asks and waits: the controller asking agents, an
/// agent asking its supervisor, an operator's client asking the controller.
///
/// It registers the request id before publishing (so a fast response cannot be missed),
/// publishes, and waits until the request's deadline. Whoever reads the bus hands responses
/// to ``deliver(_:)``. A request ends in its response or in a ``RequestFailure`` that names
/// what went wrong: no answer by the deadline, a publish the bus refused, a response that does
/// not decode.
public final class Requester: Sendable {
    public let bus: any MessageBus
    public let clock: any ManagementClock
    private let pending: PendingResponses<InboundMessage>
    /// Broadcast requests collecting responses, by reqid.
    private let gatherings = Mutex<[String: AsyncStream<Gathering>.Continuation]>([:])
    /// Who must answer each request sent to one endpoint, by reqid: an answer with the same
    /// reqid from anyone else (another host that read the request) is not its answer.
    private let responders = Mutex<[String: String]>([:])

    public init(bus: any MessageBus, clock: any ManagementClock = SystemClock()) {
        self.bus = bus
        self.clock = clock
        pending = PendingResponses(clock: clock)
    }

    /// Publishes `request` on `topic` to `target` and returns its response, or throws why
    /// there is none by `deadline`. With `replyTo` the response is asked for there (see
    /// ``Topic/replies``); the caller reads that topic.
    public func request<Request: ManagementRequest>(
        _ request: Request, on topic: Topic, target: String?, replyTo: Topic? = nil, until deadline: ContinuousClock.Instant
    ) async throws(RequestFailure) -> Request.Response {
        let message = try await response(to: request, on: topic, target: target, replyTo: replyTo, until: deadline)
        do throws(WireDecodingError) {
            return try message.decode(Request.Response.self).event
        } catch {
            throw .undecodableResponse(error)
        }
    }

    /// Publishes `request` and returns the message that answers it, undecoded.
    public func response<Request: ManagementRequest>(
        to request: Request, on topic: Topic, target: String?, replyTo: Topic? = nil, until deadline: ContinuousClock.Instant
    ) async throws(RequestFailure) -> InboundMessage {
        let (bus, pending, reqid) = (bus, pending, request.reqid)
        if let target { responders.withLock { $0[reqid] = target } }
        defer { if target != nil { responders.withLock { $0[reqid] = nil } } }
        pending.register(reqid)
        do {
            return try await withThrowingTaskGroup(of: InboundMessage?.self) { group in
                group.addTask {
                    do {
                        try await bus.publish(request, to: topic, target: target, replyTo: replyTo)
                    } catch {
                        throw RequestFailure.notPublished("\(error)")
                    }
                    return nil
                }
                group.addTask { try await pending.response(for: reqid, until: deadline) }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let message = next { return message }
                }
                throw CancellationError()
            }
        } catch {
            throw RequestFailure(waitingFailed: error)
        }
    }

    /// Publishes `request` once for everyone reading `topic` (untargeted: on a partitioned topic
    /// one record per partition, however many responders there are) and collects the responses
    /// of `responders`, told apart by their `sender`, in arrival order, until each answered or
    /// `deadline` passed. Responders silent by then come last, sorted, with
    /// ``RequestFailure/timedOut``; a publish that failed gives each one
    /// ``RequestFailure/notPublished(_:)``. Responses from others are ignored.
    ///
    /// One request to many, instead of one per responder: what the controller sends to its
    /// agents does not grow with their number. With `replyTo` the responses are asked for there.
    ///
    /// Up to ``addressedBroadcastLimit`` responders, the request is instead written once to
    /// each of them (same reqid, addressed, on its own partition): a broadcast is a copy on
    /// every partition of the topic (64), and a handful of addressed copies costs the broker
    /// far less. Responders read both alike.
    public func broadcast<Request: ManagementRequest>(
        _ request: Request, on topic: Topic, to responders: Set<String>, replyTo: Topic? = nil, until deadline: ContinuousClock.Instant
    ) async -> [(responder: String, result: Result<Request.Response, RequestFailure>)] {
        guard !responders.isEmpty else { return [] }
        let (bus, clock, reqid) = (bus, clock, request.reqid)
        let targets: [String?] = responders.count <= Self.addressedBroadcastLimit ? responders.sorted() : [nil]
        let (events, continuation) = AsyncStream<Gathering>.makeStream()
        gatherings.withLock { $0[reqid] = continuation }
        defer {
            gatherings.withLock { $0[reqid] = nil }
            continuation.finish()
        }
        return await withTaskGroup(of: Void.self) { group in
            for target in targets {
                group.addTask {
                    do {
                        try await bus.publish(request, to: topic, target: target, replyTo: replyTo)
                    } catch {
                        continuation.yield(.notPublished("\(error)"))
                    }
                }
            }
            group.addTask {
                try? await clock.sleep(until: deadline)
                continuation.yield(.deadline)
            }
            defer { group.cancelAll() }
            var answers: [(responder: String, result: Result<Request.Response, RequestFailure>)] = []
            var waiting = responders
            var silence = RequestFailure.cancelled
            gathering: for await event in events {
                switch event {
                case .response(let message):
                    guard waiting.remove(message.head.sender) != nil else { continue }
                    do throws(WireDecodingError) {
                        answers.append((message.head.sender, .success(try message.decode(Request.Response.self).event)))
                    } catch {
                        answers.append((message.head.sender, .failure(.undecodableResponse(error))))
                    }
                    if waiting.isEmpty { break gathering }
                case .notPublished(let reason):
                    silence = .notPublished(reason)
                    break gathering
                case .deadline:
                    silence = .timedOut
                    break gathering
                }
            }
            return answers + waiting.sorted().map { ($0, .failure(silence)) }
        }
    }

    /// Up to this many responders a broadcast is written to each of them instead of to every
    /// partition (see ``broadcast(_:on:to:replyTo:until:)``).
    public static let addressedBroadcastLimit = 8

    /// What a broadcast request waits for.
    enum Gathering: Sendable {
        case response(InboundMessage)
        case notPublished(String)
        case deadline
    }

    /// Announces a response to a request published some other way (raw bytes, a relay), to be
    /// awaited with ``response(to:until:)``.
    public func expect(_ reqid: String) {
        pending.register(reqid)
    }

    /// The response to a request announced with ``expect(_:)``, undecoded.
    public func response(to reqid: String, until deadline: ContinuousClock.Instant) async throws(RequestFailure) -> InboundMessage {
        do {
            return try await pending.response(for: reqid, until: deadline)
        } catch {
            throw RequestFailure(waitingFailed: error)
        }
    }

    /// Hands `message` to the request waiting for it; false if it answers none of this
    /// requester's requests (another requester's, or one given up on).
    @discardableResult
    public func deliver(_ message: InboundMessage) -> Bool {
        guard message.event.hasSuffix("_response"), let reqid = message.reqid else { return false }
        if let gathering = gatherings.withLock({ $0[reqid] }) {
            gathering.yield(.response(message))
            return true
        }
        if let responder = responders.withLock({ $0[reqid] }), responder != message.head.sender { return false }
        return pending.deliver(message, for: reqid)
    }
}

/// Why a request has no response.
public enum RequestFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing answered by the request's deadline.
    case timedOut
    /// The bus did not take the request (the broker is down, the message too large, ...).
    case notPublished(String)
    /// An answer came but does not decode as the request's response.
    case undecodableResponse(WireDecodingError)
    /// The requester stopped waiting (it is shutting down).
    case cancelled

    /// Why a wait for a response ended without one: its own failure, a timeout, or else the
    /// waiting task was cancelled.
    init(waitingFailed error: any Error) {
        switch error {
        case let failure as RequestFailure: self = failure
        case is RequestTimeout: self = .timedOut
        default: self = .cancelled
        }
    }

    /// Worded as a `Management::Result`'s error; a timeout as Zeek words it.
    public var description: String {
        switch self {
        case .timedOut: "request timed out"
        case .notPublished(let reason): "request not sent: \(reason)"
        case .undecodableResponse(let error): "invalid response: \(error)"
        case .cancelled: "request cancelled"
        }
    }
}
