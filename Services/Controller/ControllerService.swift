import Logging
import ManagementMessaging
import ManagementTypes
import ServiceLifecycle

/// The controller as a long-running service on a bus: follows its group's assignment
/// (active or standing by), sweeps lost agents, and sends each message where it belongs —
/// client requests to tasks of their own (answered when done), agent responses to the
/// requests waiting for them, check-ins and node changes to the controller's view.
///
/// Runs until cancelled or, inside a ServiceGroup, until graceful shutdown.
public struct ControllerService: BusService {
    public let settings: Controller.Settings
    public let clock: any ManagementClock
    public let logger: Logger

    public init(settings: Controller.Settings, clock: any ManagementClock = SystemClock(), logger: Logger) {
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    /// What a controller named `name` reads and writes: the client requests, in the
    /// `controller` group whose active member reads them; outside the group, the agents' side —
    /// their answers (on the replies topic, and from agents of contract 2.0 in the partition of
    /// this controller's name) and every agent's notifications.
    public static func participation(name: String) -> BusParticipation {
        BusParticipation(
            consumes: [Topic.controllerAPI.whole, Topic.legacyControllerAPI.whole],
            follows: [Topic.agentAPI.replies.whole, Topic.agentAPI.partition(of: name), Topic.agentAPI.notify.whole],
            creates: [.controllerAPI.notify, .legacyControllerAPI.notify, .legacyAgentAPI, .legacyAgentAPI.notify, .controllerState],
            group: "controller", mayStandBy: true,
            addressing: .targets([name], orUntargeted: true)
        )
    }

    public func run(on bus: any MessageBus) async throws {
        let work = BackgroundWork()
        let controller = Controller(settings: settings, bus: bus, clock: clock, work: work, logger: logger)
        let requests = RequestResponder.controllerAPI(controller, logger: logger)
        let legacyRequests = RequestResponder.legacyControllerAPI(controller)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await work.run() }
                group.addTask { await followAssignment(of: bus, controller: controller) }
                group.addTask { await lookAfterAgents(of: controller) }
                for await message in bus.inbound {
                    // Agents' answers go to the requests that wait for them, also during a
                    // rebalance of the group (a standby joining), when the active controller is
                    // briefly not active: its requests in flight must still get their agents'
                    // answers (issue 27's blip). Not once it stood by. An answer nobody waits for
                    // is dropped by the requester.
                    if message.topic == .agentAPI || message.topic == Controller.answers {
                        if await controller.takesAgentAnswers { controller.requester.deliver(message) }
                        bus.handled(message)
                        continue
                    }
                    // Every controller reads the agents' check-ins, outside the group: a standby
                    // has no agents to look after, it only keeps their latest check-ins.
                    if message.topic == .agentAPI.notify, await !controller.isActive {
                        if message.event == AgentAPI.NotifyAgentHello.eventName, let hello = try? message.decode(AgentAPI.NotifyAgentHello.self) {
                            await controller.heard(hello.event, publishedAt: hello.timestamp)
                        }
                        bus.handled(message)
                        continue
                    }
                    await controller.prepare()
                    switch message.topic {
                    case .controllerAPI where RequestResponder.isRequest(message), .legacyControllerAPI where RequestResponder.isRequest(message):
                        let responder = message.topic == .controllerAPI ? requests : legacyRequests
                        await responder.serve(message, in: work, clock: clock) { message, outcome, _ in
                            if let problem = outcome.problem(with: message) {
                                logger.log(level: outcome.isWarning ? .warning : .info, "\(problem)")
                            }
                        }
                        continue
                    case .agentAPI.notify:
                        await note(message, controller: controller)
                    default:
                        break
                    }
                    bus.handled(message)
                }
                group.cancelAll()
            }
        }
        await controller.standBy()
    }

    /// Goes active when assigned the controller topics and stands by when they went to another
    /// controller; a revocation alone (every rebalance starts with one) changes nothing yet,
    /// so requests in flight survive a standby joining.
    private func followAssignment(of bus: any MessageBus, controller: Controller) async {
        enum Role {
            case joining, standby, active
            /// Revoked while active: a rebalance is under way (a controller joining or leaving);
            /// its outcome decides between staying active and standing by.
            case rebalancing
        }
        var role = Role.joining
        for await assigned in bus.assignmentChanges {
            switch (role, assigned) {
            case (.joining, false):
                role = .standby
                logger.info("joined the controller group; active once assigned its topics (at once unless another controller is active)")
            case (.joining, true), (.standby, true):
                role = .active
                logger.info("assigned the controller topics: this controller is active")
                await controller.prepare()
            case (.active, false):
                role = .rebalancing
                logger.debug("controller topics revoked: the group is rebalancing")
            case (.rebalancing, true):
                role = .active
                logger.info("kept the controller topics through a rebalance of the group")
            case (.rebalancing, false):
                role = .standby
                await controller.standBy()
            case (.standby, false), (.active, true):
                break
            }
            await controller.setActive(role == .active)
        }
    }

    /// Every second, marks agents silent for the agent timeout as lost and brings in line those
    /// not known to run the deployed configuration (``Controller/lookAfterAgentsIfActive()``).
    private func lookAfterAgents(of controller: Controller) async {
        await clock.repeatEvery(.seconds(1)) { await controller.lookAfterAgentsIfActive() }
    }

    private func note(_ message: InboundMessage, controller: Controller) async {
        switch message.event {
        case AgentAPI.NotifyAgentHello.eventName:
            do {
                let hello = try message.decode(AgentAPI.NotifyAgentHello.self)
                await controller.heard(hello.event, publishedAt: hello.timestamp)
            } catch {
                logger.warning("ignoring malformed check-in from \(message.head.sender): \(error)")
            }
        case AgentAPI.NotifyChange.eventName:
            if let change = try? message.decode(AgentAPI.NotifyChange.self).event {
                await controller.nodeChanged(change.n.name, to: change.new)
            }
        case AgentAPI.NotifyError.eventName:
            if let notice = try? message.decode(AgentAPI.NotifyError.self).event {
                logger.warning("agent \(notice.instance) reports: \(notice.msg)", metadata: notice.node.isEmpty ? [:] : ["node": "\(notice.node)"])
            }
        default:
            logger.trace("\(message.event) from \(message.head.sender)")
        }
    }
}

