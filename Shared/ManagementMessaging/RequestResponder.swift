import ManagementTypes

/// Answers the requests of one API topic: decodes each into the type registered for its event
/// name, runs that type's handler and publishes the response to the requester on the same topic
/// (or on its ``Topic/replies``, when the request asks for that).
///
/// Every request with a usable `reqid` gets exactly one response, as the framework promises:
/// one whose arguments do not decode is answered with its response type's failure, so that its
/// sender hears why instead of waiting for a timeout. A ``Completion`` ends once the response
/// is stored by the bus: only then may the request be marked handled (committed), so a request
/// whose endpoint dies before answering is read again by whoever takes over.
///
/// **Request lifetime, one rule for every service.** A request lives from its envelope's `ts`
/// until `ts` + the serving endpoint's request timeout (its *deadline*). One that arrives after
/// its deadline (an endpoint catching up after a restart or a failover) is not replayed: it is
/// skipped, or, where a client may still be waiting (``ExpiredRequests/answered``, the
/// controller), answered with its response type's failure saying it expired. The handler is
/// given the deadline, and what it waits for on the request's behalf (other endpoints, nodes)
/// ends by then.
public struct RequestResponder: Sendable {
    /// Who asked, and until when the answer is awaited.
    public struct Context: Sendable {
        /// The requester's endpoint name; the response goes to it.
        public var requester: String
        /// The request's deadline (see the type's documentation).
        public var deadline: ContinuousClock.Instant
        /// Whether the request was sent to everyone (no target), not to this endpoint by name.
        public var isBroadcast: Bool
        /// Where the response goes (``InboundMessage/replyTopic``).
        public var replyTopic: Topic
        /// Who signed the request, as the bus verified; nil on an unsigned bus.
        public var authentication: Authentication?
    }

    /// What became of one request, for logs and metrics.
    public enum Outcome: Sendable {
        /// Answered; `succeeded` as the response says.
        case answered(succeeded: Bool)
        /// The handler chose not to answer (as Zeek's controller does for some requests).
        case unanswered
        /// No handler is registered for the event.
        case unknown
        /// The arguments did not decode; answered with a failure if the request had a reqid.
        case malformed(WireDecodingError, answered: Bool)
        /// Arrived after its deadline: not carried out; `answered` if its sender was told so.
        case expired(answered: Bool)
        /// Answered, but the response could not be published (the broker is down, say).
        case unpublished(String)
        /// The endpoint stopped before it answered: not answered and not to be marked handled,
        /// so whoever reads the request next (a standby, the restarted endpoint) answers it.
        case abandoned

        /// Whether the outcome is worth a warning (the request was bad, or was dropped, or its
        /// answer was lost) rather than an informational line.
        public var isWarning: Bool {
            switch self {
            case .malformed, .unpublished, .expired: true
            default: false
            }
        }

        /// Whether the request may be marked handled (committed).
        public var isSettled: Bool {
            if case .abandoned = self { return false }
            return true
        }

        /// A one-word label: `success`, `failure`, `unanswered`, `unknown`, `malformed` or `expired`.
        public var label: String {
            switch self {
            case .answered(let succeeded): succeeded ? "success" : "failure"
            case .unanswered: "unanswered"
            case .unknown: "unknown"
            case .malformed: "malformed"
            case .expired: "expired"
            case .unpublished: "unpublished"
            case .abandoned: "abandoned"
            }
        }

        /// What went wrong with `message`, worded for a log line or a `notify_error`; nil if
        /// nothing did.
        public func problem(with message: InboundMessage) -> String? {
            let (event, sender) = (message.event, message.head.sender)
            return switch self {
            case .answered, .unanswered: nil
            case .unknown: "ignoring unknown request \(event) from \(sender)"
            case .malformed(let error, answered: true): "invalid \(event) from \(sender): \(error)"
            case .malformed(let error, answered: false): "dropped \(event) from \(sender) without a usable reqid: \(error)"
            case .expired(answered: false): "skipping expired \(event) from \(sender)"
            case .expired(answered: true): "answered expired \(event) from \(sender) as expired, without carrying it out"
            case .unpublished(let reason): "could not publish the response to \(event) from \(sender): \(reason)"
            case .abandoned: "left \(event) from \(sender) unanswered for whoever reads it next: stopping"
            }
        }
    }

    /// Takes a request in arrival order and returns what completes its answer.
    private typealias Handler = @Sendable (InboundMessage, Context) async -> Completion

    /// What becomes of a request read after its deadline.
    public enum ExpiredRequests: Sendable {
        /// Skipped without an answer: whoever asked has given up (another service, which timed
        /// the request out on its own clock).
        case skipped
        /// Answered with the response type's failure, `expired: …`: a client (zeek-client
        /// waits 20 s) may still be waiting, and hears that nothing was done rather than
        /// nothing at all (contract 3.3).
        case answered
    }

    /// The rest of answering one request, to be run wherever the service runs slow work;
    /// returns what became of the request.
    public typealias Completion = @Sendable () async -> Outcome

    /// How one registered event is served.
    private struct Registration: Sendable {
        /// Its answer, for a request read in time.
        var handle: Handler
        /// Its answer to a request read `age` after it was sent, past its deadline: the failure
        /// saying it expired (``ExpiredRequests/answered``).
        var answerExpired: @Sendable (InboundMessage, Context, _ age: Duration) -> Completion
    }

    private var registrations: [String: Registration] = [:]
    private let bus: any MessageBus
    private let lifetime: Duration
    private let instance: String?
    private let expired: ExpiredRequests

