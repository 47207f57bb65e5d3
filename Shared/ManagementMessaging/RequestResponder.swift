import ManagementTypes

/// Answers the requests of one API topic: decodes each into the type registered for its event
/// name, runs that type's handler and publishes the response to the requester on the same topic.
///
/// Every request with a usable `reqid` gets exactly one response, as the framework promises:
/// one whose arguments do not decode is answered with its response type's failure, so that its
/// sender hears why instead of waiting for a timeout.
public struct RequestResponder: Sendable {
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

        /// A one-word label: `success`, `failure`, `unanswered`, `unknown` or `malformed`.
        public var label: String {
            switch self {
            case .answered(let succeeded): succeeded ? "success" : "failure"
            case .unanswered: "unanswered"
            case .unknown: "unknown"
            case .malformed: "malformed"
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
            }
        }
    }

    private var handlers: [String: @Sendable (InboundMessage) async -> Outcome] = [:]
    private let endpoint: ManagementEndpoint
    private let topic: Topic
    private let instance: String?

    /// - Parameter instance: named in the failed Results of requests that do not decode (an
    ///   agent names itself; the controller names nobody).
    public init(answeringOn topic: Topic, through endpoint: ManagementEndpoint, instance: String? = nil) {
        self.endpoint = endpoint
        self.topic = topic
        self.instance = instance
    }

    /// Serves `Request` with `handle`, which returns the response, or nil to leave the request
    /// unanswered; it is also told who sent the request.
    public mutating func on<Request: ManagementRequest>(
        _: Request.Type, _ handle: @escaping @Sendable (Request, _ requester: String) async -> Request.Response?
    ) {
        let (endpoint, topic, instance) = (endpoint, topic, instance)
        handlers[Request.eventName] = { message in
            let requester = message.head.sender
            let request: Request
            do throws(WireDecodingError) {
                request = try message.decode(Request.self).event
            } catch {
                guard let failure = Request.Response(rejecting: message, error, instance: instance) else {
                    return .malformed(error, answered: false)
                }
                endpoint.enqueue(failure, to: topic, target: requester)
                return .malformed(error, answered: true)
            }
            guard let response = await handle(request, requester) else { return .unanswered }
            endpoint.enqueue(response, to: topic, target: requester)
            return .answered(succeeded: response.succeeded)
        }
    }

    /// Answers `message` with the handler of its event.
    public func respond(to message: InboundMessage) async -> Outcome {
        guard let handler = handlers[message.event] else { return .unknown }
        return await handler(message)
    }
}