extension RequestResponder {
    /// The controller's `Management::Controller::API`, answering clients.
    static func controllerAPI(_ controller: Controller, logger: Logger) -> RequestResponder {
        var responder = RequestResponder(through: controller.bus, lifetime: controller.settings.requestTimeout, expired: .answered)
        responder.on(ControllerAPI.GetInstancesRequest.self) { request, _ in
            .init(reqid: request.reqid, result: await controller.instances(reqid: request.reqid))
        }
        responder.onceRestored(ControllerAPI.StageConfigurationRequest.self, by: controller) { request, context in
            .init(reqid: request.reqid, results: await controller.stage(request.config, signature: context.authentication?.record, reqid: request.reqid))
        }
        responder.on(ControllerAPI.GetEnrollmentsRequest.self) { request, _ in
            .init(reqid: request.reqid, result: await controller.enrollments(reqid: request.reqid))
        }
        responder.onceRestored(ControllerAPI.EnrollRequest.self, by: controller) { request, _ in
            .init(reqid: request.reqid, result: await controller.enroll(request.instance, key: request.key, reqid: request.reqid))
        }
        responder.onceRestored(ControllerAPI.GetConfigurationRequest.self, by: controller) { request, _ in
            .init(reqid: request.reqid, result: await controller.configuration(deployed: request.deployed, reqid: request.reqid))
        }
        responder.onceRestored(ControllerAPI.DeployRequest.self, by: controller) { request, context in
            .init(reqid: request.reqid, results: await controller.deploy(reqid: request.reqid, deadline: context.deadline))
        }
        responder.onceRestored(ControllerAPI.GetNodesRequest.self, by: controller) { request, context in
            .init(reqid: request.reqid, results: await controller.nodes(reqid: request.reqid, deadline: context.deadline))
        }
        responder.onceRestored(ControllerAPI.GetIDValueRequest.self, by: controller) { request, context in
            .init(reqid: request.reqid, results: await controller.idValue(request.id, nodes: request.nodes, reqid: request.reqid, deadline: context.deadline))
        }
        responder.onceRestored(ControllerAPI.RestartRequest.self, by: controller) { request, context in
            .init(reqid: request.reqid, results: await controller.restart(request.nodes, reqid: request.reqid, deadline: context.deadline))
        }
        responder.on(ControllerAPI.TestTimeoutRequest.self) { request, context in
            guard request.with_state else {
                logger.info("test_timeout \(request.reqid) from \(context.requester) without state: not answering, as Zeek's controller does")
                return nil
            }
            guard (try? await controller.clock.sleep(until: context.deadline)) != nil else { return nil }
            return .init(reqid: request.reqid, result: Management.Result(reqid: request.reqid, success: false, error: RequestFailure.timedOut.description))
        }
        return responder
    }
}

extension RequestResponder {
    /// Serves `Request` once the controller's persisted configurations are restored; until the
    /// request's deadline, if they cannot be read, it is answered with why.
    mutating func onceRestored<Request: ManagementRequest>(
        _ type: Request.Type, by controller: Controller, _ handle: @escaping @Sendable (Request, Context) async -> Request.Response?
    ) {
        on(type) { request, context in
            if let problem = await controller.restorationFailure(until: context.deadline) {
                return Request.Response(reqid: request.reqid, failure: problem, instance: nil)
            }
            return await handle(request, context)
        }
    }
}
