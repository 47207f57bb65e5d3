#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ManagementMessaging
import ManagementTypes
import ServiceLifecycle
import ZeekNodes

/// The supervisor of one host as a long-running service on a bus: answers `SupervisorControl`
/// and `Management::Supervisor::API` requests addressed to its instance, relays dispatches to
/// its Zeek nodes, and on `stop_request`, cancellation or graceful shutdown stops every node
/// before it returns.
public struct SupervisorService: BusService {
    public let instance: String
    public let settings: NodeSupervisor.Settings
    /// How long a request lives (see ``RequestResponder``): one older than this is skipped,
    /// since replaying stale commands after a restart would resurrect nodes nobody wants.
    public let requestTimeout: Duration
    public let clock: any ManagementClock
    public let logger: Logger

    public init(instance: String, settings: NodeSupervisor.Settings, requestTimeout: Duration = .seconds(30),
                clock: any ManagementClock = SystemClock(), logger: Logger) {
        self.instance = instance
        self.settings = settings
        self.requestTimeout = requestTimeout
        self.clock = clock
        self.logger = logger
    }

    /// The topics a supervisor reads: Zeek nodes cannot read Kafka, so their dispatches come
    /// to the host's relay, in the supervisor.
    static func consumedTopics(for program: NodeProgram) -> [Topic] {
        if case .zeek = program { [.supervisorAPI, .nodeAPI] } else { [.supervisorAPI] }
    }

    /// What the supervisor of `instance` reads and writes: its host's partition of each topic
    /// it reads (``consumedTopics(for:)``), in a group of its own. It acts only for its own
    /// host, so untargeted messages are not for it.
    public static func participation(instance: String, program: NodeProgram) -> BusParticipation {
        BusParticipation(
            consumes: consumedTopics(for: program).map { $0.partition(of: instance) },
            creates: [.supervisorAPI.notify],
            group: "supervisor.\(instance)",
            addressing: .targets([instance], orUntargeted: false)
        )
    }

    public func run(on bus: any MessageBus) async throws {
        let relay: ZeekNodeRelay? = if case .zeek = settings.launch.program { ZeekNodeRelay(instance: instance, endpoint: bus, logger: logger) } else { nil }
        let work = BackgroundWork()
        let supervisor = NodeSupervisor(settings: settings, bus: bus, work: work, relay: relay, clock: clock, logger: logger)
        let requests = RequestResponder.supervisorAPI(supervisor, bus: bus, lifetime: requestTimeout, logger: logger)
        // Whatever this host ran before died with the previous supervisor: the agent restores it.
        bus.enqueue(SupervisorNotification.SupervisorHello(instance: instance, id: UUID().uuidString), to: .supervisorAPI.notify)
        logger.info("announced supervisor start to the agent of \(instance)")
        await withDiscardingTaskGroup { group in
            group.addTask { await work.run() }
            await cancelWhenGracefulShutdown {
                for await message in bus.inbound {
                    if message.event == SupervisorControl.StopRequest.eventName {
                        logger.notice("stop requested by \(message.head.sender): stopping all nodes and exiting")
                        bus.handled(message)
                        break
                    }
                    if message.topic == .nodeAPI {
                        // Dispatches for this host's Zeek nodes go to the relay.
                        await self.relay(message, to: relay)
                        bus.handled(message)
                        continue
                    }
                    guard RequestResponder.isRequest(message) else { // our own responses
                        bus.handled(message)
                        continue
                    }
                    await requests.serve(message, in: work, clock: clock) { message, outcome, _ in
                        if let problem = outcome.problem(with: message) {
                            logger.log(level: outcome.isWarning ? .warning : .info, "\(problem)")
                        }
                    }
                }
            }
            // The nodes' watchers still run: each node's exit is reported and its files closed.
            logger.info("stopping all nodes")
            await supervisor.stopAll()
            await relay?.stop()
            group.cancelAll()
        }
    }

    /// Hands a dispatch for this host's Zeek nodes to the relay; one past its deadline is
    /// dropped, as a node would never have seen it.
    private func relay(_ message: InboundMessage, to relay: ZeekNodeRelay?) async {
        guard message.event == NodeAPI.DispatchRequest.eventName, let relay else { return }
        guard clock.now < message.deadline(lifetime: requestTimeout, clock: clock) else { return }
        do {
            await relay.dispatch(try message.decode(NodeAPI.DispatchRequest.self).event)
        } catch {
            logger.warning("malformed \(message.event) from \(message.head.sender): \(error)")
        }
    }
}

extension RequestResponder {
    /// The supervisor's requests. Each changes the supervisor's state in arrival order; what
    /// takes time (a process starting or stopping) completes in the background and answers
    /// when done, so one slow node never holds up requests for the others.
    static func supervisorAPI(_ supervisor: NodeSupervisor, bus: any MessageBus, lifetime: Duration, logger: Logger) -> RequestResponder {
        typealias Control = SupervisorControl
        var responder = RequestResponder(through: bus, lifetime: lifetime)
        responder.on(Control.CreateRequest.self, inOrder: { request, _ in
            let creation = await supervisor.create(request.node)
            return { Control.CreateResponse(reqid: request.reqid, result: await verdict(of: creation, "create \(request.node.name) refused", logger)) }
        })
        responder.on(Control.StatusRequest.self, inOrder: { request, _ in
            let status = await supervisor.status(request.node)
            return { Control.StatusResponse(reqid: request.reqid, result: status) }
        })
        responder.on(Control.RestartRequest.self, inOrder: { request, _ in
            let restart = await supervisor.restart(request.node)
            return { Control.RestartResponse(reqid: request.reqid, result: await done(restart)) }
        })
        responder.on(Control.DestroyRequest.self, inOrder: { request, _ in
            let destruction = await supervisor.destroy(request.node)
            return { Control.DestroyResponse(reqid: request.reqid, result: await done(destruction)) }
        })
        responder.on(SupervisorManagement.CheckRequest.self, inOrder: { request, _ in
            let check = await supervisor.check(request.node)
            let zeek = supervisor.zeek(for: request.node)
            return {
                SupervisorManagement.CheckResponse(reqid: request.reqid, result: await verdict(of: check, "node \(request.node.name) fails its check", logger),
                                                   zeekVersion: zeek?.version, clusterBackend: zeek?.backend)
            }
        })
        return responder
    }

    /// `""` once `work` did what was asked, else the reason it was refused, which is logged.
    private static func verdict(of work: Task<String, Never>, _ refusal: String, _ logger: Logger) async -> String {
        let result = await work.value
        if !result.isEmpty { logger.notice("\(refusal): \(result)") }
        return result
    }

    /// Whether the work exists (the node was known), once it is done.
    private static func done(_ work: Task<Void, Never>?) async -> Bool {
        guard let work else { return false }
        await work.value
        return true
    }
}