    /// - Parameters:
    ///   - lifetime: the serving endpoint's request timeout; see the type's documentation.
    ///   - instance: named in the failed Results of requests that do not decode (an agent
    ///     names itself; the controller names nobody).
    ///   - expired: whether requests read after their deadline are answered.
    public init(through bus: any MessageBus, lifetime: Duration, instance: String? = nil, expired: ExpiredRequests = .skipped) {
        self.bus = bus
        self.lifetime = lifetime
        self.instance = instance
        self.expired = expired
    }

    /// Serves `Request` with `handle`, which returns the response, or nil to leave the request
    /// unanswered. It runs in ``Completion``: requests are answered concurrently.
    public mutating func on<Request: ManagementRequest>(
        _ type: Request.Type, _ handle: @escaping @Sendable (Request, Context) async -> Request.Response?
    ) {
        on(type, inOrder: { request, context in { await handle(request, context) } })
    }

    /// Serves `Request` in two steps: `takeInOrder` runs in arrival order, before the next
    /// request is taken (for state that must change in the order requests were sent: a
    /// supervisor's nodes), and returns what produces the response, which runs in
    /// ``Completion`` (for what takes long: waiting for a process to stop).
    public mutating func on<Request: ManagementRequest>(
        _: Request.Type, inOrder takeInOrder: @escaping @Sendable (Request, Context) async -> @Sendable () async -> Request.Response?
    ) {
        let (bus, instance, lifetime) = (bus, instance, lifetime)
        let handle: Handler = { message, context in
            let request: Request
            do throws(WireDecodingError) {
                request = try message.decode(Request.self).event
            } catch {
                guard let failure = Request.Response(rejecting: message, error, instance: instance) else {
                    return { .malformed(error, answered: false) }
                }
                return { await Self.publish(failure, through: bus, context: context, then: .malformed(error, answered: true)) }
            }
            let respond = await takeInOrder(request, context)
            return {
                let response = await respond()
                // What was waited for on the request's behalf ended because this endpoint stops.
                guard !Task.isCancelled else { return .abandoned }
                guard let response else { return .unanswered }
                return await Self.publish(response, through: bus, context: context, then: .answered(succeeded: response.succeeded))
            }
        }
        registrations[Request.eventName] = Registration(handle: handle) { message, context, age in
            guard let reqid = message.reqid else { return { .expired(answered: false) } }
            let failure = Request.Response(reqid: reqid, failure: RequestResponder.expiryError(age: age, lifetime: lifetime), instance: instance)
            return { await Self.publish(failure, through: bus, context: context, then: .expired(answered: true)) }
        }
    }

    /// Publishes `response` to the requester of `context`: `outcome` once stored, else why not.
    private static func publish<Response: ManagementResponse>(
        _ response: Response, through bus: any MessageBus, context: Context, then outcome: Outcome
    ) async -> Outcome {
        do {
            try await bus.publish(response, to: context.replyTopic, target: context.requester)
            return outcome
        } catch {
            return .unpublished("\(error)")
        }
    }

    /// Takes `message` in arrival order (unless its deadline passed) and returns what
    /// completes its answer.
    public func accept(_ message: InboundMessage, clock: any ManagementClock) async -> Completion {
        guard let registration = registrations[message.event] else { return { .unknown } }
        let deadline = message.deadline(lifetime: lifetime, clock: clock)
        let context = Context(requester: message.head.sender, deadline: deadline, isBroadcast: message.head.target == nil,
                              replyTopic: message.replyTopic, authentication: message.authentication)
        guard clock.now < deadline else {
            guard expired == .answered else { return { .expired(answered: false) } }
            return registration.answerExpired(message, context, clock.now - (deadline - lifetime))
        }
        return await registration.handle(message, context)
    }

    /// The failed Result's text for a request read `age` after it was sent, past `lifetime`.
    static func expiryError(age: Duration, lifetime: Duration) -> String {
        let tenths = { (duration: Duration) in (duration.timeInterval * 10).rounded() / 10 }
        return "expired: the request was sent \(tenths(age)) s ago, past the request timeout of \(tenths(lifetime)) s; "
            + "this endpoint did not carry it out. One that read it before a failover may have, in part: "
            + "check with get-nodes or get-config, then send it again with a new reqid"
    }

    /// Answers `message` with the handler of its event, unless its deadline passed.
    public func respond(to message: InboundMessage, clock: any ManagementClock) async -> Outcome {
        await accept(message, clock: clock)()
    }

    /// Told what became of each request a service served, and how long it took from arrival:
    /// where a service logs, counts or reports its requests.
    public typealias Observer = @Sendable (_ request: InboundMessage, _ outcome: Outcome, _ duration: Duration) async -> Void

    /// Serves one request read from the bus, the one way every service does: takes it in
    /// arrival order (``accept(_:clock:)``), completes its answer in `work` (a deploy takes
    /// seconds, and nothing else waits for it), tells `observer` what became of it, and marks
    /// it handled only once settled, so that an endpoint that dies first leaves the request to
    /// whoever reads it next.
    public func serve(_ message: InboundMessage, in work: BackgroundWork, clock: any ManagementClock, observer: @escaping Observer) async {
        let started = clock.now
        let complete = await accept(message, clock: clock)
        work.submit { [bus] in
            let outcome = await complete()
            await observer(message, outcome, clock.now - started)
            if outcome.isSettled { bus.handled(message) }
        }
    }

    /// Whether `message` is a request (rather than a response or a notification), by the
    /// event naming every API of the contract follows.
    public static func isRequest(_ message: InboundMessage) -> Bool {
        message.event.hasSuffix("_request")
    }
}
