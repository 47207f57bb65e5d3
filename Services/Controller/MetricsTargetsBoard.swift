import Synchronization

/// Where the controller publishes its nodes' Prometheus metrics targets for the service
/// discovery endpoint to read: the controller's actor writes it when what the targets are built
/// from changes, and HTTP requests read the latest document without waiting for the actor
/// (which may be busy with a deploy) and without the document being built again per request.
public final class MetricsTargetsBoard: Sendable {
    /// What the endpoint answers.
    public enum Published: Sendable, Equatable {
        /// The controller has no current view of the nodes (it stands by, is restoring its
        /// configurations or learning the nodes' states after a takeover), and why. The
        /// endpoint answers with an error, so Prometheus keeps the targets it has (HTTP SD keeps
        /// the last list on a failed refresh) instead of dropping every node.
        case unavailable(String)
        /// The HTTP service discovery document (a JSON array of target groups) of `count` nodes.
        case targets(count: Int, document: [UInt8])
    }

    private let state = Mutex<Published>(.unavailable("the controller is starting"))

    public init() {}

    public var current: Published { state.withLock { $0 } }

    func publish(_ published: Published) {
        state.withLock { $0 = published }
    }
}
