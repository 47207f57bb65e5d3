import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Logging
import ManagementAgent
import ManagementKafka
import ManagementMessaging
import ManagementTypes
import MetricsPush
import Prometheus
import ServiceLifecycle
import ServiceRuntime

/// One per host: turns its part of a deployed configuration into supervised nodes.
@main
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent-service",
        abstract: "Zeek cluster agent over Kafka: serves Management.Agent.API for one host."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var instanceOption: InstanceOption

    @Option(help: "Prometheus Pushgateway base URL to push metrics to, e.g. http://pushgateway:9091 (off unless given).")
    var pushgateway: String?

    @Option(help: "Seconds between metric pushes.")
    var pushInterval: Double = 10

    @Option(help: "Seconds between check-ins (notify_agent_hello), by which the controller tells the agent is alive.")
    var heartbeat: Double = 5

    @Option(help: "Seconds the agent waits for its supervisor and nodes before answering with a timeout (Zeek: 5).")
    var requestTimeout: Double = 5

    @Option(help: "Seconds between checks that what the supervisor runs matches what is deployed (nodes that vanished, messages missed).")
    var reconcileInterval: Double = 10

    @Option(help: "The address peers see this host at, reported in notify_agent_hello (default: the first non-loopback IPv4 address). Env: ZEEK_MGMT_ADVERTISED_HOST.")
    var advertisedHost: String? = ProcessInfo.processInfo.environment["ZEEK_MGMT_ADVERTISED_HOST"].flatMap { $0.isEmpty ? nil : $0 }

    func validate() throws {
        for (flag, value) in [("--push-interval", pushInterval), ("--heartbeat", heartbeat), ("--request-timeout", requestTimeout),
                              ("--reconcile-interval", reconcileInterval)] where Seconds.duration(value) == nil {
            throw ValidationError(Seconds.problem(flag))
        }
        if let advertisedHost, IPAddress(advertisedHost) == nil {
            throw ValidationError("--advertised-host \(advertisedHost) is not an IP address")
        }
    }

    func run() async throws {
        let settings = try common.resolve()
        let instance = instanceOption.name
        // A host's processes share its key: they believe it without the trust file listing it.
        try settings.trustingOwnKey(as: .host, name: instance)
        let logger = settings.bootstrapLogging(label: "agent-service")
        let agentSettings = Agent.Settings(
            // The intervals were validated.
            instance: instance, requestTimeout: Seconds.duration(requestTimeout)!, heartbeat: Seconds.duration(heartbeat)!,
            host: advertisedHost.flatMap(IPAddress.init) ?? IPAddress.firstExternalIPv4 ?? .loopback,
            reconcileInterval: Seconds.duration(reconcileInterval)!
        )
        let registry = PrometheusCollectorRegistry()
        let metrics = AgentMetrics(registry: registry)
        var kafka = settings.kafkaConfiguration(clientID: "agent-service.\(instance)")
        kafka.errorObserver = { _ in metrics.kafkaError() }
        let endpoint = EndpointConfiguration(
            name: instance,
            kafka: kafka,
            namespace: settings.namespace,
            participating: AgentService.participation(instance: instance),
            security: settings.security(.agent(instance: instance), onRejection: { metrics.messageRejected($0.reason.rawValue) })
        )
        var services: [any Service] = [
            EndpointService(role: "agent-service", configuration: endpoint, logger: logger,
                            serving: AgentService(settings: agentSettings, metrics: metrics, logger: logger)),
        ]
        if let pushgateway {
            let client = PushgatewayClient(group: PushgatewayGroup(baseURL: pushgateway, job: "zeek-agent", instance: instance))
            services.append(MetricsPushService(client: client, registry: registry, interval: Seconds.duration(pushInterval)!, logger: logger))
        }
        try await runUntilTerminated(services, logger: logger)
    }
}

extension IPAddress {
    /// The first IPv4 address of an interface that is up and not loopback.
    static var firstExternalIPv4: IPAddress? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(list) }
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            let flags = Int32(entry.pointee.ifa_flags)
            guard let address = entry.pointee.ifa_addr, address.pointee.sa_family == sa_family_t(AF_INET),
                  flags & Int32(IFF_UP) != 0, flags & Int32(IFF_LOOPBACK) == 0 else { continue }
            var buffer = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            let text: String? = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { ipv4 in
                var raw = ipv4.pointee.sin_addr
                guard inet_ntop(AF_INET, &raw, &buffer, socklen_t(buffer.count)) != nil else { return nil }
                return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
            }
            if let text, let ip = IPAddress(text) { return ip }
        }
        return nil
    }
}
