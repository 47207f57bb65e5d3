#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementMessaging
import ManagementTypes
import ServiceLifecycle

/// The agent as a long-running service on a bus: checks in every heartbeat, and sends each
/// message where it belongs — controller requests to tasks of their own (answered when done),
/// supervisor responses to the requests waiting for them, supervisor and node reports to the
/// agent's view of its nodes.
///
/// Runs until cancelled or, inside a ServiceGroup, until graceful shutdown.
public struct AgentService: BusService {
    public let settings: Agent.Settings
    public let metrics: AgentMetrics
    public let clock: any ManagementClock
    public let logger: Logger

    public init(settings: Agent.Settings, metrics: AgentMetrics, clock: any ManagementClock = SystemClock(), logger: Logger) {
        self.settings = settings
        self.metrics = metrics
        self.clock = clock
        self.logger = logger
    }

    /// What the agent of `instance` reads and writes: this host's partition of each topic it
    /// reads, so what an agent reads does not grow with the fleet; its group is its own.
    public static func participation(instance: String) -> BusParticipation {
        BusParticipation(
            consumes: [Topic.agentAPI, .legacyAgentAPI, .supervisorAPI, .supervisorAPI.notify, .nodeAPI, .nodeAPI.notify].map { $0.partition(of: instance) },
            creates: [.agentAPI.notify, .agentAPI.replies, .legacyAgentAPI.notify],
            group: "agent.\(instance)",
            addressing: .targets([instance], orUntargeted: true)
        )
    }

    public func run(on bus: any MessageBus) async throws {
        let agent = Agent(settings: settings, bus: bus, clock: clock, metrics: metrics, logger: logger)
        let requests = RequestResponder.agentAPI(agent, metrics: metrics, logger: logger)
        let legacyRequests = RequestResponder.legacyAgentAPI(agent)
        let work = BackgroundWork()
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await work.run() }
                group.addTask { await checkIn(on: bus) }
                group.addTask { await reconcilePeriodically(agent) }
                for await message in bus.inbound {
                    switch message.topic {
                    case .agentAPI where RequestResponder.isRequest(message), .legacyAgentAPI where RequestResponder.isRequest(message):
                        let responder = message.topic == .agentAPI ? requests : legacyRequests
                        await responder.serve(message, in: work, clock: clock) { message, outcome, duration in
                            if let problem = outcome.problem(with: message) {
                                if outcome.isWarning { await agent.notifyError(problem) } else { logger.info("\(problem)") }
                            }
                            metrics.requestHandled(event: message.event, outcome: outcome.label, duration: duration)
                        }
                        continue
                    case .supervisorAPI:
                        agent.requester.deliver(message)
                    case .supervisorAPI.notify where message.head.sender == settings.instance:
                        if let status = try? message.decode(SupervisorNotification.NodeStatus.self) {
                            await agent.nodeStarted(status.event.node, pid: status.event.pid)
                        } else if let exit = try? message.decode(SupervisorNotification.NodeExit.self) {
                            await agent.nodeExited(exit.event.node, pid: exit.event.pid, outputs: exit.event.outputs, exit: exit.event.exit, reason: exit.event.reason)
                            metrics.nodeExited()
                        } else if message.event == SupervisorNotification.SupervisorHello.eventName {
                            await agent.supervisorStarted()
                            work.submit { await agent.reconcile(because: "the supervisor started") }
                        }
                    case .nodeAPI:
                        if let response = try? message.decode(NodeAPI.DispatchResponse.self) {
                            await agent.dispatchAnswered(response.event.reqid, result: response.event.result)
                        }
                    case .nodeAPI.notify:
                        if let hello = try? message.decode(NodeAPI.NodeHello.self) {
                            await agent.nodeSaidHello(hello.event.node, pid: hello.event.pid)
                        }
                    default:
                        break
                    }
                    bus.handled(message)
                }
                group.cancelAll()
            }
        }
    }

    /// `notify_agent_hello` (and the legacy one) at start and every heartbeat, with this
    /// process's check-in id: a new id tells the controller the agent restarted.
    private func checkIn(on bus: any MessageBus) async {
        let id = UUID().uuidString
        let hello = {
            bus.enqueue(AgentAPI.NotifyAgentHello(instance: settings.instance, id: id, host: settings.host), to: .agentAPI.notify)
            bus.enqueue(ClusterAgentAPI.NotifyAgentHello(instance: settings.instance, host: settings.host), to: .legacyAgentAPI.notify)
        }
        hello()
        await clock.repeatEvery(settings.heartbeat, hello)
    }

    /// Every reconcile interval, makes what runs match what is deployed (nodes that vanished
    /// without a report, messages that were missed).
    private func reconcilePeriodically(_ agent: Agent) async {
        await clock.repeatEvery(settings.reconcileInterval) { await agent.reconcile(because: "periodic check") }
    }
}

extension RequestResponder {
    /// The agent's `Management::Agent::API`, answering the controller.
    static func agentAPI(_ agent: Agent, metrics: AgentMetrics, logger: Logger) -> RequestResponder {
        let instance = agent.settings.instance
        var responder = RequestResponder(through: agent.bus, lifetime: agent.settings.requestTimeout, instance: instance)
        // A configuration sent to all agents is answered by those it names: the others are
        // not part of it (the controller sends them to standby) and nobody waits for them.
        responder.on(AgentAPI.DeployRequest.self) { request, context in
            guard !context.isBroadcast || request.config.instances.contains(where: { $0.name == instance }) else { return nil }
            let started = agent.clock.now
            let results = await agent.deploy(request.config, reqid: request.reqid, force: request.force)
            metrics.deployed(duration: agent.clock.now - started)
            return .init(reqid: request.reqid, results: results)
        }
        responder.on(AgentAPI.DeployCheckedRequest.self) { request, _ in
            let started = agent.clock.now
            let results = await agent.deployChecked(request.config_id, reqid: request.reqid, force: request.force)
            metrics.deployed(duration: agent.clock.now - started)
            return .init(reqid: request.reqid, results: results)
        }
        responder.on(AgentAPI.CheckRequest.self) { request, context in
            guard !context.isBroadcast || request.config.instances.contains(where: { $0.name == instance }) else { return nil }
            return .init(reqid: request.reqid, results: await agent.check(request.config, reqid: request.reqid))
        }
        responder.on(AgentAPI.GetNodesRequest.self) { request, _ in
            .init(reqid: request.reqid, result: await agent.nodeStatuses(reqid: request.reqid))
        }
        responder.on(AgentAPI.NodeDispatchRequest.self) { request, context in
            .init(reqid: request.reqid, results: await agent.dispatch(request.action, to: request.nodes, reqid: request.reqid, deadline: context.deadline))
        }
        responder.on(AgentAPI.RestartRequest.self) { request, context in
            .init(reqid: request.reqid, results: await agent.restart(request.nodes, reqid: request.reqid, deadline: context.deadline))
        }
        responder.on(AgentAPI.AgentWelcomeRequest.self) { request, context in
            logger.info("welcomed by \(context.requester)")
            return .init(reqid: request.reqid, result: Management.Result(reqid: request.reqid, instance: instance))
        }
        responder.on(AgentAPI.AgentStandbyRequest.self) { request, context in
            logger.notice("put on standby by \(context.requester): stopping all nodes")
            _ = await agent.deploy(Management.Configuration(), reqid: "", force: true)
            return .init(reqid: request.reqid, result: Management.Result(reqid: request.reqid, instance: instance))
        }
        return responder
    }
}
