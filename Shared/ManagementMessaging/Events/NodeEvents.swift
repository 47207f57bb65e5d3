import ManagementTypes

/// `Management::Node::API`: between an agent and its cluster nodes, on `Management.Node.API`.
public enum NodeAPI {
    /// Asks nodes to run `action` (`["get_id_value", "<id>"]`); `nodes` empty means all.
    public struct DispatchRequest: ManagementRequest {
        public static let eventName = "Management::Node::API::node_dispatch_request"
        public typealias Response = DispatchResponse
        public var reqid: String
        public var action: [String]
        @ZeekSet public var nodes: Set<String>

        public init(reqid: String, action: [String], nodes: Set<String> = []) {
            self.reqid = reqid
            self.action = action
            self.nodes = nodes
        }
    }

    public struct DispatchResponse: ResultResponse {
        public static let eventName = "Management::Node::API::node_dispatch_response"
        public var reqid: String
        public var result: Management.Result
        public init(reqid: String, result: Management.Result) { self.reqid = reqid; self.result = result }
    }

    /// A node announces itself once it is connected (on `Management.Node.API.notify`).
    ///
    /// `pid` is an argument beyond Zeek's: which process says hello, so that an agent can tell
    /// it apart from the supervisor's reports about earlier or later processes of the node,
    /// which arrive on another topic in no fixed order relative to the hello.
    public struct NodeHello: ManagementEvent {
        public static let eventName = "Management::Node::API::notify_node_hello"
        public var node: String
        public var pid: Int?
        public init(node: String, pid: Int? = nil) { self.node = node; self.pid = pid }
    }
}
