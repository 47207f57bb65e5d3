#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ManagementMessaging
import ManagementTypes
import Synchronization

/// A host's supervisor and its nodes, played on an ``InMemoryBus`` by the public contract
/// alone, so the controller and the agent can be tested in-process against a host whose
/// behaviour a test sets: nodes whose check fails, a supervisor that does not answer, a node
/// that crashes.
///
/// Like the real supervisor it answers `SupervisorControl` and `check_request`s addressed to
/// its instance, reports each start (`Supervisor::node_status`) and exit (`notify_node_exit`);
/// its nodes say hello and answer `get_id_value` for `Cluster::node` with their name.
public final class SimulatedHost: BusService {
    private struct State {
        var nodes: [String: Int] = [:]
        var configs: [String: Supervisor.NodeConfig] = [:]
        var id = UUID().uuidString
        var nextPID = 1000
        var failingChecks: [String: String] = [:]
        /// Nodes whose every process ends at once, with this on stderr.
        var failingStarts: [String: String] = [:]
        /// Nodes the supervisor will not create, with its reason.
        var refusedCreates: [String: String] = [:]
        var silent = false
        /// Node names in the order the supervisor was asked to create them.
        var created: [String] = []
    }

    public let instance: String
    private let state = Mutex(State())

    public init(instance: String) {
        self.instance = instance
    }

    /// The topics and addressing of the endpoint it needs.
    public static let topics: [Topic] = [.supervisorAPI, .nodeAPI]

    /// Connects its endpoint on `bus`.
    public func connect(to bus: InMemoryBus) -> InMemoryBus.Endpoint {
        bus.connect("\(instance)-host", consumes: Self.topics, membership: .fromEnd, addressing: .targets([instance], orUntargeted: false),
                    security: TestIdentities.shared.security(.host(instance: instance), key: TestIdentities.shared.host(instance)))
    }

    /// From now on `node` fails its check with `error` (Zeek's words).
    public func failCheck(of node: String, with error: String) {
        state.withLock { $0.failingChecks[node] = error }
    }

    /// From now on every process of `node` ends right after it starts, before its hello, with
    /// `stderr` as its output (an option it cannot read, an interface that is missing).
    public func failStart(of node: String, with stderr: String) {
        state.withLock { $0.failingStarts[node] = stderr }
    }

    /// From now on the supervisor refuses to create `node`, answering `reason` (a program it
    /// cannot run, a directory it cannot make): no process starts, none ends. Nil: it creates
    /// the node again.
    public func refuseCreate(of node: String, with reason: String?) {
        state.withLock { $0.refusedCreates[node] = reason }
    }

    /// From now on the supervisor does not answer (`true`), or answers again.
    public func setSilent(_ silent: Bool) {
        state.withLock { $0.silent = silent }
    }

    /// The pid of every node running now.
    public var pids: [String: Int] { state.withLock { $0.nodes } }

    /// The nodes created so far, in the order the agent asked for them.
    public var creationOrder: [String] { state.withLock { $0.created } }

    /// Starts the supervisor anew, as after `kill -9`: its nodes died with it, unreported, and it
    /// announces itself.
    public func restartSupervisor(on bus: any MessageBus) {
        let id = state.withLock { state in
            state.nodes = [:]
            state.configs = [:]
            state.id = UUID().uuidString
            return state.id
        }
        bus.enqueue(SupervisorNotification.SupervisorHello(instance: instance, id: id), to: .supervisorAPI.notify, target: nil, sender: instance)
    }

    /// Ends `node`'s process without a report, as when a report is lost.
    public func vanish(_ node: String) {
        state.withLock { state in
            state.nodes[node] = nil
            state.configs[node] = nil
        }
    }

    /// Ends `node`'s process as a crash would, reported by the supervisor.
    public func crash(_ node: String, on bus: any MessageBus) {
        guard let pid = state.withLock({ state in
            state.configs[node] = nil
            return state.nodes.removeValue(forKey: node)
        }) else { return }
        bus.enqueue(SupervisorNotification.NodeExit(node: node, outputs: Management.NodeOutputs(stdout: "", stderr: "segfault"), exit: "killed by signal 11", pid: pid),
                    to: .supervisorAPI.notify, target: nil, sender: instance)
    }

