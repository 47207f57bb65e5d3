import ManagementTypes

/// A Zeek event as carried in an envelope: its stored properties are the event's arguments,
/// encoded under their Zeek names.
public protocol ManagementEvent: Codable, Sendable {
    /// The fully qualified Zeek event name, e.g. `Management::Agent::API::deploy_request`.
    static var eventName: String { get }
    /// The API version constant of the event's namespace.
    static var apiVersion: Int { get }
}

extension ManagementEvent {
    public static var apiVersion: Int { 1 }
}

/// An event that expects exactly one response carrying the same `reqid`.
public protocol ManagementRequest: ManagementEvent {
    /// The event that answers this one, also when it cannot be served.
    associatedtype Response: ManagementResponse
    var reqid: String { get }
}

/// An event that answers a ``ManagementRequest``.
public protocol ManagementResponse: ManagementEvent {
    /// The answer to a request that cannot be served at all (its arguments do not decode), in
    /// the namespace's own shape, so that its sender hears back instead of timing out.
    init(reqid: String, failure error: String, instance: String?)
    /// Whether the response reports success throughout (for request metrics).
    var succeeded: Bool { get }
}

extension ManagementResponse {
    /// The failure answering `message`, a request whose arguments did not decode; nil if it has
    /// no usable reqid to answer.
    public init?(rejecting message: InboundMessage, _ error: WireDecodingError, instance: String?) {
        guard let reqid = message.reqid else { return nil }
        self.init(reqid: reqid, failure: "invalid \(message.event): \(error)", instance: instance)
    }
}

/// Which `target`s an endpoint accepts (see the design's Addressing section).
public enum AddressFilter: Sendable, Hashable {
    /// Messages whose target is one of `names`, and, if `orUntargeted`, those without a target.
    case targets(Set<String>, orUntargeted: Bool)
    /// Everything (monitors, and observers of notify topics).
    case everything

    public func accepts(target: String?) -> Bool {
        switch self {
        case .everything:
            return true
        case let .targets(names, orUntargeted):
            guard let target else { return orUntargeted }
            return names.contains(target)
        }
    }
}