    public func run(on bus: any MessageBus) async throws {
        for await message in bus.inbound {
            guard !state.withLock({ $0.silent }) else { continue }
            switch message.event {
            case SupervisorControl.CreateRequest.eventName:
                guard let request = try? message.decode(SupervisorControl.CreateRequest.self).event else { continue }
                let name = request.node.name
                // The new process's pid, or why the supervisor refuses to start one.
                let created: (pid: Int?, refusal: String) = state.withLock { state in
                    state.created.append(name)
                    if let reason = state.refusedCreates[name] { return (nil, reason) }
                    guard state.nodes[name] == nil else { return (nil, "node with name '\(name)' already exists") }
                    state.nextPID += 1
                    state.nodes[name] = state.nextPID
                    state.configs[name] = request.node
                    return (state.nextPID, "")
                }
                guard let pid = created.pid else {
                    answer(SupervisorControl.CreateResponse(reqid: request.reqid, result: created.refusal), to: message, on: bus)
                    continue
                }
                started(name, pid: pid, on: bus)
                answer(SupervisorControl.CreateResponse(reqid: request.reqid, result: ""), to: message, on: bus)
            case SupervisorManagement.CheckRequest.eventName:
                guard let request = try? message.decode(SupervisorManagement.CheckRequest.self).event else { continue }
                let failure = state.withLock { $0.failingChecks[request.node.name] } ?? ""
                answer(SupervisorManagement.CheckResponse(reqid: request.reqid, result: failure), to: message, on: bus)
            case SupervisorControl.DestroyRequest.eventName:
                guard let request = try? message.decode(SupervisorControl.DestroyRequest.self).event else { continue }
                let known = state.withLock { state in
                    if request.node.isEmpty { state.nodes = [:]; state.configs = [:]; return true }
                    state.configs[request.node] = nil
                    return state.nodes.removeValue(forKey: request.node) != nil
                }
                answer(SupervisorControl.DestroyResponse(reqid: request.reqid, result: known), to: message, on: bus)
            case SupervisorControl.StatusRequest.eventName:
                guard let request = try? message.decode(SupervisorControl.StatusRequest.self).event else { continue }
                let status = state.withLock { state in
                    Supervisor.Status(nodes: Dictionary(uniqueKeysWithValues: state.nodes.compactMap { name, pid in
                        guard request.node.isEmpty || request.node == name, let config = state.configs[name] else { return nil }
                        return (name, Supervisor.NodeStatus(node: config, pid: pid))
                    }))
                }
                answer(SupervisorControl.StatusResponse(reqid: request.reqid, result: status), to: message, on: bus)
            case SupervisorControl.RestartRequest.eventName:
                guard let request = try? message.decode(SupervisorControl.RestartRequest.self).event else { continue }
                let pid: Int? = state.withLock { state in
                    guard state.nodes[request.node] != nil else { return nil }
                    state.nextPID += 1
                    state.nodes[request.node] = state.nextPID
                    return state.nextPID
                }
                if let pid { started(request.node, pid: pid, on: bus) }
                answer(SupervisorControl.RestartResponse(reqid: request.reqid, result: pid != nil), to: message, on: bus)
            case NodeAPI.DispatchRequest.eventName:
                guard let request = try? message.decode(NodeAPI.DispatchRequest.self).event else { continue }
                let running = state.withLock { $0.nodes.keys.sorted() }
                for node in running where request.nodes.isEmpty || request.nodes.contains(node) {
                    let result = request.action == ["get_id_value", "Cluster::node"]
                        ? Management.Result(reqid: request.reqid, data: .string(node), node: node)
                        : Management.Result(reqid: request.reqid, success: false, error: "unknown id", node: node)
                    bus.enqueue(NodeAPI.DispatchResponse(reqid: request.reqid, result: result), to: .nodeAPI, target: instance, sender: node)
                }
            default:
                continue
            }
        }
    }

    private func started(_ node: String, pid: Int, on bus: any MessageBus) {
        bus.enqueue(SupervisorNotification.NodeStatus(node: node, pid: pid), to: .supervisorAPI.notify, target: nil, sender: instance)
        if let stderr = state.withLock({ $0.failingStarts[node] }) {
            // The supervisor keeps the node and would start it again after its back-off.
            bus.enqueue(SupervisorNotification.NodeExit(node: node, outputs: Management.NodeOutputs(stdout: "", stderr: stderr), exit: "exited with status 1", pid: pid),
                        to: .supervisorAPI.notify, target: nil, sender: instance)
            return
        }
        bus.enqueue(NodeAPI.NodeHello(node: node, pid: pid), to: .nodeAPI.notify, target: instance, sender: node)
    }

    private func answer<Response: ManagementEvent>(_ response: Response, to request: InboundMessage, on bus: any MessageBus) {
        bus.enqueue(response, to: .supervisorAPI, target: request.head.sender, sender: instance)
    }
}
